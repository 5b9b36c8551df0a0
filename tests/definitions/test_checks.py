"""Checks across documents and templates, each reported at the place to fix."""

from __future__ import annotations

import pytest

from nurture.definitions import InvalidProgram, check_workspace, load_program
from nurture.definitions.problems import Problem

from .conftest import WorkspaceFactory


def messages(problems: tuple[Problem, ...] | list[Problem], severity: str = "error") -> list[str]:
    return [str(p) for p in problems if p.severity == severity]


def campaign(steps: str, key: str = "c", entry: str = "{on: manual}") -> str:
    return f"kind: Campaign\nkey: {key}\nentry: {entry}\nsteps:\n{steps}"


def test_a_valid_program_has_no_errors_and_notes_a_missing_scoring_model(
    make_workspace: WorkspaceFactory,
) -> None:
    report = check_workspace(make_workspace())
    assert report.ok
    assert messages(report.problems, "note") == [
        "campaigns: note: no ScoringModel: leads are scored by score steps only"
    ]
    program = load_program(make_workspace())
    assert program.campaign("recycle").key == "recycle"
    assert program.sla.route_to == "dach-sales"
    assert program.team("dach-sales").rep("anna").name == "Anna Schmidt"
    assert program.scoring_model is None


def test_lookups_of_unknown_names_suggest_the_nearest(make_workspace: WorkspaceFactory) -> None:
    program = load_program(make_workspace())
    with pytest.raises(KeyError, match="no campaign 'recycel'; did you mean 'recycle'"):
        program.campaign("recycel")


def test_branch_and_goto_targets_must_exist(make_workspace: WorkspaceFactory) -> None:
    steps = (
        "  - id: first\n    wait: 1d\n"
        '  - branch: {if: "lead.score > 5", then: frist, else: nowhere}\n'
        "  - goto: first\n"
    )
    report = check_workspace(make_workspace({"campaigns/c.yaml": campaign(steps)}))
    assert messages(report.problems) == [
        "campaigns/c.yaml:7:42: no step with id 'frist' in this campaign; did you mean 'first'?",
        "campaigns/c.yaml:7:55: no step with id 'nowhere' in this campaign",
    ]


def test_step_ids_must_be_unique_including_generated_ones(make_workspace: WorkspaceFactory) -> None:
    steps = "  - id: a\n    wait: 1d\n  - id: a\n    wait: 2d\n  - id: wait-4\n    wait: 1d\n  - wait: 3d\n"
    report = check_workspace(make_workspace({"campaigns/c.yaml": campaign(steps)}))
    assert messages(report.problems) == [
        "campaigns/c.yaml:7:5: step id 'a' is already used by the step at line 5",
        "campaigns/c.yaml:11:5: step id 'wait-4' is already used by the step at line 9",
    ]


def test_steps_after_an_unconditional_exit_or_goto_are_unreachable(make_workspace: WorkspaceFactory) -> None:
    steps = (
        "  - id: start\n    wait: 1d\n"
        "  - exit:\n"
        "  - id: orphan\n    wait: 1d\n"
        "  - id: also-orphan\n    wait: 1d\n"
        "  - id: target\n    wait: 1d\n"
        "  - goto: start\n"
        "  - id: never\n    wait: 1d\n"
    )
    steps_with_jump = steps.replace(
        "  - exit:\n", '  - branch: {if: "lead.score > 5", then: target}\n  - exit:\n'
    )
    report = check_workspace(make_workspace({"campaigns/c.yaml": campaign(steps_with_jump)}))
    assert messages(report.problems, "warning") == [
        "campaigns/c.yaml:9:5: warning: step 'orphan' can never be reached: it follows a goto or exit "
        "and no branch or goto leads to it",
        "campaigns/c.yaml:16:5: warning: step 'never' can never be reached: it follows a goto or exit "
        "and no branch or goto leads to it",
    ]
    assert report.ok


def test_a_loop_without_a_wait_is_an_error(make_workspace: WorkspaceFactory) -> None:
    steps = "  - id: top\n    score: {points: 1, reason: loop}\n  - goto: top\n"
    report = check_workspace(make_workspace({"campaigns/c.yaml": campaign(steps)}))
    assert messages(report.problems) == [
        "campaigns/c.yaml:7:5: step 'goto-2' closes a loop with no wait in it; a lead would go round forever"
    ]


def test_a_loop_with_a_wait_is_fine(make_workspace: WorkspaceFactory) -> None:
    steps = '  - id: top\n    wait: 1d\n  - branch: {if: "lead.score < 50", then: top}\n'
    assert check_workspace(make_workspace({"campaigns/c.yaml": campaign(steps)})).ok


def test_send_templates_must_exist_and_compile(make_workspace: WorkspaceFactory) -> None:
    steps = (
        "  - send: {template: helo, subject: hi}\n"
        "  - send: {template: broken, subject: hi}\n"
        '  - send: {template: hello, subject: "Hi {{ lead.first_name"}\n'
        '  - send: {template: hello, subject: "Hi {{ lead.frist_name }}"}\n'
        "  - send: {template: hello, subject: hi, layout: fancy}\n"
    )
    workspace = make_workspace(
        {
            "campaigns/c.yaml": campaign(steps),
            "templates/broken.html": (
                '{% extends "layout.html" %}\n{% block content %}{% if x %}{% endblock %}\n'
            ),
        }
    )
    assert messages(check_workspace(workspace).problems) == [
        "campaigns/c.yaml:5:22: template 'helo' not found (templates/helo.html); did you mean 'hello'?",
        "campaigns/c.yaml:7:38: subject is not a valid template: unexpected end of template, "
        "expected 'end of print statement'.",
        "campaigns/c.yaml:8:38: subject: unknown lead field 'frist_name'; did you mean 'first_name'? "
        "(custom columns are lead.attributes.frist_name)",
        "campaigns/c.yaml:9:50: layout 'fancy' not found (templates/layouts/fancy.html)",
        "templates/broken.html:2:1: template error: Encountered unknown tag 'endblock'. You probably made "
        "a nesting mistake. Jinja is expecting this tag, but currently looking for 'elif' or 'else' or "
        "'endif'. The innermost block that needs to be closed is 'if'.",
    ]


def test_templates_are_checked_through_their_layouts(make_workspace: WorkspaceFactory) -> None:
    workspace = make_workspace(
        {
            "campaigns/c.yaml": campaign("  - send: {template: news, subject: hi}\n"),
            "templates/news.html": '{% extends "layouts/missing.html" %}\n',
            "templates/news.txt": "Hallo {{ lead.vorname }}\n",
        }
    )
    assert messages(check_workspace(workspace).problems) == [
        "templates/news.html:1:1: template 'layouts/missing.html' not found",
        "templates/news.txt:1:1: unknown lead field 'vorname' (custom columns are lead.attributes.vorname)",
    ]


def test_a_template_without_unsubscribe_link_is_warned_about(make_workspace: WorkspaceFactory) -> None:
    workspace = make_workspace(
        {
            "campaigns/c.yaml": campaign("  - send: {template: bare, subject: hi}\n"),
            "templates/bare.html": "<p>Hallo</p>\n",
        }
    )
    assert messages(check_workspace(workspace).problems, "warning") == [
        "templates/bare.html: warning: no {{ unsubscribe_url }} in the template or its layout; "
        "marketing email needs one"
    ]


def test_opened_and_clicked_must_name_a_send_step_or_template(make_workspace: WorkspaceFactory) -> None:
    steps = (
        "  - id: hi\n    send: {template: hello, subject: hi}\n"
        "  - wait: {until: \"clicked('hii')\", timeout: 2d}\n"
        "  - branch: {if: \"opened('hello') or opened('hi')\", then: hi}\n"
    )
    report = check_workspace(make_workspace({"campaigns/c.yaml": campaign(steps)}))
    assert messages(report.problems) == [
        "campaigns/c.yaml:7:19: clicked('hii'): no send step or template 'hii'; did you mean 'hi'?"
    ]


def test_the_sla_must_name_an_existing_team_and_recycle_campaign(make_workspace: WorkspaceFactory) -> None:
    sla = (
        'kind: SLA\nname: marketing-sales\nmql: {when: "lead.score >= 100"}\nroute_to: dach-sale\n'
        "accept_within: 4h\nrecycle: {campaign: recycel}\n"
    )
    team = "kind: SalesTeam\nkey: dach-sales\nmanager: {name: M, email: m@example.com}\n"
    team += "reps: [{id: a, name: A, email: a@example.com, working_hours: {timezone: UTC}}]\n"
    report = check_workspace(make_workspace({"campaigns/sales.yaml": sla + "---\n" + team}))
    assert messages(report.problems) == [
        "campaigns/sales.yaml:4:11: no sales team 'dach-sale'; did you mean 'dach-sales'?",
        "campaigns/sales.yaml:6:21: no campaign 'recycel'; did you mean 'recycle'?",
    ]


def test_the_recycle_campaign_should_be_entered_manually(make_workspace: WorkspaceFactory) -> None:
    recycle = campaign("  - wait: 1d\n", key="recycle", entry="{on: lead_created}")
    report = check_workspace(make_workspace({"campaigns/recycle.yaml": recycle}))
    [warning] = messages(report.problems, "warning")
    assert warning.startswith(
        "campaigns/sales.yaml:8:21: warning: recycle campaign 'recycle' is entered on lead_created"
    )


def test_exactly_one_sla_and_at_most_one_scoring_model(make_workspace: WorkspaceFactory) -> None:
    sla = 'kind: SLA\nname: other\nmql: {when: "lead.score >= 50"}\nroute_to: dach-sales\naccept_within: 1h\n'
    model = "kind: ScoringModel\nfit: [{when: \"lead.country == 'DE'\", points: 5}]\n"
    report = check_workspace(make_workspace({"campaigns/more.yaml": f"{sla}---\n{model}---\n{model}"}))
    assert messages(report.problems) == [
        "campaigns/more.yaml:10:7: only one ScoringModel is allowed; the first is at campaigns/more.yaml:7:1",
        # files are read in name order, so the SLA of more.yaml is the first one
        "campaigns/sales.yaml:1:7: only one SLA is allowed; the first is at campaigns/more.yaml:1:1",
    ]


def test_a_program_without_sla_is_an_error(tmp_path: object, make_workspace: WorkspaceFactory) -> None:
    workspace = make_workspace({"campaigns/c.yaml": campaign("  - wait: 1d\n")}, base=False)
    assert messages(check_workspace(workspace).problems) == [
        "campaigns: the program needs one SLA (kind: SLA); none was found"
    ]
    with pytest.raises(InvalidProgram) as caught:
        load_program(workspace)
    assert "campaigns: the program needs one SLA" in str(caught.value)


def test_campaign_keys_are_unique_across_files(make_workspace: WorkspaceFactory) -> None:
    report = check_workspace(make_workspace({"campaigns/z.yaml": campaign("  - wait: 1d\n", key="recycle")}))
    assert messages(report.problems) == [
        "campaigns/z.yaml:2:6: Campaign key 'recycle' is already used at campaigns/recycle.yaml:2:6"
    ]


def test_rep_ids_are_unique_within_a_team(make_workspace: WorkspaceFactory) -> None:
    team = "kind: SalesTeam\nkey: dach-sales\nmanager: {name: M, email: m@example.com}\nreps:\n"
    team += "  - {id: a, name: A, email: a@example.com, working_hours: {timezone: UTC}}\n"
    team += "  - {id: a, name: B, email: b@example.com, working_hours: {timezone: UTC}}\n"
    sla = 'kind: SLA\nname: s\nmql: {when: "lead.score >= 100"}\nroute_to: dach-sales\naccept_within: 4h\n'
    report = check_workspace(make_workspace({"campaigns/sales.yaml": f"{sla}---\n{team}"}))
    assert messages(report.problems) == [
        "campaigns/sales.yaml:12:10: rep id 'a' is already used in this team (line 11)"
    ]


def test_scoring_rules_warn_about_near_miss_event_types(make_workspace: WorkspaceFactory) -> None:
    model = "kind: ScoringModel\nbehavior:\n  - {event: email_clik, points: 5}\n"
    model += "  - {event: trade_fair_visit, points: 9}\n"
    report = check_workspace(make_workspace({"campaigns/scoring.yaml": model}))
    assert messages(report.problems, "warning") == [
        "campaigns/scoring.yaml:3:13: warning: event type 'email_clik' is not one nurture records; "
        "did you mean 'email_click'? (fine if it is a custom event)"
    ]


def test_fit_rules_cannot_read_the_event(make_workspace: WorkspaceFactory) -> None:
    model = "kind: ScoringModel\nfit:\n  - {when: \"event.url == 'x'\", points: 5}\n"
    report = check_workspace(make_workspace({"campaigns/scoring.yaml": model}))
    assert messages(report.problems) == [
        "campaigns/scoring.yaml:3:12: fit rules are about the lead; `event` is not available there"
    ]


def test_lead_data_written_into_a_link_without_urlencode_is_warned_about(
    make_workspace: WorkspaceFactory,
) -> None:
    workspace = make_workspace(
        {
            "campaigns/c.yaml": campaign("  - send: {template: links, subject: hi}\n"),
            "templates/links.html": (
                "<p>{{ unsubscribe_url }} {{ lead.company }}</p>\n"
                '<a href="https://shop.example/p?c={{ lead.company }}">shop</a>\n'
                '<a href="https://shop.example/p?c={{ lead.company|urlencode }}&n={{ lead.company_size }}">ok'
                "</a>\n"
                "<a href='{{ unsubscribe_url }}?x={{ lead.attributes.plan }}'>x</a>\n"
                '<a href="mailto:{{ lead.email }}">mail</a>\n'
                '<img src="https://x.example/{{ campaign.key }}">\n'
                "Visit https://shop.example/{{ lead.first_name }} today\n"
            ),
        }
    )
    assert messages(check_workspace(workspace).problems, "warning") == [
        "templates/links.html:2:1: warning: lead data in a link without urlencode: write "
        "{{ lead.company|urlencode }} so that spaces, '&', '#' or '+' in it keep the link as meant",
        "templates/links.html:3:1: warning: lead data in a link without urlencode: write "
        "{{ lead.company_size|urlencode }} so that spaces, '&', '#' or '+' in it keep the link as meant",
        "templates/links.html:4:1: warning: lead data in a link without urlencode: write "
        "{{ lead.attributes.plan|urlencode }} so that spaces, '&', '#' or '+' in it keep the link as meant",
        "templates/links.html:7:1: warning: lead data in a link without urlencode: write "
        "{{ lead.first_name|urlencode }} so that spaces, '&', '#' or '+' in it keep the link as meant",
    ]


TWO_TEAMS = (
    "kind: SalesTeam\nkey: {key}\nmanager: {{name: M, email: m@example.com}}\n"
    "reps: [{{id: {rep}, name: A, email: a@example.com, working_hours: {{timezone: UTC}}}}]\n"
)


def test_route_to_rules_must_name_teams_be_reachable_and_end_with_a_default(
    make_workspace: WorkspaceFactory,
) -> None:
    sla = (
        'kind: SLA\nname: s\nmql: {when: "lead.score >= 100"}\naccept_within: 4h\nroute_to:\n'
        "  - {team: dach-sales}\n"
        "  - {when: \"lead.country == 'CH'\", team: ch-sale}\n"
    )
    teams = TWO_TEAMS.format(key="dach-sales", rep="a") + "---\n" + TWO_TEAMS.format(key="ch-sales", rep="b")
    report = check_workspace(make_workspace({"campaigns/sales.yaml": sla + "---\n" + teams}))
    assert messages(report.problems) == [
        "campaigns/sales.yaml:6:5: this rule has no `when`, so it takes every MQL and the 1 rule(s) after "
        "it are never used; put it last",
        "campaigns/sales.yaml:7:5: route_to has no default: an MQL no `when` holds for would reach no team; "
        "end the list with a rule without `when`, e.g. {team: dach-sales}",
        "campaigns/sales.yaml:7:42: no sales team 'ch-sale'; did you mean 'ch-sales'?",
    ]
    good = sla.replace("  - {team: dach-sales}\n", "").replace(
        "ch-sale}", "ch-sales}\n  - {team: dach-sales}"
    )
    report = check_workspace(make_workspace({"campaigns/sales.yaml": good + "---\n" + teams}))
    assert messages(report.problems) == []
    program = load_program(make_workspace({"campaigns/sales.yaml": good + "---\n" + teams}))
    assert program.sla is not None and [team for _, team in program.sla.routes] == ["ch-sales", "dach-sales"]


def test_a_route_condition_that_does_not_compile_names_its_line(make_workspace: WorkspaceFactory) -> None:
    sla = (
        'kind: SLA\nname: s\nmql: {when: "lead.score >= 100"}\naccept_within: 4h\nroute_to:\n'
        '  - {when: "lead.country ==", team: dach-sales}\n  - {team: dach-sales}\n'
    )
    team = TWO_TEAMS.format(key="dach-sales", rep="a")
    report = check_workspace(make_workspace({"campaigns/sales.yaml": sla + "---\n" + team}))
    found = messages(report.problems)
    assert found and found[0].startswith("campaigns/sales.yaml:6:"), found


def test_an_unknown_holiday_region_names_its_line_and_the_known_ones(
    make_workspace: WorkspaceFactory,
) -> None:
    sla = 'kind: SLA\nname: s\nmql: {when: "lead.score >= 100"}\nroute_to: t\naccept_within: 4h\n'
    hours = "{timezone: UTC, holidays: {country: DE, subdivision: XX}}"
    team = "kind: SalesTeam\nkey: t\nmanager: {name: M, email: m@example.com}\n"
    team += f"reps: [{{id: a, name: A, email: a@example.com, working_hours: {hours}}}]\n"
    report = check_workspace(make_workspace({"campaigns/sales.yaml": sla + "---\n" + team}))
    (problem,) = messages(report.problems)
    assert problem.startswith("campaigns/sales.yaml:10:") and "does not have subdivision XX" in problem
    assert "BY" in problem
