"""A condition that fails at run time is reported once per rule with a count, not once per lead."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.harness import Harness
from tests.program import TRIAL, write_program

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
LEADS = "email,first_name,country,signup\n" + "".join(
    f"lead{i}@alpenblick.de,L{i},DE,not-a-date\n" for i in range(5)
)


def test_a_failing_entry_condition_is_one_problem_with_a_count(harness: Harness) -> None:
    entry = "lead.country in ['DE', 'AT', 'CH']"
    write_program(harness.root, TRIAL.replace(entry, "days_since(lead.attributes.signup) < 30"))
    harness.import_leads(LEADS, MONDAY)
    report = harness.tick(MONDAY)
    problems = [line for line in report.lines() if "problem" in line]
    assert len(problems) == 1, problems
    assert "campaigns/trial.yaml:5:" in problems[0]
    assert "failed for 5 leads" in problems[0]
    assert "not an ISO-8601" in problems[0]


def test_a_failing_branch_condition_is_one_problem_with_a_count(harness: Harness) -> None:
    write_program(harness.root, TRIAL.replace("opened('welcome')", "days_since(lead.attributes.signup) > 1"))
    harness.import_leads(LEADS, MONDAY)
    harness.tick(MONDAY)
    report = harness.tick(datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    problems = [line for line in report.lines() if "problem" in line]
    assert len(problems) == 1, problems
    assert "failed for 5 leads" in problems[0]
    assert report.ended == {("failed", "trial: a condition failed"): 5}


def test_missing_custom_attributes_do_not_fail_a_campaign(harness: Harness) -> None:
    entry = "lead.country in ['DE', 'AT', 'CH']"
    write_program(harness.root, TRIAL.replace(entry, "lead.attributes.plan != 'enterprise'"))
    harness.import_leads("email,first_name,country\nanna@alpenblick.de,Anna,DE\n", MONDAY)
    report = harness.tick(MONDAY)
    assert report.entered == {"trial": 1}
    assert report.problem_lines() == []
