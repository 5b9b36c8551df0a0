"""The fit scorer prepared once per model answers exactly what the rules answer one by one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nurture.definitions import FitRule, ScoringModel, compile_condition
from nurture.definitions.quick import quick
from nurture.scoring.fit_scorer import fit_scorer
from nurture.scoring.rules import LeadConditions
from tests.scoring.straightforward_rescore import fit_points

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def rule(when: str, points: int, reason: str | None = None) -> FitRule:
    return FitRule(when=compile_condition(when), points=points, reason=reason)


RULES = (
    rule("lead.country in ['DE', 'AT', 'CH']", 5, "DACH"),  # the quick path
    rule("(lead.job_title or '') | lower in ['head of it', 'director']", 15, "Decision maker"),  # remembered
    rule("lead.company_size > 50", 10, "Mid-sized"),  # quick, but a missing size goes to the sandbox
    rule("lead.country in ['DE', 'AT', 'CH']", 3, "DACH again"),  # a twin: its own label
    rule("lead.country in ['DE', 'AT', 'CH']", 3),  # another twin, told apart by position
    rule("lead.email_domain in free_mail_domains", -10, "Free mail"),
    rule("lead.score > 0", 0, "Worth nothing"),  # never asked
    rule("now.year >= 2026 and lead.country == 'AT'", 2, "Austria this year"),  # reads the time
)
MODEL = ScoringModel(kind="ScoringModel", fit=RULES)

LEADS: list[dict[str, Any]] = [
    {"country": "DE", "job_title": "Head of IT", "company_size": 250, "email_domain": "firma.de", "score": 3},
    {"country": "AT", "job_title": "Engineer", "company_size": None, "email_domain": "gmail.com", "score": 0},
    {"country": None, "job_title": None, "company_size": "many", "email_domain": "web.de", "score": -1},
    {"country": "FR", "job_title": "Director", "company_size": 50, "email_domain": "x.fr", "score": 9},
]


def test_the_scorer_gives_each_lead_the_points_of_the_rules_asked_one_by_one() -> None:
    assert quick(RULES[0].when) is not None and quick(RULES[1].when) is None
    scorer = fit_scorer(MODEL)
    for lead in LEADS:
        expected = fit_points(RULES, lead, LeadConditions(NOW))
        assert scorer.points(lead, LeadConditions(NOW)) == expected
    first = scorer.points(LEADS[0], LeadConditions(NOW))
    assert first == {
        "fit: lead.country in ['DE', 'AT', 'CH'] (DACH)": 5.0,
        "fit: (lead.job_title or '') | lower in ['head of it', 'director']": 15.0,
        "fit: lead.company_size > 50": 10.0,
        "fit: lead.country in ['DE', 'AT', 'CH'] (DACH again)": 3.0,
        "fit: lead.country in ['DE', 'AT', 'CH'] #5": 3.0,
    }
    austria = scorer.points(LEADS[1], LeadConditions(NOW))
    assert austria["fit: now.year >= 2026 and lead.country == 'AT'"] == 2.0
    assert austria["fit: lead.email_domain in free_mail_domains"] == -10.0
    assert scorer.reasons["fit: lead.score > 0"] == "Worth nothing"


def test_a_scorer_is_prepared_once_per_loaded_model() -> None:
    assert fit_scorer(MODEL) is fit_scorer(MODEL)
    reloaded = ScoringModel(kind="ScoringModel", fit=RULES[:1])
    assert fit_scorer(reloaded) is not fit_scorer(MODEL)
    assert fit_scorer(reloaded).points(LEADS[0], LeadConditions(NOW)) == {
        "fit: lead.country in ['DE', 'AT', 'CH']": 5.0
    }
    assert fit_scorer(None).points(LEADS[0], LeadConditions(NOW)) == {}
