"""Templates may only use the names they are rendered with; a stray name is caught by `check`."""

from __future__ import annotations

from nurture.definitions import check_workspace

from .conftest import WorkspaceFactory


def errors(workspace: object) -> list[str]:
    return [str(p) for p in check_workspace(workspace).problems if p.severity == "error"]  # type: ignore[arg-type]


def campaign(subject: str = "hi") -> str:
    return (
        "kind: Campaign\nkey: c\nentry: {on: manual}\nsteps:\n"
        f'  - send: {{template: webinar, subject: "{subject}"}}\n'
    )


def test_an_unknown_name_in_a_template_is_reported_with_place_and_suggestion(
    make_workspace: WorkspaceFactory,
) -> None:
    workspace = make_workspace(
        {
            "campaigns/c.yaml": campaign(),
            "templates/webinar.html": (
                '{% extends "layout.html" %}{% block content %}\n'
                "<p>Hallo {{ lead.first_name }},</p>\n"
                "<p>Ihr Webinar: {{ webinar_title }} am {{ now }}</p>\n"
                "{% endblock %}\n"
            ),
            "templates/webinar.txt": "Abmelden: {{ unsubscrib_url }}\n",
        }
    )
    assert errors(workspace) == [
        "templates/webinar.html:3:20: unknown name 'webinar_title' (a template can use 'lead', 'campaign', "
        "'step', 'unsubscribe_url', 'now', 'layout' or 'locale'; custom columns are lead.attributes.NAME)",
        "templates/webinar.txt:1:14: unknown name 'unsubscrib_url'; did you mean 'unsubscribe_url'?",
    ]


def test_names_a_template_sets_itself_and_jinja_helpers_are_known(make_workspace: WorkspaceFactory) -> None:
    workspace = make_workspace(
        {
            "campaigns/c.yaml": campaign("Hallo {{ lead.first_name }} zu {{ campaign.name }}"),
            "templates/webinar.html": (
                '{% extends "layout.html" %}{% block content %}'
                "{% set title = 'Webinar' %}{{ title }}"
                "{% for i in range(3) %}{{ i }}{{ loop.index }}{% endfor %}"
                "{% macro m(x) %}{{ x }}{% endmacro %}{{ m(step.id) }}"
                "{% endblock %}\n"
            ),
        }
    )
    assert errors(workspace) == []


def test_an_unknown_name_in_a_subject_is_reported(make_workspace: WorkspaceFactory) -> None:
    workspace = make_workspace(
        {
            "campaigns/c.yaml": campaign("{{ webinar_title }}"),
            "templates/webinar.html": "{{ unsubscribe_url }}",
        }
    )
    [error] = errors(workspace)
    assert error.startswith("campaigns/c.yaml:5:40: subject: unknown name 'webinar_title'")
