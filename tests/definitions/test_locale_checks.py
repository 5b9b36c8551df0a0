"""`check` on subjects and templates per locale: real locales, a subject for the workspace's
locale, and every version of a template compiled and held to the names it may use."""

from __future__ import annotations

from nurture.definitions import check_workspace

from .conftest import WorkspaceFactory


def problems(workspace: object, severity: str = "error") -> list[str]:
    return [str(p) for p in check_workspace(workspace).problems if p.severity == severity]  # type: ignore[arg-type]


def campaign(subject: str) -> str:
    steps = f"steps:\n  - send: {{template: hello, subject: {subject}}}\n"
    return "kind: Campaign\nkey: c\nentry: {on: manual}\n" + steps


def test_a_subject_per_locale_with_the_workspaces_locale_passes_without_templates_per_locale(
    make_workspace: WorkspaceFactory,
) -> None:
    subject = '{de: "Hallo {{ lead.first_name }}", en: "Hello {{ lead.first_name }}", de-CH: "Grüezi"}'
    workspace = make_workspace({"campaigns/c.yaml": campaign(subject), "nurture.toml": 'locale = "de-AT"\n'})
    assert problems(workspace) == [] and problems(workspace, "warning") == []


def test_a_subject_key_that_is_no_locale_is_an_error_at_its_line(make_workspace: WorkspaceFactory) -> None:
    workspace = make_workspace({"campaigns/c.yaml": campaign('{de: "Hallo", dee: "Hallo"}')})
    [error] = problems(workspace)
    assert error.startswith("campaigns/c.yaml:5:")
    assert "'dee' is not a locale (e.g. de, de-CH, en-GB)" in error


def test_a_subject_map_without_the_workspaces_locale_is_an_error(make_workspace: WorkspaceFactory) -> None:
    workspace = make_workspace(
        {"campaigns/c.yaml": campaign('{en: "Hello", fr: "Bonjour"}'), "nurture.toml": 'locale = "de-CH"\n'}
    )
    assert problems(workspace) == [
        "campaigns/c.yaml:5:38: subject has no text for the workspace's locale 'de-CH' or 'de' (the locale "
        'setting): leads in other languages would get none; add de: "..."'
    ]


def test_each_subject_of_a_map_is_checked_for_names(make_workspace: WorkspaceFactory) -> None:
    workspace = make_workspace(
        {"campaigns/c.yaml": campaign('{de: "Hallo", en: "Hello {{ lead.firstname }}"}')}
    )
    [error] = problems(workspace)
    assert "subject (en): unknown lead field 'firstname'; did you mean 'first_name'?" in error


def test_each_version_of_a_template_compiles_and_uses_only_known_names(
    make_workspace: WorkspaceFactory,
) -> None:
    workspace = make_workspace(
        {
            "campaigns/c.yaml": campaign('"Hallo"'),
            "templates/hello.en.html": (
                '{% extends "layout.html" %}{% block content %}\nHello {{ webinar_title }}{% endblock %}\n'
            ),
            "templates/hello.de-CH.html": "{% if %}\n",
            "templates/hello.fr.txt": "Bonjour\n",
            "templates/hello.xx.html": "<p>{{ unsubscribe_url }}</p>\n",
            "templates/hello.de_AT.html": "<p>{{ unsubscribe_url }}</p>\n",
            "templates/hello.v2.html": "<p>not a locale, another template</p>\n",
        }
    )
    errors = problems(workspace)
    assert errors[0].startswith("templates/hello.de-CH.html:1:1: template error:")
    assert errors[1].startswith(
        "templates/hello.en.html:2:10: unknown name 'webinar_title' (a template can use"
    )
    assert errors[2] == "templates/hello.fr.txt: a text part without hello.fr.html beside it is never sent"
    assert len(errors) == 3
    assert problems(workspace, "warning") == [
        "templates/hello.de_AT.html: warning: write the locale as 'de-AT' (hello.de-AT.html): "
        "leads are matched by that name",
        "templates/hello.xx.html: warning: 'xx' is not a locale: no lead gets this version of 'hello'",
    ]



def sending_from(senders: str) -> str:
    steps = f"steps:\n  - send: {{template: hello, subject: Hallo, from: {senders}}}\n"
    return "kind: Campaign\nkey: c\nentry: {on: manual}\n" + steps


def test_a_sender_per_locale_needs_the_workspaces_locale(make_workspace: WorkspaceFactory) -> None:
    senders = "{en: 'Taktwerk <hello@taktwerk.example>'}"
    workspace = make_workspace({"campaigns/c.yaml": sending_from(senders), "nurture.toml": 'locale = "de"\n'})
    [error] = problems(workspace)
    assert error.startswith("campaigns/c.yaml:5:")
    assert error.endswith("from has no sender for the workspace's locale 'de' (the locale setting): "
                          "leads in other languages would get none")  # fmt: skip


def test_each_sender_of_a_map_is_an_address(make_workspace: WorkspaceFactory) -> None:
    senders = "{de: 'Taktwerk <hallo@taktwerk.example>', en: 'Taktwerk hello at taktwerk'}"
    [error] = problems(make_workspace({"campaigns/c.yaml": sending_from(senders)}))
    assert "'Taktwerk hello at taktwerk' is not a sender; write an address or 'Name <address>'" in error
