"""`nurture tick` on the command line: refusing to go back in time, and its JSON summary."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.harness import Harness

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
LEADS = "email,first_name,country,timezone\nanna@alpenblick.de,Anna,DE,Europe/Berlin\n"


def test_a_tick_earlier_than_the_latest_is_refused_unless_forced(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    harness.import_leads(LEADS, MONDAY)
    assert cli("tick", "--now", "2026-03-03T09:00:00Z").exit_code == 0
    earlier = cli("tick", "--now", "2026-03-02T09:00:00Z")
    assert earlier.exit_code == 1
    assert "earlier than the latest tick (2026-03-03T09:00:00+00:00)" in earlier.output
    assert "--force" in earlier.output
    assert cli("tick", "--now", "2026-03-03T09:00:00Z").exit_code == 0  # the same moment again is fine
    forced = cli("tick", "--now", "2026-03-02T09:00:00Z", "--force")
    assert forced.exit_code == 0, forced.output
    # A forced earlier tick does not lower the bar: the later one still stands.
    assert cli("tick", "--now", "2026-03-02T10:00:00Z").exit_code == 1


def test_tick_json_reports_what_was_done(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    import json

    harness.import_leads(LEADS, MONDAY)
    result = cli("tick", "--now", "2026-03-02T08:30:00Z", "--json")
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["now"] == "2026-03-02T08:30:00+00:00"
    assert facts["entered"] == {"trial": 1}
    assert facts["queued"] == [{"campaign": "trial", "step": "welcome", "count": 1}]
    assert facts["sending"]["sent"] == 1
    assert facts["sla"] == {"reassigned": 0, "escalated": 0, "reminded": 0, "digests": 0, "problems": []}
    assert facts["condition_failures"] == [] and facts["bounce_mailbox"] is None
    quiet = json.loads(cli("tick", "--now", "2026-03-02T09:00:00Z", "--json", "--no-send").output)
    assert quiet["entered"] == {} and quiet["sending"] is None
