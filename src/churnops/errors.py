"""Errors a user can cause and fix. The CLI prints them without a traceback and exits non-zero."""


class ChurnopsError(Exception):
    """Base class: the message says what is wrong and what to do."""


class ConfigError(ChurnopsError):
    """A settings value or a dataset contract is invalid."""


class DataError(ChurnopsError):
    """An input file cannot be read or breaks the dataset contract."""


class SourceError(ChurnopsError):
    """A data source (path or URL) cannot be fetched or fails its checksum."""


class RegistryError(ChurnopsError):
    """A registry operation cannot be done (unknown version, no previous champion, ...)."""


class TrackingServerError(ChurnopsError):
    """The MLflow tracking server cannot be reached."""


class StoreError(ChurnopsError):
    """The prediction store database cannot be read or reached right now."""


class SearchError(ChurnopsError):
    """The hyper-parameter search could not finish: a worker failed, or a trial was left unfinished."""
