"""`python -m audiogate.cli ...`: the same as the `audiogate` command."""

import sys

from audiogate.cli import main

sys.exit(main())
