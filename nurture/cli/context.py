"""What every command shares: the workspace, its settings, the clock and the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import click

from nurture.clock import Clock
from nurture.workspace import Workspace, find_workspace

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    # why: YAML and the condition language load only for commands that read the program
    from nurture.definitions import Program
    from nurture.lifecycle import Lifecycle


@dataclass
class App:
    """Built once per command; nothing connects until a command asks for it."""

    workspace_option: str | None
    clock: Clock
    _engine: Engine | None = field(default=None, init=False)

    @cached_property
    def workspace(self) -> Workspace:
        return find_workspace(self.workspace_option)

    @property
    def engine(self) -> Engine:
        """The database engine, without any check of its schema (``db upgrade`` uses this)."""
        if self._engine is None:
            # why: the database driver loads only for commands that open the database
            from nurture.store.engine import create_store_engine

            self._engine = create_store_engine(self.workspace.database_url)
        return self._engine

    @cached_property
    def store(self) -> Engine:
        """The database engine, once its schema is known to be the one this version expects."""
        # why: Alembic loads only for commands that check the schema
        from nurture.store.readiness import ensure_current

        ensure_current(self.engine)
        return self.engine

    @cached_property
    def program(self) -> Program:
        """The workspace's definitions, fully checked (InvalidProgram lists every error)."""
        # why: YAML and the condition language load only for commands that read the program
        from nurture.definitions import load_program

        return load_program(self.workspace)

    @cached_property
    def lifecycle(self) -> Lifecycle:
        """What follows a change to a lead under the program; its settings, key and templates are
        read here, once per command."""
        # why: scoring and sales load only for commands that change leads
        from nurture.lifecycle import Lifecycle

        return Lifecycle.of(self.program, self.workspace.settings)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


pass_app = click.make_pass_decorator(App)
