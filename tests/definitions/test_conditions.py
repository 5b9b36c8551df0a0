"""Conditions: the helpers work, lead data is read-only, and Python internals stay out of reach."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from nurture.definitions import FREE_MAIL_DOMAINS, Condition, EvaluationContext, compile_condition
from nurture.definitions.problems import ConditionError, DefinitionError
from nurture.errors import Location

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class FakeEngagement:
    opens: set[str] = field(default_factory=set)
    clicks: set[str] = field(default_factory=set)

    def opened(self, ref: str) -> bool:
        return ref in self.opens

    def clicked(self, ref: str) -> bool:
        return ref in self.clicks


def holds(source: str, lead: dict[str, object] | None = None, **context: object) -> bool:
    ctx = EvaluationContext(lead=lead or {}, now=NOW, **context)  # type: ignore[arg-type]
    return compile_condition(source).evaluate(ctx)


def test_engagement_helpers_ask_the_engine() -> None:
    engagement = FakeEngagement(opens={"welcome"}, clicks={"case-study"})
    assert holds("opened('welcome') and clicked('case-study')", engagement=engagement)
    assert not holds("opened('reminder')", engagement=engagement)


def test_days_and_hours_since_count_from_now() -> None:
    lead = {"created_at": NOW - timedelta(days=3, hours=12)}
    assert holds("days_since(lead.created_at) == 3.5", lead)
    assert holds("hours_since(lead.created_at) == 84", lead)
    assert holds("days_since('2026-02-27T09:00:00Z') == 3")
    assert holds("days_since(lead.updated_at) is none", lead)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Head of Marketing", True),
        ("VP Sales", True),
        ("IT-Leiter", True),
        ("Werkstudentin", False),
        (None, False),
    ],
)
def test_the_matching_test_searches_a_regex_and_never_matches_nothing(
    title: str | None, expected: bool
) -> None:
    assert (
        holds("lead.job_title is matching('(?i)head|vp|director|chief|leiter')", {"job_title": title})
        is expected
    )


def test_free_mail_domains_cover_german_providers() -> None:
    for domain in (
        "gmail.com",
        "gmx.de",
        "web.de",
        "t-online.de",
        "posteo.de",
        "yahoo.de",
        "hotmail.de",
        "icloud.com",
    ):
        assert domain in FREE_MAIL_DOMAINS
    assert holds("lead.email_domain in free_mail_domains", {"email_domain": "gmx.de"})
    assert not holds("lead.email_domain in free_mail_domains", {"email_domain": "taktwerk.example"})


def test_every_lead_field_is_there_even_when_unknown() -> None:
    assert holds("lead.company is none and lead.attributes.plan is undefined")
    assert holds("lead.attributes.plan == 'pro'", {"attributes": {"plan": "pro"}})


def test_the_event_is_readable_in_event_conditions() -> None:
    assert holds("'/pricing' in event.url", event={"url": "https://x.example/pricing"})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("lead.__class__", "reaches into Python internals ('__class__')"),
        ("().__class__.__mro__", "reaches into Python internals"),
        ("lead['__class__']", "reaches into Python internals"),
        ("lead | attr('__dict__')", "reaches into Python internals"),
        ("lead.attributes.update({'plan': 'free'})", "calls 'update', which changes data"),
        ("lead.attributes.pop('plan')", "calls 'pop', which changes data"),
        ("9 ** 9 ** 9", "the ** operator is not available"),
        ("'x' * 1000000000", "repeating text or lists is limited"),
    ],
)
def test_reaching_python_internals_is_refused_at_check_time(source: str, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        compile_condition(source, Location("campaigns/c.yaml", 7, 12))
    assert str(caught.value).startswith("campaigns/c.yaml:7:12: ")
    assert message in caught.value.message


@pytest.mark.parametrize(
    "source",
    [
        "lead.__class__",
        "().__class__.__mro__",
        "lead.attributes.update({'plan': 'free'})",
        "lead.email.__len__()",
    ],
)
def test_reaching_python_internals_fails_safely_at_evaluation(source: str) -> None:
    # Built without the check, as a condition from an older program or a bug might be.
    attributes = {"plan": "pro"}
    condition = Condition(source, Location("c.yaml", 3, 4))
    with pytest.raises(ConditionError) as caught:
        condition.evaluate(EvaluationContext(lead={"email": "a@b.de", "attributes": attributes}, now=NOW))
    assert str(caught.value).startswith("c.yaml:3:4: condition")
    assert attributes == {"plan": "pro"}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("leed.score > 3", "unknown name 'leed'; did you mean 'lead'?"),
        ("lead.job_tile == 'x'", "unknown lead field 'job_tile'; did you mean 'job_title'?"),
        ("lead.plan == 'pro'", "custom columns are lead.attributes.plan"),
        ("lead.score >=", "is not a valid expression"),
        ("lead.score > 3 lead", "is not a valid expression"),
        ("lead.job_title is matching('(')", "is not a valid regular expression"),
        ("lead.score | nosuchfilter", "No filter named 'nosuchfilter'"),
    ],
)
def test_mistakes_in_conditions_are_explained(source: str, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        compile_condition(source)
    assert message in caught.value.message


def test_bad_data_at_evaluation_becomes_a_condition_error() -> None:
    with pytest.raises(ConditionError) as caught:
        holds("days_since(lead.attributes.signup) > 3", {"attributes": {"signup": "yesterday"}})
    assert "not an ISO-8601" in caught.value.reason
    with pytest.raises(ConditionError):
        holds("lead.score > 'x'", {"score": 3})


def test_conditions_compare_by_source_and_remember_their_place() -> None:
    condition = compile_condition("lead.score >= 100", Location("sla.yaml", 3, 7))
    assert condition == Condition("lead.score >= 100")
    assert condition.location == Location("sla.yaml", 3, 7)
    assert condition.facts.lead_fields == ("score",)
