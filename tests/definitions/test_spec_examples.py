"""Every definition example of the product contract loads exactly as written."""

from __future__ import annotations

from datetime import timedelta

from nurture.definitions import SLA, Campaign, SalesTeam, ScoringModel
from nurture.definitions.source import parse_documents
from nurture.definitions.steps import BranchStep, SendStep, WaitStep
from nurture.definitions.validation import validate_document

from . import spec_examples


def _load(text: str) -> object:
    [document] = parse_documents(text, "spec.yaml")
    definition, problems = validate_document(document)
    assert problems == []
    return definition


def test_the_campaign_example_loads_with_generated_step_ids() -> None:
    campaign = _load(spec_examples.CAMPAIGN)
    assert isinstance(campaign, Campaign)
    assert campaign.key == "trial-nurture"
    assert campaign.entry.on == "lead_created"
    assert campaign.re_entry is None
    assert campaign.step_ids == [
        "welcome",
        "wait-2",
        "opened-welcome",
        "reminder",
        "wait-5",
        "case-study",
        "wait-7",
        "last-call",
    ]
    assert isinstance(campaign.steps[0], SendStep) and campaign.steps[0].send.template == "trial/welcome"
    wait = campaign.step("wait-7")
    assert isinstance(wait, WaitStep) and wait.duration == timedelta(days=5)
    assert wait.until is not None and wait.until.source == "clicked('case-study')"
    branch = campaign.step("opened-welcome")
    assert isinstance(branch, BranchStep) and (branch.branch.then, branch.branch.else_) == (
        "case-study",
        "reminder",
    )
    assert campaign.send_window is not None and campaign.send_window.weekly.days == frozenset(range(5))


def test_the_scoring_model_example_loads() -> None:
    model = _load(spec_examples.SCORING_MODEL)
    assert isinstance(model, ScoringModel)
    assert [rule.points for rule in model.behavior] == [1, 5, 10, 5, 15, 20, -20]
    assert model.behavior[0].max_per_day == 3
    assert model.decay is not None and model.decay.half_life == timedelta(days=30)


def test_the_sla_example_loads() -> None:
    sla = _load(spec_examples.SLA)
    assert isinstance(sla, SLA)
    assert sla.accept_within == timedelta(hours=4)
    assert sla.recycle is not None and (sla.recycle.campaign, sla.recycle.score) == (
        "recycle-nurture",
        "halve",
    )


def test_the_sales_team_example_loads() -> None:
    team = _load(spec_examples.SALES_TEAM)
    assert isinstance(team, SalesTeam)
    assert [rep.id for rep in team.reps] == ["anna", "ben"]
    assert team.rep("ben").territories == ("AT", "CH", "DE")
    assert team.rep("anna").working_hours.weekly.days == frozenset(range(5))


def test_all_four_examples_load_from_one_file() -> None:
    documents = parse_documents(spec_examples.ALL, "spec.yaml")
    kinds = [validate_document(d)[0].kind for d in documents]  # type: ignore[union-attr]
    assert kinds == ["Campaign", "ScoringModel", "SLA", "SalesTeam"]
