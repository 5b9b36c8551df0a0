"""The errors nurture raises on purpose.

Every error a marketer or operator can cause carries enough context (a file, a row, a field) to be
fixed without reading a traceback; the CLI prints ``str(error)`` and exits non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class NurtureError(Exception):
    """Base class: a problem nurture explains to its user instead of crashing."""


class SettingsError(NurtureError):
    """``nurture.toml`` or a ``NURTURE_*`` variable is wrong."""


class WorkspaceError(NurtureError):
    """No workspace where one was expected, or it cannot be created."""


class LeadNotFound(NurtureError):
    """A command named a lead that is not in the database."""

    def __init__(self, email: str) -> None:
        super().__init__(f"no lead with e-mail {email!r}")
        self.email = email


@dataclass(frozen=True)
class Location:
    """Where in a file something is: 1-based line and column, as editors count."""

    path: Path | str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.column or 1}"
        return str(self.path)
