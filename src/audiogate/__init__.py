"""audiogate: release gates for audio models, scored like the published leaderboards."""

__version__ = "0.1.0"
