"""The program to run: the files' program, with every held campaign kept at its running version.

Used by the daemon at start and at every reload, and by ``nurture tick``, so a large change never
goes live unconfirmed, whichever of them is first to see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.engine import Engine

from nurture.definitions import Program
from nurture.guards.audit import record_audit
from nurture.guards.deploys import SUBJECT_PREFIX, deployed_versions
from nurture.guards.plan import CampaignPlan, approvals, plan_program, program_to_run, running_campaigns
from nurture.settings import Settings
from nurture.store.schema import audit_log


@dataclass(frozen=True)
class GuardedProgram:
    program: Program  # what runs
    held: tuple[CampaignPlan, ...]  # changes waiting for `nurture plan --apply`

    def lines(self) -> list[str]:
        """One line per held change, for logs and ``nurture tick``."""
        return [
            f"held {p.key}: {'; '.join(p.over)}; the running version stays until `nurture plan --apply`"
            for p in self.held
        ]


def guard_program(db: Engine, program: Program, settings: Settings, now: datetime) -> GuardedProgram:
    """Hold back the campaigns whose change is over the plan limits and not confirmed."""
    if not settings.plan_enrol_limit and not settings.plan_send_limit:
        return GuardedProgram(program, ())
    with db.connect() as conn:
        plans = plan_program(conn, program, settings, now)
        held = tuple(p for p in plans if p.held)
        running = running_campaigns(conn, deployed_versions(conn)) if held else {}
        conn.rollback()
    return GuardedProgram(program_to_run(program, held, running), held)


def record_holds(db: Engine, held: tuple[CampaignPlan, ...], actor: str, now: datetime) -> None:
    """Audit each held version once (``nurture campaigns`` shows it as held from this record)."""
    if not held:
        return
    with db.begin() as conn:
        known = held_versions(conn, every=True)
        for plan in held:
            if plan.version is not None and plan.version not in known.get(plan.key, set()):
                record_audit(conn, actor, "hold", f"{SUBJECT_PREFIX}{plan.key}", plan.as_dict(), now)


def held_versions(conn: Connection, *, every: bool = False) -> dict[str, set[str]]:
    """The versions ever held, by campaign (with ``every``), or only the latest one of each."""
    a = audit_log.c
    found: dict[str, set[str]] = {}
    for subject, detail in conn.execute(select(a.subject, a.detail).where(a.action == "hold").order_by(a.id)):
        key = subject.removeprefix(SUBJECT_PREFIX)
        version = str((detail or {}).get("version", ""))
        found[key] = (found.get(key, set()) | {version}) if every else {version}
    return found


def approved_since(db: Engine, held: tuple[CampaignPlan, ...]) -> bool:
    """Whether any held change has been confirmed meanwhile (cheap: read at every reload run)."""
    if not held:
        return False
    with db.connect() as conn:
        confirmed = approvals(conn)
        conn.rollback()
    return any((p.key, p.version) in confirmed for p in held)
