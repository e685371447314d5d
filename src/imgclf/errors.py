"""The one family of errors a user can cause and fix.

Stages catch :class:`UserError` at the top, print its message on one line and exit
non-zero; anything else is a bug and may show a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input: params, data, paths or command-line arguments.

    The message names the file, key or value, says what was expected and what to do.
    """


class ConfigError(UserError):
    """A key or value in the params file is unknown, of the wrong type or out of range."""


class ParamError(ConfigError):
    """A params value that library code rejects (``model.name = 'x': ...``).

    Library code knows the key, not which file it came from: the message names
    ``params.yaml`` until the stage, which read ``--params``, names the file it actually
    used with :meth:`in_file`.
    """

    def __init__(self, detail: str, params_file: str = "params.yaml") -> None:
        super().__init__(f"{params_file}: {detail}")
        self.detail = detail

    def in_file(self, params_file: str) -> ParamError:
        """The same error, naming ``params_file``."""
        return ParamError(self.detail, params_file)


class DataError(UserError):
    """The input data is missing, unreadable or fails validation."""


class StaleArtifactError(UserError):
    """An artifact written by an earlier stage is missing or does not match its schema."""
