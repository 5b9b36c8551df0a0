"""``nurture simulate``: the real engine on a moved clock, in a scratch database, nothing sent."""

from __future__ import annotations

import json

from tests.harness import Harness

LEADS = (
    "email,first_name,country,timezone\n"
    "anna@alpenblick.de,Anna,DE,Europe/Berlin\n"
    "bob@example.com,Bob,US,America/New_York\n"
)


def simulate(cli, harness: Harness, csv_text: str, *extra: str):  # type: ignore[no-untyped-def]
    (harness.root / "sim.csv").write_text(csv_text, encoding="utf-8")
    args = ["--leads", str(harness.root / "sim.csv"), "--days", "20", "--start", "2026-03-02T07:00:00Z"]
    result = cli("simulate", *args, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_simulate_shows_who_gets_what_when_and_touches_nothing(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    outcome = simulate(cli, harness, LEADS, "--no-engagement")
    sends = [(s["email"], s["step"], s["at"]) for s in outcome["sends"]]
    assert sends[0] == ("anna@alpenblick.de", "welcome", "2026-03-02T08:00:00+00:00")
    assert [s[1] for s in sends] == ["welcome", "reminder", "case-study", "last-call"]
    assert outcome["entered"] == {"trial": 1}
    assert not (harness.root / "outbox").exists()
    with harness.store.connect() as conn:  # the workspace database was not used
        assert conn.exec_driver_sql("SELECT count(*) FROM leads").scalar() == 0


def test_simulated_opens_steer_the_branches(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    rows = "".join(f"l{i}@firma{i}.de,L{i},DE,Europe/Berlin\n" for i in range(40))
    outcome = simulate(cli, harness, "email,first_name,country,timezone\n" + rows, "--open-rate", "0.5")
    steps = [s["step"] for s in outcome["sends"]]
    assert steps.count("welcome") == 40
    assert 0 < steps.count("reminder") < 40  # openers skipped the reminder
    assert outcome["engagement"]["email_open"] > 0
