"""Errors that tfav reports to users as one clear line.

Every error names the file (or folder) and the problem, so that a command
line tool can print ``error: <message>`` and exit without a traceback.
"""


class TfavError(Exception):
    """Base class of the errors a user can act on."""


class AudioError(TfavError):
    """An audio file that cannot be used: corrupt, empty, silent, NaN/Inf."""


class ImageError(TfavError):
    """An image file that cannot be decoded."""


class DataError(TfavError):
    """A dataset folder that is missing, empty, or inconsistent."""


class ConfigError(TfavError):
    """An unknown task, instrument, option value or incompatible run."""
