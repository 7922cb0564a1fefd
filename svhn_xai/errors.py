"""Errors that carry a message meant for a person: the CLI and the app show them as one line."""


class SvhnXaiError(Exception):
    """Base class: anything raised as this is the user's input or environment, not a bug."""


class DataError(SvhnXaiError):
    """A dataset folder, annotation file or image is missing, corrupt or of an unknown layout."""


class DownloadError(SvhnXaiError):
    """A download could not start, broke off, or produced a file that failed its checks."""


class CheckpointError(SvhnXaiError):
    """A checkpoint is missing, truncated, foreign, or does not fit the model asked for."""


class ParameterError(SvhnXaiError, ValueError):
    """An option or explainer parameter is unknown or out of its range."""
