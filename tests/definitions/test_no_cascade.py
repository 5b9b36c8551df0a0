"""A mistake in one definition is reported once, where it is, and never as false ones elsewhere."""

from __future__ import annotations

from nurture.definitions import check_workspace
from tests.program import SLA_AND_TEAM

from .conftest import RECYCLE, WorkspaceFactory


def errors(workspace: object) -> list[str]:
    return [str(p) for p in check_workspace(workspace).problems if p.severity == "error"]  # type: ignore[arg-type]


def test_a_typo_in_the_sla_is_not_also_a_missing_sla(make_workspace: WorkspaceFactory) -> None:
    broken = SLA_AND_TEAM.replace("accept_within: 4h", "accept_witin: 4h")
    assert errors(make_workspace({"campaigns/sales.yaml": broken})) == [
        "campaigns/sales.yaml:5:1: unknown key 'accept_witin'; did you mean 'accept_within'?"
    ]


def test_a_broken_team_or_recycle_campaign_is_not_also_missing(make_workspace: WorkspaceFactory) -> None:
    team = SLA_AND_TEAM.replace("routing: round_robin", "routing: round_robn")
    recycle = RECYCLE.replace("entry: {on: manual}", "entry: {on: manul}")
    found = errors(make_workspace({"campaigns/sales.yaml": team, "campaigns/recycle.yaml": recycle}))
    assert len(found) == 2, found
    assert "round_robn" in found[0] or "round_robn" in found[1]
    assert not any("no sales team" in e or "no campaign" in e for e in found)


def test_a_broken_campaign_still_has_its_templates_checked_in_the_same_run(
    make_workspace: WorkspaceFactory,
) -> None:
    campaign = (
        "kind: Campaign\nkey: c\nentry: {on: manual}\nsteps:\n"
        "  - send: {template: helo, subject: hi}\n"
        '  - branch: {if: "lead.scor > 3", then: x}\n'
        "  - id: x\n    exit: done\n"
    )
    found = errors(make_workspace({"campaigns/c.yaml": campaign}))
    assert any("unknown lead field 'scor'" in e for e in found), found
    assert any("template 'helo' not found" in e for e in found), found
