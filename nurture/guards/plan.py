"""What a reload would do: per changed campaign, who enters and what is sent in the next 24 hours.

``nurture plan`` and the daemon compare the campaigns in the files with the versions that run now
(the last deployed, from the audit log). For each new or edited campaign:

* **enrols** — leads who would enter at once: for a segment campaign, every mailable lead its
  ``where`` accepts who may enter (not inside it, re-entry allowed); campaigns on ``lead_created``,
  ``event`` or ``manual`` enrol only leads and events still to come, so 0 now.
* **sends in 24 h** — emails its send steps would queue in the next 24 hours, per step, for the
  leads entering now and for the leads already inside (placed in the new version by step id).
  Waits are followed as written; send windows and the frequency cap are not applied and no email
  is assumed opened or clicked, so this is an upper bound of what the engine would queue.
* **added** — sends in 24 h under the new version minus those under the running one.

A change that enrols more than ``plan_enrol_limit`` leads or adds more than ``plan_send_limit``
emails is *held*: the daemon keeps running the current version (or does not start a new campaign)
until ``nurture plan --apply`` confirms that exact version.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, select

from nurture.clock import as_utc
from nurture.definitions import (
    Campaign,
    ConditionError,
    EvaluationContext,
    Loaded,
    NoEngagement,
    Program,
    content_hash,
    place_after_edit,
)
from nurture.engine.enrollments import history, load_leads, suppressed
from nurture.engine.entry import may_enter
from nurture.engine.plan import Finish, Park, Send, advance
from nurture.guards.audit import record_audit
from nurture.guards.deploys import deployed_versions
from nurture.settings import Settings
from nurture.store import bulk
from nurture.store.schema import definition_versions, enrollments, leads, plan_approvals

HORIZON = timedelta(hours=24)
LEAD_BATCH = 2_000
_MAX_WALKS = 200  # waits followed per lead within the horizon; a goto loop ends here

Change = Literal["new", "edited", "removed"]


@dataclass(frozen=True)
class CampaignPlan:
    key: str
    change: Change
    running: str | None  # the version running now
    version: str | None  # the version in the files
    enrols: int = 0
    sends: Mapping[str, int] = field(default_factory=dict)  # by step, next 24 h, new version
    sends_now: int = 0  # next 24 h under the running version
    over: tuple[str, ...] = ()  # which limits the change exceeds
    approved: bool = False

    @property
    def added_sends(self) -> int:
        return max(0, sum(self.sends.values()) - self.sends_now)

    @property
    def held(self) -> bool:
        return bool(self.over) and not self.approved

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.key,
            "change": self.change,
            "running": self.running,
            "version": self.version,
            "enrols": self.enrols,
            "sends_24h": sum(self.sends.values()),
            "sends_24h_by_step": dict(self.sends),
            "sends_24h_now": self.sends_now,
            "added_sends_24h": self.added_sends,
            "over_limits": list(self.over),
            "approved": self.approved,
            "held": self.held,
        }


def running_campaigns(conn: Connection, deployed: Mapping[str, str]) -> dict[str, Campaign]:
    """The running version of each deployed campaign, from the bodies kept in definition_versions."""
    d = definition_versions.c
    found: dict[str, Campaign] = {}
    if not deployed:
        return found
    query = select(d.key, d.content_hash, d.body).where(
        d.kind == "Campaign", d.content_hash.in_(sorted(set(deployed.values())))
    )
    for key, digest, body in conn.execute(query):
        if deployed.get(key) == digest:
            try:
                found[key] = Campaign.model_validate(body)
            except ValueError:
                continue  # written by an older nurture that this one cannot read: judged as new
    return found


def approvals(conn: Connection) -> set[tuple[str, str]]:
    p = plan_approvals.c
    return {(k, v) for k, v in conn.execute(select(p.campaign_key, p.version))}


def plan_program(conn: Connection, program: Program, settings: Settings, now: datetime) -> list[CampaignPlan]:
    """The plan of every campaign that differs from what runs now, in key order."""
    deployed = deployed_versions(conn)
    running = running_campaigns(conn, deployed)
    approved = approvals(conn)
    plans: list[CampaignPlan] = []
    current = program.campaigns
    already_running = {k for k in current if k not in deployed and _has_enrollments(conn, k)}
    for key in sorted(set(current) | set(running)):
        new = current.get(key)
        version = content_hash(new) if new is not None else None
        if version == deployed.get(key) or key in already_running:
            # A campaign with leads but no deploy on record ran before deploys were audited: it is
            # taken as deployed as it is, rather than planned (and a database scanned) as new.
            continue
        if new is None:
            plans.append(CampaignPlan(key, "removed", deployed.get(key), None))
            continue
        old = running.get(key)
        plans.append(_plan_campaign(conn, key, old, new, deployed.get(key), version, settings, now, approved))
    return plans


def _has_enrollments(conn: Connection, key: str) -> bool:
    e = enrollments.c
    return conn.scalar(select(e.id).where(e.campaign_key == key).limit(1)) is not None


def _plan_campaign(
    conn: Connection,
    key: str,
    old: Campaign | None,
    new: Campaign,
    running: str | None,
    version: str | None,
    settings: Settings,
    now: datetime,
    approved: set[tuple[str, str]],
) -> CampaignPlan:
    assert version is not None
    sends: Counter[str] = Counter()
    sends_now = 0
    entering = _entering(conn, new, now) if new.entry.on == "segment" else []
    for lead in entering:
        sends.update(_walk(new, new.steps[0].step_id, now, lead, now))
    for lead, step_id, started in _inside(conn, key):
        # Without the running version (recorded by an older nurture) the files' version stands in.
        before = old or new
        if before.has_step(step_id):
            sends_now += sum(_walk(before, step_id, started, lead, now).values())
        if old is not None and old.has_step(step_id):
            placement = place_after_edit(old, new, step_id, started, now)
            if placement.step_id is not None:
                sends.update(_walk(new, placement.step_id, placement.started_at or now, lead, now))
        elif new.has_step(step_id):
            sends.update(_walk(new, step_id, started, lead, now))
    plan = CampaignPlan(
        key, "edited" if running else "new", running, version, len(entering), dict(sends), sends_now
    )
    over = []
    if settings.plan_enrol_limit and plan.enrols > settings.plan_enrol_limit:
        over.append(f"enrols {plan.enrols} leads (limit {settings.plan_enrol_limit})")
    if settings.plan_send_limit and plan.added_sends > settings.plan_send_limit:
        over.append(f"adds {plan.added_sends} emails in 24 h (limit {settings.plan_send_limit})")
    return CampaignPlan(
        key, plan.change, running, version, plan.enrols, plan.sends, sends_now, tuple(over),
        (key, version) in approved,
    )  # fmt: skip


def _walk(
    campaign: Campaign, step_id: str, started: datetime, lead: dict[str, Any], now: datetime
) -> Counter[str]:
    """The send steps one lead would reach within the horizon, following waits as written."""
    counted: Counter[str] = Counter()
    end = now + HORIZON
    at, current, since = now, step_id, started
    view = dict(lead)
    for _ in range(_MAX_WALKS):
        plan = advance(
            campaign, current, since, view, at, engagement=NoEngagement(), gate=lambda c, lead, step: None
        )
        counted.update(e.step.step_id for e in plan.effects if isinstance(e, Send))
        outcome = plan.outcome
        if isinstance(outcome, Finish) or not isinstance(outcome, Park) or outcome.due_at > end:
            break
        at, current, since = max(outcome.due_at, at), outcome.step_id, outcome.started_at
    return counted


def _entering(conn: Connection, campaign: Campaign, now: datetime) -> list[dict[str, Any]]:
    """Mailable leads a segment campaign's ``where`` accepts who may enter it now."""
    chosen: list[dict[str, Any]] = []
    after = 0
    while True:
        ids = [int(i) for (i,) in conn.execute(
            select(leads.c.id).where(leads.c.id > after).order_by(leads.c.id).limit(LEAD_BATCH)
        )]  # fmt: skip
        if not ids:
            return chosen
        after = ids[-1]
        rows = load_leads(conn, ids)
        blocked = suppressed(conn, (lead["email"] for lead in rows.values()))
        past = history(conn, ids, campaign.key)
        for lead_id, lead in rows.items():
            if lead["unsubscribed"] or lead["email"] in blocked:
                continue
            if not may_enter(past.get(lead_id, ()), campaign.re_entry, now):
                continue
            where = campaign.entry.where
            try:
                if where is None or where.evaluate(EvaluationContext(lead=lead, now=now)):
                    chosen.append(lead)
            except ConditionError:
                continue  # the engine reports it when it meets this lead


def _inside(conn: Connection, key: str) -> Iterable[tuple[dict[str, Any], str, datetime]]:
    """Leads inside the campaign now: the lead, its step and when that step began."""
    e = enrollments.c
    after = 0
    while True:
        rows = conn.execute(
            select(e.id, e.lead_id, e.step_id, e.step_started_at)
            .where(e.campaign_key == key, e.status == "active", e.id > after)
            .order_by(e.id)
            .limit(LEAD_BATCH)
        ).all()
        if not rows:
            return
        after = int(rows[-1].id)
        found = load_leads(conn, (r.lead_id for r in rows))
        for row in rows:
            lead = found.get(int(row.lead_id))
            if lead is not None and row.step_id:
                yield lead, row.step_id, bulk.read_instant(row.step_started_at) or as_utc(row.step_started_at)


def approve(conn: Connection, plans: Iterable[CampaignPlan], actor: str, now: datetime) -> list[str]:
    """Confirm the held versions (``plan --apply``); the keys approved."""
    done = []
    for plan in plans:
        if not plan.held or plan.version is None:
            continue
        conn.execute(
            plan_approvals.insert().values(
                campaign_key=plan.key, version=plan.version, approved_by=actor[:200],
                approved_at=as_utc(now), figures=plan.as_dict(),
            )
        )  # fmt: skip
        record_audit(conn, actor, "approve", f"campaign:{plan.key}", plan.as_dict(), now)
        done.append(plan.key)
    return done


def program_to_run(
    program: Program, plans: Iterable[CampaignPlan], running: Mapping[str, Campaign]
) -> Program:
    """The program with every held campaign at its running version (a held new one left out)."""
    held = {p.key for p in plans if p.held}
    if not held:
        return program
    loaded: list[Loaded] = []
    for item in program.loaded:
        definition = item.definition
        if isinstance(definition, Campaign) and definition.key in held:
            old = running.get(definition.key)
            if old is None:
                continue
            loaded.append(Loaded(old, item.document))
        else:
            loaded.append(item)
    return Program(program.root, program.templates_dir, tuple(loaded))
