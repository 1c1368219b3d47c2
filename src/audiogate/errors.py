"""Error types. Every message names the file, line or key that is wrong."""


class AudiogateError(Exception):
    """Base class for errors a user can act on."""


class DataError(AudiogateError):
    """A dataset file or line is unusable (names the file and line)."""


class DatasetMissing(AudiogateError):
    """A dataset is not where the registry expects it (says where it looked and how to get it)."""


class AudioError(DataError):
    """An audio file cannot be read or decoded."""


class ThresholdsError(AudiogateError):
    """thresholds.yaml is malformed or names an unknown model, dataset or metric."""


class EngineError(AudiogateError):
    """The inference engine failed for a request (server message included)."""


class RegistryError(AudiogateError):
    """A registry entry (dataset, model, prompt) is unknown or malformed."""


class UsageError(AudiogateError):
    """The command line or the servers it names do not fit together (a usage error)."""
