"""An entry's event type that nothing else uses is a likely typo: warned with the nearest name."""

from __future__ import annotations

from nurture.definitions import check_workspace

from .conftest import WorkspaceFactory


def event_campaign(event_type: str, key: str = "webinar") -> str:
    return (
        f"kind: Campaign\nkey: {key}\nentry: {{on: event, type: {event_type}}}\nsteps:\n"
        "  - send: {template: hello, subject: hi}\n"
    )


def warnings(workspace: object, recorded: tuple[str, ...] = ()) -> list[str]:
    report = check_workspace(workspace, recorded)  # type: ignore[arg-type]
    return [str(p) for p in report.problems if p.severity == "warning"]


def test_a_misspelt_entry_type_is_warned_with_the_nearest_known_name(
    make_workspace: WorkspaceFactory,
) -> None:
    workspace = make_workspace({"campaigns/w.yaml": event_campaign("webinar_registerd")})
    assert warnings(workspace) == [
        "campaigns/w.yaml:3:26: warning: no scoring rule, other entry or recorded event uses event type "
        "'webinar_registerd'; did you mean 'webinar_registered'? (fine if it is a custom event still to "
        "arrive)"
    ]


def test_types_scored_recorded_or_shared_by_entries_are_known(make_workspace: WorkspaceFactory) -> None:
    scoring = "kind: ScoringModel\nname: s\nbehavior:\n  - {event: trial_extended, points: 5}\n"
    workspace = make_workspace(
        {
            "campaigns/w.yaml": event_campaign("webinar_registered"),
            "campaigns/t.yaml": event_campaign("trial_extended", "t"),
            "campaigns/s.yaml": scoring,
            "campaigns/p.yaml": event_campaign("partner_referral", "p"),
            "campaigns/q.yaml": event_campaign("partner_referral", "q"),
            "campaigns/r.yaml": event_campaign("sso_enabled", "r"),
        }
    )
    assert warnings(workspace, ("sso_enabled",)) == []
    [warning] = warnings(workspace)
    assert (
        warning.startswith("campaigns/r.yaml:3:26: warning: no scoring rule")
        and "did you mean" not in warning
    )


def test_check_counts_event_types_recorded_in_the_database(cli, workspace, store) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from nurture.store.schema import events, leads
    from tests.definitions.conftest import LAYOUT, RECYCLE, SALES

    files = {
        "campaigns/sales.yaml": SALES,
        "campaigns/recycle.yaml": RECYCLE,
        "campaigns/w.yaml": event_campaign("sso_enabld"),
        "templates/layout.html": LAYOUT,
        "templates/hello.html": '{% extends "layout.html" %}{% block content %}Hallo{% endblock %}',
    }
    for name, text in files.items():
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text(text, encoding="utf-8")
    result = cli("check")
    assert "did you mean" not in result.output and "warning: no scoring rule" in result.output
    now = datetime(2026, 3, 2, tzinfo=UTC)
    with store.begin() as conn:
        lead_id = conn.execute(
            insert(leads).values(email="a@b.de", email_domain="b.de", created_at=now, updated_at=now)
        ).inserted_primary_key[0]
        conn.execute(
            insert(events).values(
                lead_id=lead_id, type="sso_enabled", occurred_at=now, received_at=now, properties={}
            )
        )
    result = cli("check")
    assert "did you mean 'sso_enabled'?" in result.output, result.output
