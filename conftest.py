"""Root conftest: the audiogate plugin and its fixtures, for benchmarks/ and tests/."""

pytest_plugins = ["audiogate.plugin", "fixtures.gate"]
