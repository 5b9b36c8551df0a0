"""Rescore: every lead scored by the model as it is now; facts that are not rules survive."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from nurture.daemon import jobs
from nurture.guards.audit import AuditEntry, audit_entries, daemon_actor
from nurture.reports.lead_profile import lead_profile
from nurture.sales.actions import reject
from nurture.scoring import score_breakdown
from nurture.scoring.rescore import rescore
from nurture.scoring.version import model_version
from tests.sales.desk import MONDAY, SCORING, Desk, write_workspace

TWINS = (
    "email,first_name,last_name,company,job_title,company_size,country,timezone\n"
    "ada@alpenblick.de,Ada,Wolf,Alpenblick GmbH,Engineer,20,DE,Europe/Berlin\n"
    "bea@alpenblick.de,Bea,Wolf,Alpenblick GmbH,Engineer,20,DE,Europe/Berlin\n"
)
LATER = MONDAY + timedelta(days=2)


@pytest.fixture
def desk(desk: Desk) -> Desk:
    desk.import_leads(TWINS)
    return desk


def edit_model(desk: Desk, old: str, new: str) -> None:
    write_workspace(desk.root, scoring=SCORING.replace(old, new))
    desk.reload()


def chain(desk: Desk) -> dict[str, Any]:
    """What follows a rescore's rising scores: the desk's lifecycle chain and its zone."""
    return {"then": desk.lifecycle.scores_rose, "default_zone": desk.lifecycle.sales.default_zone}


def scores(desk: Desk) -> tuple[float, float]:
    return desk.lead("ada@alpenblick.de").score, desk.lead("bea@alpenblick.de").score


def test_after_an_edit_two_identical_leads_score_alike_once_rescored(desk: Desk) -> None:
    desk.record("ada@alpenblick.de", "email_click", MONDAY)
    edit_model(desk, "{event: email_click, points: 5}", "{event: email_click, points: 8}")
    desk.record("bea@alpenblick.de", "email_click", MONDAY)
    assert scores(desk) == (5, 8)  # the edit left Ada scored by the old rule
    report = rescore(desk.store, desk.program, MONDAY, **chain(desk))
    assert (report.leads, report.changed, report.lines) == (2, 1, 1)
    assert scores(desk) == (8, 8)
    line = desk.ledger("ada@alpenblick.de")[-1]
    version = model_version(desk.program.scoring_model)  # type: ignore[arg-type]
    assert (line.points, line.kind, line.rule) == (3, "rescore", "behavior: email_click")
    assert version in line.reason
    with desk.store.connect() as conn:
        why = score_breakdown(conn, desk.lead_id("ada@alpenblick.de"), desk.program, MONDAY)
    assert [(line.rule, line.points, line.count) for line in why.behavior_lines] == [
        ("behavior: email_click", 8, 2)
    ]


def test_a_second_rescore_changes_nothing_even_days_later(desk: Desk) -> None:
    for minute in range(5):
        desk.record("ada@alpenblick.de", "email_open", MONDAY + timedelta(minutes=minute))
    edit_model(
        desk,
        "{event: email_open, points: 1, max_per_day: 3}",
        "{event: email_open, points: 2, max_per_day: 4}",
    )
    first = rescore(desk.store, desk.program, LATER, **chain(desk))
    assert first.changed == 1
    # Four of the five opens now count, 2 points each, faded over two days of a 30-day half-life.
    faded = [2 * 0.5 ** ((LATER - MONDAY - timedelta(minutes=m)) / timedelta(days=30)) for m in range(4)]
    assert desk.lead("ada@alpenblick.de").behavior_score == pytest.approx(sum(faded))
    assert rescore(desk.store, desk.program, LATER, **chain(desk)).changed == 0
    assert rescore(desk.store, desk.program, LATER + timedelta(days=9), **chain(desk)).changed == 0


def test_fit_rules_are_recomputed_and_removed_rules_brought_to_zero(desk: Desk) -> None:
    desk.record("ada@alpenblick.de", "email_click", MONDAY)
    assert desk.lead("ada@alpenblick.de").fit_score == 0  # 20 employees: not mid-sized
    scoring = SCORING.replace("50 <= (lead.company_size", "10 <= (lead.company_size").replace(
        "  - {event: email_click, points: 5}\n", ""
    )
    write_workspace(desk.root, scoring=scoring)
    desk.reload()
    rescore(desk.store, desk.program, MONDAY, **chain(desk))
    ada = desk.lead("ada@alpenblick.de")
    assert (ada.fit_score, ada.behavior_score, ada.score) == (10, 0, 10)
    kinds = [(line.kind, line.points) for line in desk.ledger("ada@alpenblick.de")]
    assert kinds[-2:] == [("fit", 10), ("rescore", -5)]


def test_a_dry_run_changes_nothing_and_says_what_would(desk: Desk) -> None:
    desk.record("ada@alpenblick.de", "email_click", MONDAY)
    edit_model(desk, "{event: email_click, points: 5}", "{event: email_click, points: 50}")
    lines_before = len(desk.ledger("ada@alpenblick.de"))
    report = rescore(desk.store, desk.program, MONDAY, dry_run=True, **chain(desk))
    assert report.changed == 1
    assert report.as_dict()["largest_moves"] == [{"email": "ada@alpenblick.de", "before": 5, "after": 50}]
    assert len(desk.ledger("ada@alpenblick.de")) == lines_before
    assert desk.lead("ada@alpenblick.de").score == 5


def test_new_mqls_are_capped_per_run_and_the_rest_follow_later(desk: Desk) -> None:
    for email in ("ada@alpenblick.de", "bea@alpenblick.de"):
        desk.record(email, "webinar_attended", MONDAY)
    edit_model(desk, "{event: webinar_attended, points: 20}", "{event: webinar_attended, points: 120}")
    first = rescore(desk.store, desk.program, MONDAY, max_mqls=1, **chain(desk))
    assert (first.new_mqls, first.deferred) == (1, 1)
    assert sorted(desk.stage(e) for e in ("ada@alpenblick.de", "bea@alpenblick.de")) == ["lead", "mql"]
    second = rescore(desk.store, desk.program, MONDAY, max_mqls=1, **chain(desk))
    assert (second.new_mqls, second.deferred) == (1, 0)
    assert [desk.stage(e) for e in ("ada@alpenblick.de", "bea@alpenblick.de")] == ["mql", "mql"]
    assert desk.handoffs("bea@alpenblick.de")  # routed as usual


def test_a_recycle_halving_survives_a_rescore(desk: Desk) -> None:
    desk.make_mql("ada@alpenblick.de", MONDAY)
    desk.act(reject, "ada@alpenblick.de", MONDAY + timedelta(hours=1), reason="no budget", actor="anna")
    halved = desk.lead("ada@alpenblick.de").behavior_score
    assert rescore(desk.store, desk.program, MONDAY + timedelta(hours=1), **chain(desk)).changed == 0
    assert desk.lead("ada@alpenblick.de").behavior_score == pytest.approx(halved)
    edit_model(desk, "{event: email_click, points: 5}", "{event: email_click, points: 6}")
    rescore(desk.store, desk.program, MONDAY + timedelta(hours=1), **chain(desk))
    assert desk.stage("ada@alpenblick.de") == "recycled"
    assert [line.kind for line in desk.ledger("ada@alpenblick.de")].count("recycle") == 1


def test_leads_show_names_the_model_version_the_rescore_wrote(desk: Desk) -> None:
    desk.record("ada@alpenblick.de", "email_click", MONDAY)
    edit_model(desk, "{event: email_click, points: 5}", "{event: email_click, points: 7}")
    rescore(desk.store, desk.program, MONDAY, **chain(desk))
    with desk.store.connect() as conn:
        profile = lead_profile(conn, "ada@alpenblick.de", desk.program, MONDAY)
    version = profile["score_model_version"]
    assert len(version) == 12
    assert profile["score_events"][-1]["reason"] == f"rescored under model {version}"
    edit_model(desk, "{event: email_click, points: 5}", "{event: email_click, points: 9}")
    assert model_version(desk.program.scoring_model) != version  # type: ignore[arg-type]


def test_the_daemon_rescores_once_per_model_version_in_batches(desk: Desk) -> None:
    from types import SimpleNamespace

    from nurture.daemon import jobs

    desk.record("ada@alpenblick.de", "email_click", MONDAY)
    edit_model(desk, "{event: email_click, points: 5}", "{event: email_click, points: 7}")
    runtime: Any = SimpleNamespace(db=desk.store, workspace=desk.workspace)
    version: Any = SimpleNamespace(program=desk.program, lifecycle=desk.lifecycle)
    first = jobs._rescore(runtime, version, MONDAY)
    assert (first.fields["leads"], first.fields["changed"]) == (2, 1)
    assert desk.lead("ada@alpenblick.de").score == 7
    assert jobs._rescore(runtime, version, MONDAY).fields["status"] == "done"
    edit_model(desk, "{event: email_click, points: 5}", "{event: email_click, points: 4}")
    # A reload brought another model.
    version = SimpleNamespace(program=desk.program, lifecycle=desk.lifecycle)
    assert jobs._rescore(runtime, version, MONDAY).fields["changed"] == 1
    assert desk.lead("ada@alpenblick.de").score == 4


def rescores_audited(desk: Desk) -> list[AuditEntry]:
    with desk.store.connect() as conn:
        return audit_entries(conn, action="rescore")


def test_a_rescore_from_the_command_line_is_audited_and_a_dry_run_is_not(desk: Desk, cli: Any) -> None:
    desk.record("ada@alpenblick.de", "email_click", MONDAY)
    edit_model(desk, "{event: email_click, points: 5}", "{event: email_click, points: 50}")
    env = {"NURTURE_NOW": LATER.isoformat()}
    dry = cli("score", "rescore", "--dry-run", "--actor", "mara", env=env)
    assert dry.exit_code == 0, dry.output
    assert rescores_audited(desk) == []
    done = cli("score", "rescore", "--actor", "mara", env=env)
    assert done.exit_code == 0, done.output
    [entry] = rescores_audited(desk)
    assert desk.program.scoring_model is not None
    assert (entry.actor, entry.subject) == ("mara", f"model:{model_version(desk.program.scoring_model)}")
    assert entry.at == LATER
    assert entry.detail == {"leads": 2, "changed": 1, "new_mqls": 0, "deferred": 0}


def test_the_daemons_rescore_is_audited_once_per_model_under_its_own_name(desk: Desk) -> None:
    desk.record("ada@alpenblick.de", "email_click", MONDAY)
    edit_model(desk, "{event: email_click, points: 5}", "{event: email_click, points: 7}")
    runtime: Any = SimpleNamespace(db=desk.store, workspace=desk.workspace)
    version: Any = SimpleNamespace(program=desk.program, lifecycle=desk.lifecycle)
    jobs._rescore(runtime, version, MONDAY)
    jobs._rescore(runtime, version, MONDAY)  # the pass is done: nothing more to record
    [entry] = rescores_audited(desk)
    assert desk.program.scoring_model is not None
    assert (entry.actor, entry.action) == (daemon_actor(), "rescore")
    assert entry.subject == f"model:{model_version(desk.program.scoring_model)}"
    assert entry.detail == {"pass": "complete", "last_run": {"leads": 2, "changed": 1, "new_mqls": 0}}


def test_a_rescore_credit_for_todays_event_counts_toward_the_rules_daily_cap(desk: Desk) -> None:
    """A rule added with max_per_day: 1 credits the day's first event by a rescore; the day's
    next event must not score it again. A credit for last week's event takes nothing from today."""
    morning = MONDAY + timedelta(hours=1)
    desk.record("ada@alpenblick.de", "newsletter_subscribe", morning, now=morning)
    desk.record("bea@alpenblick.de", "newsletter_subscribe", morning - timedelta(days=7), now=morning)
    edit_model(
        desk,
        "  - {event: unsubscribe, points: -20}\n",
        "  - {event: unsubscribe, points: -20}\n"
        "  - {event: newsletter_subscribe, points: 5, max_per_day: 1}\n",
    )
    rescore(desk.store, desk.program, morning + timedelta(hours=1), **chain(desk))
    ada_before, bea_before = scores(desk)
    later = morning + timedelta(hours=2)
    desk.record("ada@alpenblick.de", "newsletter_subscribe", later, now=later)
    desk.record("bea@alpenblick.de", "newsletter_subscribe", later, now=later)
    ada, bea = scores(desk)
    assert ada == pytest.approx(
        ada_before, abs=0.1
    )  # faded an hour; the cap of one a day is used by the rescore's credit
    assert bea == pytest.approx(bea_before + 5, abs=0.1)
    again = rescore(desk.store, desk.program, later, **chain(desk))
    assert again.changed == 0  # the replay agrees with what the live cap did
