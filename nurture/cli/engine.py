"""``nurture tick``: do all work due at one moment, once, and say what was done."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click

from nurture.cli.context import App, pass_app
from nurture.clock import parse_instant
from nurture.definitions import Program
from nurture.engine.last_tick import last_tick, record_tick
from nurture.engine.tick import CampaignEngine, TickReport
from nurture.errors import NurtureError
from nurture.guards.audit import current_actor
from nurture.guards.held import guard_program, record_holds
from nurture.lifecycle import Lifecycle
from nurture.sales.sla import SlaReport, enforce_sla
from nurture.sales.webhooks import WebhookReport, deliver_webhooks
from nurture.sending.factory import build_outbox
from nurture.sending.outbox import DeliveryReport


@click.command()
@click.option("--now", "now_text", metavar="ISO-8601", help="Act as if it were this moment (replays, tests).")
@click.option("--no-send", is_flag=True, help="Queue emails but leave them in the outbox.")
@click.option("--force", is_flag=True, help="Act even at a moment earlier than the latest tick.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as one JSON object.")
@pass_app
def tick(app: App, now_text: str | None, no_send: bool, force: bool, as_json: bool) -> None:
    """Run everything due now once (entries, steps, sends, webhooks, the bounce mailbox) and print
    a summary; for cron and tests."""
    now = parse_instant(now_text) if now_text else app.clock.now()
    _keep_time_moving_forward(app, now, force)
    guarded = guard_program(app.store, app.program, app.workspace.settings, now)
    record_holds(app.store, guarded.held, current_actor(), now)
    # A held change runs the confirmed version of its campaign, and so does what follows from it.
    chain = app.lifecycle if not guarded.held else Lifecycle(guarded.program, app.lifecycle.sales.setup)
    engine = CampaignEngine(app.store, guarded.program, app.workspace.settings, then=chain)
    engine.record_program(now)
    report = engine.tick(now)
    sla = enforce_sla(app.store, chain.sales, now)
    delivery = webhooks = None
    if not no_send:
        delivery = asyncio.run(_deliver(app, guarded.program, now, pinned=now_text is not None))
        webhooks = deliver_webhooks(app.store, now)
    bounces = _read_bounces(app, chain, now) if app.workspace.settings.bounce_mailbox else None
    if as_json:
        facts = tick_json(report, sla, delivery, webhooks, bounces)
        facts["held"] = guarded.lines()
        click.echo(json.dumps(facts, ensure_ascii=False, indent=2))
        return
    _print(report, sla, delivery, webhooks, bounces)
    for line in guarded.lines():
        click.secho(f"  {line}", fg="yellow")


def _keep_time_moving_forward(app: App, now: datetime, force: bool) -> None:
    with app.store.begin() as conn:
        latest = last_tick(conn)
        if latest is not None and now < latest and not force:
            raise NurtureError(
                f"{now.isoformat()} is earlier than the latest tick ({latest.isoformat()}); acting "
                "there would move the clock back for work already done. Pass --force to do it anyway"
            )
        record_tick(conn, now)


def _print(
    report: TickReport,
    sla: SlaReport,
    delivery: DeliveryReport | None,
    webhooks: WebhookReport | None,
    bounces: BounceReading | None,
) -> None:
    for line in [*report.lines(), *sla.lines()]:
        click.echo(line)
    if delivery is not None and delivery.lines():
        click.echo("sending")
        for line in delivery.lines():
            click.echo(line)
    if webhooks is not None and (webhooks.delivered or webhooks.retrying or webhooks.failed):
        for line in webhooks.lines():
            click.echo(line)
    if bounces is not None:
        if bounces.problem:
            click.secho(f"  problem   bounce mailbox: {bounces.problem}", fg="yellow")
        elif bounces.tally:
            click.echo("bounce mailbox")
            for kind, count in sorted(bounces.tally.items()):
                click.echo(f"  {kind:<9} {count}")


def tick_json(
    report: TickReport,
    sla: SlaReport,
    delivery: DeliveryReport | None,
    webhooks: WebhookReport | None,
    bounces: BounceReading | None,
) -> dict[str, Any]:
    """``tick --json``: the same facts as the text summary, keyed for scripts (null: not done)."""
    return {
        "now": report.now.isoformat(),
        "entered": dict(report.entered),
        "queued": [{"campaign": c, "step": s, "count": n} for (c, s), n in sorted(report.queued.items())],
        "deferred": dict(report.deferred),
        "refused": dict(report.refused),
        "ended": [{"status": st, "reason": r, "count": n} for (st, r), n in sorted(report.ended.items())],
        "steps_run": report.steps_run,
        "enrollments_advanced": report.enrollments_advanced,
        "condition_failures": report.conditions.as_json(),
        "problems": report.problems,
        "sla": {
            "reassigned": sla.reassigned,
            "escalated": sla.escalated,
            "reminded": sla.reminded,
            "digests": sla.digests,
            "problems": sla.problems,
        },
        "sending": None
        if delivery is None
        else {
            **dict(delivery.outcomes),
            # Left `unknown` by a sender that stopped (an earlier crash), apart from this run's own.
            "unknown_recovered": delivery.unknown,
            "problems": delivery.problems,
        },
        "webhooks": None
        if webhooks is None
        else {
            "delivered": webhooks.delivered,
            "retrying": webhooks.retrying,
            "failed": webhooks.failed,
            "errors": webhooks.errors,
        },
        "bounce_mailbox": None
        if bounces is None
        else {"read": dict(bounces.tally), "problem": bounces.problem},
    }


@dataclass
class BounceReading:
    tally: dict[str, int]
    problem: str | None = None


def _read_bounces(app: App, chain: Lifecycle, now: datetime) -> BounceReading:
    """The bounce mailbox, as the daemon's ``bounces`` job reads it (a cron setup has no daemon)."""
    # why: the bounce mailbox (IMAP, parsing) loads only when one is set
    from nurture.daemon.bounce_inbox import read_bounce_inbox, workspace_bounce_mailbox
    from nurture.delivery.bounce_mailbox import BounceMailboxError

    limit = app.workspace.settings.soft_bounce_limit
    try:
        inbox = workspace_bounce_mailbox(app.workspace)
        assert inbox is not None
        tally = read_bounce_inbox(app.store, inbox, chain, now, soft_bounce_limit=limit)
    except BounceMailboxError as exc:
        return BounceReading({}, str(exc))
    return BounceReading(dict(tally))


async def _deliver(app: App, program: Program, now: datetime, pinned: bool) -> DeliveryReport:
    # Leases are read from the same clock as ``now``: a pinned tick's leases are pinned too.
    clock = (lambda: now) if pinned else app.clock.now
    outbox = build_outbox(app.store, program, app.workspace, clock=clock)
    try:
        return await outbox.deliver_due(now)
    finally:
        await outbox.transport.close()
