"""audiogate: release gates for audio models, scored like the published leaderboards."""

__version__ = "0.1.0"

# numpy reads its kernel settings once, when it loads: pin them before anything imports it
# (see engines/cpu_kernels.py: they change the embedded model's transcripts).
from audiogate.engines import cpu_kernels as _cpu_kernels

_cpu_kernels.pin()
