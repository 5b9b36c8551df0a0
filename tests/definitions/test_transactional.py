"""Transactional mail in the definitions: per step or per campaign, refused where it is promotional."""

from __future__ import annotations

from nurture.definitions import check_workspace, load_program
from nurture.definitions.problems import Problem

from .conftest import WorkspaceFactory

NO_LINK = "<html><body>Ihr Zugang: https://taktwerk.example/webinar</body></html>\n"


def shown(problems: tuple[Problem, ...], severity: str = "error") -> list[str]:
    return [str(p) for p in problems if p.severity == severity]


def campaign(entry: str, mail: str = "", kind: str = "") -> str:
    return (
        f"kind: Campaign\nkey: webinar\nentry: {entry}\n{mail}steps:\n"
        f"  - id: access\n    send: {{template: access, subject: Zugang{kind}}}\n"
        "  - id: offer\n    send: {template: access, subject: Angebot}\n"
    )


def test_a_step_or_a_whole_campaign_is_transactional(make_workspace: WorkspaceFactory) -> None:
    files = {
        "campaigns/w.yaml": campaign("{on: event, type: webinar_registered}", kind=", kind: transactional"),
        "templates/access.html": NO_LINK,
    }
    program = load_program(make_workspace(files))
    webinar = program.campaign("webinar")
    access, offer = webinar.send_steps
    assert (webinar.mail_kind(access), webinar.mail_kind(offer), webinar.sends_transactional) == (
        "transactional", "marketing", True,
    )  # fmt: skip
    files["campaigns/w.yaml"] = campaign("{on: manual}", mail="mail: transactional\n")
    program = load_program(make_workspace(files))
    assert {program.campaign("webinar").mail_kind(s) for s in program.campaign("webinar").send_steps} == {
        "transactional"
    }


def test_transactional_mail_needs_no_unsubscribe_link_marketing_mail_does(
    make_workspace: WorkspaceFactory,
) -> None:
    files = {
        "campaigns/w.yaml": campaign("{on: manual}", mail="mail: transactional\n"),
        "templates/access.html": NO_LINK,
    }
    assert not [
        p for p in shown(check_workspace(make_workspace(files)).problems, "warning") if "unsubscribe" in p
    ]
    files["campaigns/w.yaml"] = campaign("{on: manual}")
    warnings = shown(check_workspace(make_workspace(files)).problems, "warning")
    assert (
        "templates/access.html: warning: no {{ unsubscribe_url }} in the template or its layout; "
        "marketing email needs one"
    ) in warnings


def test_check_refuses_transactional_mail_in_a_segment_campaign(make_workspace: WorkspaceFactory) -> None:
    entry = "{on: segment, where: \"lead.country == 'DE'\"}"
    files = {
        "campaigns/w.yaml": campaign(entry, mail="mail: transactional\n"),
        "templates/access.html": NO_LINK,
    }
    assert shown(check_workspace(make_workspace(files)).problems) == [
        "campaigns/w.yaml:4:7: transactional mail ('access', 'offer') in a campaign entered by segment: "
        "mail to a selection of leads is marketing; make it marketing, or enter the campaign on the lead's "
        "own event"
    ]
    files["campaigns/w.yaml"] = campaign(entry, kind=", kind: transactional")
    (error,) = shown(check_workspace(make_workspace(files)).problems)
    assert error.startswith(
        "campaigns/w.yaml:6:53: transactional mail ('access') in a campaign entered by segment"
    )
