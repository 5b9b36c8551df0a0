"""``nurture leads``: import, show and forget leads."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table
from sqlalchemy import Connection

from nurture.cli.context import App, pass_app
from nurture.definitions import Program
from nurture.definitions.topic import DEFAULT_TOPIC
from nurture.errors import NurtureError
from nurture.guards.audit import current_actor, record_audit
from nurture.leads.combine import merge_leads, plan_merge
from nurture.leads.consent import GivenConsent, record_consents_once
from nurture.leads.export import export_lead
from nurture.leads.forget import forget_lead
from nurture.leads.importer import LeadImporter
from nurture.leads.report import ImportReport, RowsHook
from nurture.leads.sources import ENCODINGS
from nurture.reports.lead_list import list_leads
from nurture.reports.lead_profile import lead_profile
from nurture.store.engine import reading
from nurture.store.schema import LIFECYCLE_STAGES

PROGRESS_MIN_BYTES = 1 << 20  # smaller files finish before a bar would help


@click.group()
def leads() -> None:
    """Import, inspect and erase leads."""


@leads.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="Default: from the file name.")
@click.option("--dry-run", is_flag=True, help="Validate and count, write nothing.")
@click.option(
    "--on-error",
    type=click.Choice(["skip-row", "skip-field"]),
    default="skip-row",
    show_default=True,
    help="A bad value rejects its row, or only itself (the row is stored without it).",
)
@click.option(
    "--encoding",
    type=click.Choice(sorted(ENCODINGS)),
    default="utf-8",
    show_default=True,
    help="The file's character set; cp1252 for CSV saved by Excel on Windows.",
)
@click.option(
    "--consent-source", metavar="SOURCE",
    help="Where the file's people gave their consent (a fair, a webinar, the old tool): every lead "
    "of the file gets a confirmed consent with source import:SOURCE.",
)  # fmt: skip
@click.option(
    "--consent-date", metavar="ISO-8601", help="When they gave it (default: now); with --consent-source."
)
@click.option(
    "--consent-topic", default=DEFAULT_TOPIC, show_default=True, help="The topic they consented to."
)
@click.option("--consent-text-version", metavar="VERSION", help="Which wording of the consent text they saw.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@pass_app
def import_leads(
    app: App, file: Path, fmt: str | None, dry_run: bool, on_error: str, encoding: str,
    consent_source: str | None, consent_date: str | None, consent_topic: str,
    consent_text_version: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Import leads from a CSV or JSON Lines FILE (upsert by e-mail)."""
    now = app.clock.now()
    given = _file_consent(consent_source, consent_date, consent_topic, consent_text_version, now)
    console = Console(stderr=True)
    show_bar = console.is_terminal and file.stat().st_size >= PROGRESS_MIN_BYTES
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not show_bar,
    ) as progress:
        task = progress.add_task(f"importing {file.name}", total=file.stat().st_size)
        program = _program_if_valid(app)
        importer = LeadImporter(
            app.store,
            now,
            dry_run=dry_run,
            on_batch=app.lifecycle.leads_imported if program is not None else None,
            on_progress=lambda done, total: progress.update(task, completed=done),
            on_rows=_consent_recorder(given) if given is not None else None,
            skip_fields=on_error == "skip-field",
            encoding=encoding,
        )
        report = importer.run(file, fmt)
    if as_json:
        click.echo(json.dumps(import_report_json(report), ensure_ascii=False, indent=2))
    else:
        _print_report(report)
    if report.rejected:
        sys.exit(1)


def _file_consent(
    source: str | None, date: str | None, topic: str, text_version: str | None, now: datetime
) -> GivenConsent | None:
    """The consent a whole file stands for, or None when the import does not say."""
    if source is None:
        if date is not None or text_version is not None:
            raise click.UsageError("--consent-date and --consent-text-version go with --consent-source")
        return None
    at = now
    if date is not None:
        try:
            parsed = datetime.fromisoformat(date.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(f"{date!r} is not ISO 8601", param_hint="--consent-date") from None
        at = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        if at > now:
            raise click.BadParameter(f"{date!r} is in the future", param_hint="--consent-date")
    return GivenConsent(topic, "confirmed", at, f"import:{source}"[:200], text_version)


def _consent_recorder(given: GivenConsent) -> RowsHook:
    def record(conn: Connection, lead_ids: Sequence[int], now: datetime) -> None:
        record_consents_once(conn, [(lead_id, given) for lead_id in lead_ids])

    return record


def import_report_json(report: ImportReport) -> dict[str, Any]:
    """``leads import --json``: the counts, and each problem with its row (rejected rows first
    kept up to the report's limit; ``problems_not_shown`` counts the rest)."""
    return {
        "file": str(report.path),
        "dry_run": report.dry_run,
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "rejected": report.rejected,
        "fields_skipped": report.fields_skipped,
        "suppressed": report.suppressed,
        "problems": [{"row": p.row, "message": p.message} for p in report.problems],
        "problems_not_shown": max(report.rejected + report.fields_skipped - len(report.problems), 0),
    }


def _print_report(report: ImportReport) -> None:
    for problem in report.problems:
        click.echo(f"{report.path}: {problem}", err=True)
    hidden = report.rejected + report.fields_skipped - len(report.problems)
    if hidden > 0:
        click.echo(f"{report.path}: ... and {hidden} more problems", err=True)
    verb = "would import" if report.dry_run else "imported"
    skipped = f", {report.fields_skipped} bad fields left out" if report.fields_skipped else ""
    click.echo(
        f"{verb} {report.path.name}: {report.rows} rows, {report.created} created, "
        f"{report.updated} updated, {report.unchanged} unchanged, {report.rejected} rejected{skipped}"
    )
    if report.suppressed:
        click.echo(f"note: {report.suppressed} addresses are suppressed and will not be mailed")


@leads.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@pass_app
def show(app: App, email: str, as_json: bool) -> None:
    """Show a lead: profile, stage history, score and ledger, enrollments, messages, owner."""
    program = _program_if_valid(app)
    with app.store.connect() as conn:
        profile = lead_profile(conn, email, program, app.clock.now())
    if as_json:
        click.echo(json.dumps(profile, ensure_ascii=False, indent=2))
        return
    _print_profile(profile)


@leads.command("export")
@click.argument("email")
@click.option(
    "--output", "-o", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
    help="Write the document to FILE instead of printing it.",
)  # fmt: skip
@pass_app
def export(app: App, email: str, output: Path | None) -> None:
    """Everything stored about EMAIL as one JSON document (GDPR art. 15 and 20)."""
    with app.store.connect() as conn:
        document = export_lead(conn, email, app.clock.now())
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote everything stored about {document['email']} to {output}", err=True)


def _program_if_valid(app: App) -> Program | None:
    """The program, for decay and rule names; a broken program must not hide a lead's data."""
    try:
        return app.program
    except NurtureError as exc:
        click.secho(
            f"note: the program has errors ({exc.__class__.__name__}); scores shown undecayed", err=True
        )
        return None


def _conversion(predicted: dict[str, Any] | None) -> str | None:
    """The predictive score in words, with what moves it most."""
    if not predicted or "probability" not in predicted:
        return None
    factors = "".join(f", {f['feature']} {f['effect']} it" for f in predicted["top_factors"])
    return f"{predicted['probability']:.0%} (model {predicted['model_version']}{factors})"


def _print_profile(p: dict[str, Any]) -> None:
    console = Console()
    name = " ".join(x for x in (p["first_name"], p["last_name"]) if x) or p["email"]
    # Lead data is printed as text, never read as rich markup ("[link=...]" in a company name).
    console.print(f"[bold]{escape(name)}[/bold] <{escape(p['email'])}>", highlight=False)
    facts = [
        ("company", p["company"]),
        ("job title", p["job_title"]),
        ("country", p["country"]),
        ("stage", p["lifecycle_stage"]),
        ("owner", p["owner"] or "-"),
        (
            "score",
            f"{p['score']} (fit {p['fit_score']}, behaviour {p['behavior_score']})"
            + (f", model {p['score_model_version']}" if p.get("score_model_version") else ""),
        ),
        ("conversion", _conversion(p.get("conversion_probability"))),
        (
            "mailable",
            "no: unsubscribed"
            if p["unsubscribed"]
            else (f"no: {p['suppressed']}" if p["suppressed"] else "yes"),
        ),
    ]
    for label, value in facts:
        console.print(f"  {label:<10} {escape(str(value)) if value is not None else '-'}", highlight=False)
    if p["attributes"]:
        console.print(
            "  attributes " + escape(", ".join(f"{k}={v}" for k, v in p["attributes"].items())),
            highlight=False,
        )
    _table(
        console,
        "Stage history",
        ("at", "from", "to", "reason", "actor"),
        [(h["at"], h["from"] or "-", h["to"], h["reason"], h["actor"]) for h in p["stage_history"]],
    )
    breakdown = p.get("score_breakdown")
    if breakdown:
        _table(
            console,
            f"Why {p['score']:g}: fit {breakdown['fit']:g} + behaviour {breakdown['behavior']:g} (faded)",
            ("points", "rule", "kind", "times", "last"),
            [
                (f"{line['points']:+.1f}", line["reason"], line["kind"], line["count"], line["last_at"])
                for line in (*breakdown["fit_lines"], *breakdown["behavior_lines"])
            ],
        )
    _table(
        console,
        "Score ledger",
        ("at", "points", "reason"),
        [(s["at"], f"{s['points']:+g}", s["reason"]) for s in p["score_events"]],
    )
    _table(
        console,
        "Consent (every record, oldest first)",
        ("topic", "state", "at", "source", "text", "ip"),
        [
            (c["topic"], c["status"], c["at"], c["source"], c["text_version"] or "-", c["ip"] or "-")
            for c in p.get("consent_history", p.get("consent", []))
        ],
    )
    _table(
        console,
        "Enrollments",
        ("campaign", "status", "step", "entered"),
        [(e["campaign"], e["status"], e["step"] or "-", e["entered_at"]) for e in p["enrollments"]],
    )
    _table(
        console,
        "Messages",
        ("campaign", "step", "kind", "status", "sent"),
        [
            (
                m["campaign"] or m["kind"],
                (m["step"] or "-") + (f" (variant {m['variant']})" if m.get("variant") else ""),
                m["kind"],
                _status(m),
                m["sent_at"] or "-",
            )
            for m in p["messages"]
        ],
    )


def _status(message: dict[str, Any]) -> str:
    """``suppressed: no consent``: a suppressed email says why."""
    if message["status"] == "suppressed" and message.get("error"):
        return f"suppressed: {message['error']}"
    return str(message["status"])


def _table(console: Console, title: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    table = Table(title=escape(title), title_justify="left", show_edge=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(str(v)) for v in row))
    console.print(table)


@leads.command("list")
@click.option("--stage", type=click.Choice(LIFECYCLE_STAGES), help="Only leads at this lifecycle stage.")
@click.option("--owner", metavar="REP", help="Only leads this rep owns.")
@click.option("--campaign", metavar="KEY", help="Only leads that entered this campaign.")
@click.option("--search", metavar="TEXT", help="Only leads whose e-mail, name or company contains TEXT.")
@click.option("--stale", is_flag=True, help="Only leads stuck at their stage longer than its limit.")
@click.option("--limit", default=100, show_default=True, help="At most this many leads.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list, for scripts.")
@pass_app
def list_command(
    app: App, stage: str | None, owner: str | None, campaign: str | None, search: str | None, stale: bool,
    limit: int, as_json: bool,
) -> None:  # fmt: skip
    """Find leads; with --stale, those sales should look at first (longest in their stage first)."""
    program = _program_if_valid(app) if stale else None
    with reading(app.store).connect() as conn:
        found = list_leads(
            conn, program, app.clock.now(), stage=stage, owner=owner, campaign=campaign, search=search,
            stale=stale, limit=limit,
        )  # fmt: skip
    if as_json:
        click.echo(json.dumps([asdict(lead) for lead in found], ensure_ascii=False, indent=2))
        return
    console = Console()
    if not found:
        console.print("no lead matches")
        return
    columns = ("email", "name", "company", "stage", "owner", "score", "days", "limit")
    _table(
        console, f"{len(found)} leads", columns,
        [(escape(x.email), escape(x.name or "-"), escape(x.company or "-"), x.stage, x.owner or "-", x.score,
          x.days_in_stage, x.stale_limit_days if x.stale_limit_days is not None else "-") for x in found],
    )  # fmt: skip


@leads.command("merge")
@click.argument("keep")
@click.argument("other")
@click.option("--dry-run", is_flag=True, help="Show what would move; change nothing.")
@click.option("--actor", metavar="NAME", help="Who merges, for the audit log (default: your user name).")
@click.option("--json", "as_json", is_flag=True, help="Print what moved (or would) as one JSON object.")
@pass_app
def merge(app: App, keep: str, other: str, dry_run: bool, actor: str | None, as_json: bool) -> None:
    """Join OTHER into KEEP: two records of one person (an address change)."""
    now = app.clock.now()
    with app.store.begin() as conn:
        plan = plan_merge(conn, keep, other)
        if not dry_run:
            merge_leads(conn, plan, now, then=app.lifecycle.leads_merged)
            # Ids, not addresses: an erasure of the person later leaves nothing of them here.
            record_audit(
                conn, current_actor(actor), "merge", f"lead:{plan.keep_id}",
                {"merged_lead": plan.other_id, "moves": plan.moves, "enrollments_ended": plan.ended}, now,
            )  # fmt: skip
    if as_json:
        click.echo(json.dumps({**plan.as_json(), "dry_run": dry_run}, ensure_ascii=False, indent=2))
        return
    verb = "would move" if dry_run else "moved"
    moved = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in plan.moves.items())
    click.echo(f"{verb} from {plan.other} to {plan.keep}: {moved}")
    if plan.ended:
        click.echo(
            f"{'would end' if dry_run else 'ended'} {plan.other}'s second enrollment in: "
            + ", ".join(plan.ended)
        )
    if plan.filled:
        click.echo(f"{'would take' if dry_run else 'took'} from {plan.other}: {', '.join(plan.filled)}")
    if not dry_run:
        click.echo(f"{plan.other} is now a previous address of {plan.keep}; its score was recomputed")


@leads.command("forget")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--reason", default="erasure request", show_default=True)
@click.option("--actor", metavar="NAME", help="Who asks for the erasure (default: your user name).")
@pass_app
def forget(app: App, email: str, yes: bool, reason: str, actor: str | None) -> None:
    """Erase everything about EMAIL (GDPR); keep a hash so it is never mailed again."""
    if not yes:
        if not sys.stdin.isatty():
            # A script piping into this command cannot have meant to answer a question it never saw.
            raise NurtureError(f"erasing {email} cannot be undone: pass --yes when not at a terminal")
        click.confirm(f"Erase all data about {email}? This cannot be undone", abort=True)
    now = app.clock.now()
    with app.store.begin() as conn:
        erasure = forget_lead(conn, email, now, detail=reason)
        # The audit names the person only by the hash that outlives the erasure.
        record_audit(
            conn, current_actor(actor), "erase", f"email-hash:{erasure.email_hash}", {"reason": reason}, now
        )
    if erasure.lead_found:
        click.echo(f"erased {email}; its suppression hash is kept so it is never mailed again")
    else:
        click.echo(f"no lead {email}; recorded its suppression hash so it is never mailed")
    if erasure.anonymous_events:
        click.echo(f"also erased {erasure.anonymous_events} events received for that address")
