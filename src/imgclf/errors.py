"""The one family of errors a user can cause and fix.

Stages catch :class:`UserError` at the top, print its message on one line and exit
non-zero; anything else is a bug and may show a traceback.
"""


class UserError(Exception):
    """A mistake in the user's input: params, data, paths or command-line arguments.

    The message names the file, key or value, says what was expected and what to do.
    """


class ConfigError(UserError):
    """A key or value in params.yaml is unknown, of the wrong type or out of range."""


class DataError(UserError):
    """The input data is missing, unreadable or fails validation."""


class StaleArtifactError(UserError):
    """An artifact written by an earlier stage is missing or does not match its schema."""
