"""The Form kind: fields, consent, double opt-in and the thank-you page, checked where written."""

from __future__ import annotations

from nurture.definitions import check_workspace, load_program
from nurture.definitions.checks import form_origin_problems
from nurture.definitions.problems import Problem

from .conftest import WorkspaceFactory

GOOD = """\
kind: Form
key: newsletter
fields:
  - {name: email, maps_to: email, type: email, required: true, label: E-Mail}
  - {name: first_name, maps_to: first_name, max_length: 50}
  - {name: plan, maps_to: attributes.plan, type: choice, choices: [free, pro]}
consent: {text: "Ja, ich möchte den Newsletter.", version: "2026-11", topics: [newsletter]}
double_opt_in: true
thank_you: https://www.example.com/danke
"""


def errors(problems: tuple[Problem, ...] | list[Problem]) -> list[str]:
    return [str(p) for p in problems if p.severity == "error"]


def test_a_valid_form_loads_with_its_double_opt_in_topics(make_workspace: WorkspaceFactory) -> None:
    program = load_program(make_workspace({"campaigns/forms.yaml": GOOD}))
    form = program.form("newsletter")
    assert form.event == "form_submit"
    assert form.email_field is not None and form.email_field.name == "email"
    assert program.double_opt_in_topics == frozenset({"newsletter"})
    assert form_origin_problems(program, ["https://www.example.com"]) == []


def test_mistakes_are_reported_where_written_with_the_nearest_name(make_workspace: WorkspaceFactory) -> None:
    text = """\
kind: Form
key: demo
fields:
  - {name: mail, maps_to: email, type: email}
  - {name: first_name, maps_to: frist_name}
  - {name: plan, maps_to: attributes.plan, type: choice}
  - {name: stage, maps_to: lifecycle_stage}
  - {name: website, maps_to: company}
double_opt_in: true
thank_you: /danke
"""
    report = check_workspace(make_workspace({"campaigns/forms.yaml": text}))
    assert errors(report.problems) == [
        "campaigns/forms.yaml:5:33: fields[1].maps_to: 'frist_name' is not a lead field; "
        "did you mean 'first_name'? (or write attributes.NAME)",
        "campaigns/forms.yaml:6:5: fields[2]: field 'plan' is a choice: list its choices",
        "campaigns/forms.yaml:7:28: fields[3].maps_to: a form cannot set the lifecycle stage; "
        "map the field to attributes.NAME",
        "campaigns/forms.yaml:8:12: fields[4].name: 'website' is kept for the form's own use "
        "(consent, website)",
        "campaigns/forms.yaml:10:12: thank_you: '/danke' is not an absolute http(s) URL",
    ]


def test_double_opt_in_needs_a_consent(make_workspace: WorkspaceFactory) -> None:
    text = "".join(line for line in GOOD.splitlines(keepends=True) if not line.startswith("consent:"))
    report = check_workspace(make_workspace({"campaigns/forms.yaml": text}))
    assert errors(report.problems) == [
        "campaigns/forms.yaml:1:1: double_opt_in confirms a consent: add consent (text, version, topics)"
    ]


def test_duplicate_fields_and_an_optional_email_are_errors(make_workspace: WorkspaceFactory) -> None:
    text = """\
kind: Form
key: demo
fields:
  - {name: mail, maps_to: email, type: email}
  - {name: company, maps_to: company}
  - {name: company, maps_to: company}
thank_you: https://www.example.com/danke
"""
    report = check_workspace(make_workspace({"campaigns/forms.yaml": text}))
    assert errors(report.problems) == [
        "campaigns/forms.yaml:4:5: the email field must be required: without an address there is no lead",
        "campaigns/forms.yaml:6:12: field 'company' is already in this form (line 5)",
        "campaigns/forms.yaml:6:30: company is already filled by the field at line 5",
    ]


def test_a_thank_you_page_off_the_allowed_origins_is_an_error(make_workspace: WorkspaceFactory) -> None:
    program = load_program(make_workspace({"campaigns/forms.yaml": GOOD}))
    assert [str(p) for p in form_origin_problems(program, ["https://shop.example.com"])] == [
        "campaigns/forms.yaml:9:12: thank_you 'https://www.example.com/danke' is not on an allowed origin "
        "(https://shop.example.com); add its origin to allowed_origins in nurture.toml"
    ]
