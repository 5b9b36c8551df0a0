"""The workspace: one folder holding one nurture program, its settings and (by default) its data."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from nurture.errors import WorkspaceError
from nurture.settings import SETTINGS_FILE, Settings, load_settings

WORKSPACE_ENV = "NURTURE_WORKSPACE"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def campaigns_dir(self) -> Path:
        return self.root / "campaigns"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def jobs_file(self) -> Path:
        return self.root / "scheduler" / "jobs.yaml"

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.root)

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path resolved against the workspace."""
        return resolve_sqlite_url(self.settings.database_url, self.root)

    def path(self, relative: str) -> Path:
        """A path from the settings, relative ones taken from the workspace root."""
        candidate = Path(relative).expanduser()
        return candidate if candidate.is_absolute() else self.root / candidate


def resolve_sqlite_url(url: str, root: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str((root / url[len(prefix) :]).resolve())
    return url


def is_workspace(path: Path) -> bool:
    return (path / SETTINGS_FILE).is_file() or (path / "campaigns").is_dir()


def find_workspace(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Workspace:
    """``--workspace DIR``, else ``NURTURE_WORKSPACE``, else the current folder."""
    given = explicit or os.environ.get(WORKSPACE_ENV)
    if given:
        root = Path(given).expanduser().resolve()
        if not root.is_dir():
            raise WorkspaceError(f"workspace {root} does not exist (run `nurture init {given}`)")
        return Workspace(root)
    here = (cwd or Path.cwd()).resolve()
    if not is_workspace(here):
        raise WorkspaceError(
            f"{here} is not a nurture workspace (no {SETTINGS_FILE} or campaigns/ folder); "
            "run `nurture init DIR`, or pass --workspace DIR or set NURTURE_WORKSPACE"
        )
    return Workspace(here)
