"""The small error vocabulary shared by the whole package.

An exception here carries what the caller needs to answer: an HTTP status and a message for
protocol errors, an exit code and a one-line reason for command-line failures. Expected outcomes
such as a policy denial are values (see ``dockward.policy.decision``), not exceptions.
"""

from __future__ import annotations


class DockwardError(Exception):
    """Base class: ``str(err)`` is a one-line reason fit for a user."""


class UsageError(DockwardError):
    """Bad input on the command line or in a file: exit code 2."""

    exit_code = 2


class ConfigError(UsageError):
    """An invalid configuration file; the message names the key and the reason."""


class ProtocolError(DockwardError):
    """A request we refuse to forward; ``status`` is what the client is answered."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
