"""The running program, and reloading it when definitions or templates change.

A reload happens on SIGHUP and when the ``reload`` job sees a file under ``campaigns/`` or
``templates/`` with a new modification time or size. The new program is checked in full first
(exactly what ``nurture check`` checks): an invalid edit is refused, every problem is logged as
``file:line:col: message`` and the running program keeps going. A refused state is reported once,
not on every poll; the next edit (or SIGHUP) tries again.

Each program version is recorded in the database once per cluster (behind a cluster lock), which
also makes leads inside edited campaigns due, so the engine places them by step id.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from nurture.clock import clock_from_env
from nurture.daemon.locks import cluster_lock
from nurture.daemon.logs import log_event
from nurture.definitions import InvalidProgram, Program, load_program
from nurture.engine.tick import CampaignEngine
from nurture.errors import NurtureError
from nurture.guards.audit import daemon_actor
from nurture.guards.held import approved_since, guard_program, record_holds
from nurture.guards.plan import CampaignPlan
from nurture.lifecycle import Lifecycle, SalesSetup
from nurture.workspace import Workspace

Fingerprint = tuple[tuple[str, int, int], ...]

_log = logging.getLogger("nurture.daemon.reload")


@dataclass(frozen=True)
class ProgramVersion:
    """One loaded program, what follows a change to a lead under it, and the campaign engine."""

    program: Program
    lifecycle: Lifecycle
    engine: CampaignEngine
    fingerprint: Fingerprint
    label: str  # a short digest of every campaign's version, for logs

    @classmethod
    def of(
        cls, program: Program, db: Engine, workspace: Workspace, setup: SalesSetup, fingerprint: Fingerprint
    ) -> ProgramVersion:
        lifecycle = Lifecycle(program, setup)
        engine = CampaignEngine(db, program, workspace.settings, then=lifecycle)
        digest = hashlib.sha256(repr(sorted(engine.versions.items())).encode("utf-8")).hexdigest()
        return cls(program, lifecycle, engine, fingerprint, digest[:12])


@dataclass(frozen=True)
class ReloadOutcome:
    """What one look at the files did: ``unchanged``, ``applied`` or ``refused``."""

    status: str
    problems: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()  # campaign keys added, edited or removed
    recorded: bool = False
    held: tuple[str, ...] = ()  # changes waiting for `nurture plan --apply`, one line each


def fingerprint(workspace: Workspace) -> Fingerprint:
    """Every definition and template file with its modification time and size."""
    found: list[tuple[str, int, int]] = []
    for folder in (workspace.campaigns_dir, workspace.templates_dir):
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                if name.startswith(".") or name.endswith(("~", ".swp", ".tmp")):
                    continue  # editors' scratch files come and go while someone types
                path = Path(dirpath) / name
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                found.append((str(path.relative_to(workspace.root)), stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(found))


@dataclass
class LiveProgram:
    """The program the daemon runs now; jobs read :attr:`current` once per run."""

    workspace: Workspace
    db: Engine
    setup: SalesSetup  # settings, signer and templates: read once, kept across reloads
    current: ProgramVersion
    on_change: list[Callable[[ProgramVersion], None]] = field(default_factory=list)
    recorded: bool = False  # the current version is recorded in the database
    refused: Fingerprint | None = None  # files whose program was refused (reported once)
    held: tuple[CampaignPlan, ...] = ()  # changes over the plan limits, not confirmed yet
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, workspace: Workspace, db: Engine, now: datetime | None = None) -> LiveProgram:
        """The workspace's program as it is now (InvalidProgram when it cannot run), with changes
        over the plan limits held at their running version."""
        seen = fingerprint(workspace)
        at = now or clock_from_env().now()
        setup = SalesSetup.of(workspace.settings, workspace.root)
        guarded = guard_program(db, load_program(workspace), workspace.settings, at)
        version = ProgramVersion.of(guarded.program, db, workspace, setup, seen)
        live = cls(workspace, db, setup, version, held=guarded.held)
        record_holds(db, guarded.held, daemon_actor(), at)
        for line in guarded.lines():
            log_event(_log, logging.WARNING, "definitions.held", detail=line)
        return live

    @property
    def stale(self) -> bool:
        """True while the files on disk hold a refused edit."""
        return self.refused is not None

    def refresh(self, now: datetime, *, force: bool = False) -> ReloadOutcome:
        """Reload when the files changed (or always, with ``force``); blocking, run it in a thread."""
        with self._lock:
            outcome = ReloadOutcome("unchanged")
            seen = fingerprint(self.workspace)
            changed = seen != self.current.fingerprint
            if force or (changed and seen != self.refused) or approved_since(self.db, self.held):
                outcome = self._reload(seen, now)
            elif not changed:
                self.refused = None  # the files were put back as they were
            if not self.recorded:
                self.recorded = self._record(self.current, now)
                outcome = ReloadOutcome(
                    outcome.status, outcome.problems, outcome.changed, self.recorded, outcome.held
                )
            return outcome

    def _reload(self, seen: Fingerprint, now: datetime) -> ReloadOutcome:
        try:
            program = load_program(self.workspace)
        except InvalidProgram as exc:
            self.refused = seen
            errors = tuple(str(p) for p in exc.problems if p.severity == "error")
            return ReloadOutcome("refused", errors)
        except NurtureError as exc:
            self.refused = seen
            return ReloadOutcome("refused", (str(exc),))
        guarded = guard_program(self.db, program, self.workspace.settings, now)
        old = self.current
        new = ProgramVersion.of(guarded.program, self.db, self.workspace, self.setup, seen)
        keys = set(old.engine.versions) | set(new.engine.versions)
        changed = tuple(sorted(k for k in keys if old.engine.versions.get(k) != new.engine.versions.get(k)))
        self.current = new
        self.refused = None
        self.recorded = False
        self.held = guarded.held
        for listener in self.on_change:
            listener(new)
        for line in guarded.lines():
            log_event(_log, logging.WARNING, "definitions.held", detail=line)
        record_holds(self.db, guarded.held, daemon_actor(), now)
        return ReloadOutcome("applied", changed=changed, held=tuple(guarded.lines()))

    def _record(self, version: ProgramVersion, now: datetime) -> bool:
        """Record the version in the database, once per cluster; False to try again next run."""
        with cluster_lock(self.db, "record-program") as held:
            if not held:
                return False
            version.engine.record_program(now, daemon_actor())
            return True
