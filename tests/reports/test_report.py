"""``nurture report``: funnel, campaign and SLA figures from the recorded history."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nurture.reports.report import Report, ReportOptions
from nurture.reports.workspace_report import workspace_report
from nurture.store.schema import events, handoffs, leads, messages, stage_changes
from tests.browser import chromium, chromium_command
from tests.harness import Harness

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
LEADS = (
    "email,first_name,country,timezone\n"
    "anna@alpenblick.de,Anna,DE,Europe/Berlin\n"
    "jens@rheinwerk.de,Jens,DE,Europe/Berlin\n"
    "lea@nordlicht.de,Lea,DE,Europe/Berlin\n"
)


def engaged_history(h: Harness) -> None:
    """Three leads emailed; Anna opens twice and clicks, a scanner clicks Jens's mail; Anna goes to sales."""
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    with h.store.begin() as conn:
        ids = dict(conn.execute(select(leads.c.email, leads.c.id)).all())
        message_of = dict(conn.execute(select(messages.c.lead_id, messages.c.id)).all())
        conn.execute(messages.update().values(status="sent", sent_at=MONDAY))

        def event(email: str, type_: str, machine: str | None = None) -> dict[str, object]:
            return {
                "lead_id": ids[email], "message_id": message_of[ids[email]], "type": type_,
                "campaign_key": "trial", "step_id": "welcome", "occurred_at": MONDAY + timedelta(hours=1),
                "received_at": MONDAY, "machine_reason": machine, "properties": {}, "url": None,
            }  # fmt: skip

        conn.execute(
            events.insert(),
            [
                event("anna@alpenblick.de", "email_open"),
                event("anna@alpenblick.de", "email_open"),
                event("anna@alpenblick.de", "email_click"),
                event("jens@rheinwerk.de", "email_click", "link_scanner"),
            ],
        )
        for stage, at in (("mql", MONDAY + timedelta(hours=2)), ("sal", MONDAY + timedelta(hours=3))):
            conn.execute(
                stage_changes.insert().values(
                    lead_id=ids["anna@alpenblick.de"],
                    from_stage=None,
                    to_stage=stage,
                    at=at,
                    reason="t",
                    actor="t",
                )
            )
        conn.execute(
            handoffs.insert().values(
                lead_id=ids["anna@alpenblick.de"], team_key="dach-sales", rep_id="anna", status="accepted",
                assigned_at=MONDAY + timedelta(hours=2), accept_due_at=MONDAY + timedelta(hours=6),
                responded_at=MONDAY + timedelta(hours=3),
            )
        )  # fmt: skip


NOW = MONDAY + timedelta(days=1)


def report_of(h: Harness, **options: Any) -> Report:
    from nurture.definitions import load_program
    from nurture.workspace import Workspace

    with h.store.connect() as conn:
        program = load_program(Workspace(h.root))
        return workspace_report(conn, program, h.root, ReportOptions(now=options.pop("now", NOW), **options))


def test_the_report_counts_people_and_machines_apart(harness: Harness) -> None:
    engaged_history(harness)
    report = report_of(harness)
    funnel = {s.stage: (s.reached, s.rate) for s in report.funnel.stages}
    assert funnel["lead"] == (3, 1.0)
    assert funnel["mql"] == (1, pytest.approx(1 / 3, abs=1e-4))
    assert funnel["sal"] == (1, 1.0)
    (trial,) = [c for c in report.campaigns if c.campaign == "trial"]
    assert (trial.entered, trial.active) == (3, 3)
    (welcome,) = trial.steps
    assert (welcome.sent, welcome.opened, welcome.clicked) == (3, 1, 1)
    assert (welcome.machine_opens, welcome.machine_clicks) == (0, 1)
    assert welcome.open_rate == pytest.approx(1 / 3, abs=1e-4)
    assert (report.sla.handoffs, report.sla.accepted_in_time, report.sla.breaches) == (1, 1, 0)
    # No sales team in this program: the answer is counted in wall-clock hours.
    assert report.sla.median_hours_to_answer == 1.0


def test_a_period_leaves_out_what_happened_outside_it(harness: Harness) -> None:
    engaged_history(harness)
    later = report_of(harness, since=MONDAY + timedelta(days=1), now=MONDAY + timedelta(days=2))
    assert later.cohort == 0 and all(stage.reached == 0 for stage in later.funnel.stages)
    assert all(c.entered == 0 and not c.steps for c in later.campaigns) and later.sla.handoffs == 0


def test_report_json_and_html_page(harness: Harness, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engaged_history(harness)
    result = cli("report", "--json", env={"NURTURE_NOW": NOW.isoformat()})
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    mql = data["funnel"][1]
    assert (mql["stage"], mql["reached"], mql["rate"]) == ("mql", 1, pytest.approx(1 / 3, abs=1e-4))
    trial = next(c for c in data["campaigns"] if c["campaign"] == "trial")
    assert trial["steps"][0]["open_rate"] == pytest.approx(1 / 3, abs=1e-4)
    paused = cli("pause", "trial", "--actor", "<b>mara</b>", "--reason", "<i>list check</i>")
    assert paused.exit_code == 0, paused.output
    page = tmp_path / "report.html"
    html_result = cli("report", "--html", str(page))
    assert html_result.exit_code == 0, html_result.output
    html = page.read_text(encoding="utf-8")
    assert "<svg" in html and "trial" in html and "<script" not in html
    audit = html[html.index('<h2 id="audit">') :]
    audit = audit[: audit.index("</table>")]
    assert "<th>who</th>" in audit and "<td>pause</td>" in audit and "<td>campaign:trial</td>" in audit
    assert "&lt;b&gt;mara&lt;/b&gt;" in audit and "<b>mara" not in html  # the actor, escaped
    assert "&lt;i&gt;list check&lt;/i&gt;" in audit and "<i>list" not in html  # the reason, escaped
    text = cli("report")
    assert "Funnel" in text.output and "welcome" in text.output


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_the_report_page_renders_in_a_real_browser(harness: Harness, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engaged_history(harness)
    assert cli("pause", "--actor", "<b>mara</b>").exit_code == 0
    page = tmp_path / "report.html"
    cli("report", "--html", str(page))
    dom = chromium(page.as_uri(), tmp_path / "profile")
    assert "Sales and the SLA" in dom and "welcome" in dom
    audit = dom[dom.index('id="audit"') :]
    audit = audit[: audit.index("</table>")]
    assert "<td>pause</td>" in audit and "<td>&lt;b&gt;mara&lt;/b&gt;</td>" in audit  # text, not markup
    shot = tmp_path / "report.png"
    taking = chromium_command(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1000,1200")
    subprocess.run([*taking, page.as_uri()], capture_output=True, timeout=60, check=True)
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


def test_the_report_reads_while_the_daemon_writes(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    """A report over a large history reads for minutes: it must not hold the database's write
    lock meanwhile (on SQLite it took it at its start, and the daemon's writes waited or failed)."""
    engaged_history(harness)
    with harness.store.begin() as writing:  # a write under way for the whole report
        writing.execute(messages.update().values(attempts=messages.c.attempts))
        result = cli("report", "--json", env={"NURTURE_NOW": NOW.isoformat()})
        stale = cli("leads", "list", "--stage", "sal", "--stale", env={"NURTURE_NOW": NOW.isoformat()})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["funnel"][1]["reached"] == 1
    assert stale.exit_code == 0, stale.output
