"""Rendering a send step: sandboxed, escaped, strict about missing fields, CSS inlined."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from nurture.delivery.plaintext import html_template_to_text, html_to_text
from nurture.delivery.render import EmailRenderer, RenderedEmail, RenderError, email_context
from nurture.templating import template_environment

from .conftest import write_templates

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

LAYOUT = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{% block title %}{{ campaign.name }}{% endblock %}</title>
<style>
  p { color: #333333; font-size: 16px; }
  .button { background: #2563eb; color: #ffffff; }
  @media only screen and (max-width: 600px) { p { font-size: 18px; } }
</style></head>
<body>
<span style="display:none">{% block preheader %}{% endblock %}</span>
{% block content %}{% endblock %}
<p class="footer">Example GmbH · München · <a href="{{ unsubscribe_url }}">Abmelden</a></p>
</body></html>
"""

WELCOME = """{% extends "layouts/base.html" %}
{% block preheader %}Ihre Testversion ist bereit{% endblock %}
{% block content %}
<h1>Willkommen, {{ lead.first_name }}!</h1>
<p>Schön, dass {{ lead.company }} dabei ist.</p>
<ul>
  <li>Kontakte importieren</li>
  <li>Kampagne <b>auswählen</b></li>
</ul>
<p><a class="button" href="https://app.example.com/start?a=1&amp;b=2">Jetzt starten</a></p>
{% endblock %}
"""


def lead(**fields: Any) -> dict[str, Any]:
    return {"first_name": "Jürgen", "last_name": "Müller", "company": "Müller & Söhne", **fields}


def context(**overrides: Any) -> dict[str, Any]:
    values = {
        "lead": lead(),
        "campaign": {"key": "trial-nurture", "name": "Trial nurture"},
        "step": {"id": "welcome"},
        "unsubscribe_url": "https://t.example.com/u/TOKEN",
        "now": NOW,
    }
    values.update(overrides)
    return email_context(**values)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    return write_templates(
        tmp_path / "templates",
        {"layouts/base.html": LAYOUT, "trial/welcome.html": WELCOME},
    )


def render(
    root: Path, name: str = "trial/welcome", subject: str = "Willkommen, {{ lead.first_name }}!", **ctx: Any
) -> RenderedEmail:
    return EmailRenderer(template_environment(root)).render(name, subject, context(**ctx))


def test_a_step_renders_subject_html_and_text(templates: Path) -> None:
    email = render(templates)
    assert email.subject == "Willkommen, Jürgen!"
    assert "<h1>Willkommen, Jürgen!</h1>" in email.html
    assert "Müller &amp; Söhne" in email.html
    assert "Willkommen, Jürgen!" in email.text
    assert "Müller & Söhne" in email.text


def test_lead_data_is_escaped_in_html(templates: Path) -> None:
    email = render(templates, lead=lead(first_name="<script>alert(1)</script>", company='"><img src=x>'))
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "<img src=x>" not in email.html
    # The text part is not HTML: it shows the name as the lead typed it.
    assert "<script>alert(1)</script>" in email.text


def test_subjects_are_not_html_escaped_and_stay_on_one_line(templates: Path) -> None:
    email = render(
        templates, subject="Hallo {{ lead.first_name }}", lead=lead(first_name="Eve & Co\r\nBcc: x@y.z")
    )
    assert email.subject == "Hallo Eve & Co Bcc: x@y.z"


def test_a_missing_field_names_the_template_and_line(tmp_path: Path) -> None:
    root = write_templates(tmp_path, {"t/broken.html": "<p>Hallo</p>\n<p>{{ lead.first_nam }}</p>\n"})
    with pytest.raises(RenderError) as error:
        render(root, "t/broken")
    assert error.value.template == "t/broken.html"
    assert error.value.line == 2
    assert "first_nam" in str(error.value)
    assert str(error.value).startswith("t/broken.html:2:")


def test_a_missing_field_in_a_layout_names_the_layout(tmp_path: Path) -> None:
    root = write_templates(
        tmp_path,
        {
            "layouts/base.html": (
                "<html><body>\n{% block content %}{% endblock %}\n{{ sender.name }}\n</body></html>"
            ),
            "t/child.html": '{% extends "layouts/base.html" %}{% block content %}x{% endblock %}',
        },
    )
    with pytest.raises(RenderError) as error:
        render(root, "t/child")
    assert error.value.template == "layouts/base.html"
    assert error.value.line == 3


def test_a_syntax_error_names_the_template_and_line(tmp_path: Path) -> None:
    root = write_templates(
        tmp_path, {"t/syntax.html": "<p>ok</p>\n{% if lead.first_name %}\n<p>never closed</p>\n"}
    )
    with pytest.raises(RenderError) as error:
        render(root, "t/syntax")
    assert error.value.template == "t/syntax.html"
    assert error.value.line in (2, 3)  # Jinja2 points at the end of the template
    assert "endif" in error.value.problem


def test_a_subject_with_a_missing_field_is_an_error(templates: Path) -> None:
    with pytest.raises(RenderError, match="subject of trial/welcome"):
        render(templates, subject="Hallo {{ lead.nickname }}")


def test_a_missing_template_is_an_error(templates: Path) -> None:
    with pytest.raises(RenderError, match=r"trial/nope\.html: template not found"):
        render(templates, "trial/nope")


def test_templates_run_in_the_sandbox(tmp_path: Path) -> None:
    root = write_templates(
        tmp_path, {"t/evil.html": "{{ lead.__class__.__mro__ }}{{ ''.__class__.__subclasses__() }}"}
    )
    with pytest.raises(RenderError):
        render(root, "t/evil")


def test_css_is_inlined_and_media_queries_kept(templates: Path) -> None:
    email = render(templates)
    assert (
        'style="color: #333333;font-size: 16px;"' in email.html
        or "color: #333333" in email.html.split("<p")[1]
    )
    assert "background: #2563eb" in email.html.split('class="button"', 1)[1].split(">", 1)[0]
    assert "@media only screen" in email.html


def test_remote_stylesheets_are_never_fetched(tmp_path: Path) -> None:
    root = write_templates(
        tmp_path,
        {
            "t/remote.html": '<html><head><link rel="stylesheet" href="http://127.0.0.1:9/x.css"></head><body><p>x</p></body></html>'
        },
    )
    assert "<p>x</p>" in render(root, "t/remote").html


def test_a_text_template_is_used_when_there_is_one(templates: Path) -> None:
    write_templates(
        templates,
        {"trial/welcome.txt": "Hallo {{ lead.first_name }} & Co,\nAbmelden: {{ unsubscribe_url }}\n"},
    )
    email = render(templates)
    # .txt templates are not autoescaped.
    assert email.text == "Hallo Jürgen & Co,\nAbmelden: https://t.example.com/u/TOKEN\n"


def test_the_text_part_is_derived_from_the_html(templates: Path) -> None:
    text = render(templates).text
    assert text == (
        "Willkommen, Jürgen!\n"
        "\n"
        "Schön, dass Müller & Söhne dabei ist.\n"
        "\n"
        "- Kontakte importieren\n"
        "- Kampagne auswählen\n"
        "\n"
        "Jetzt starten (https://app.example.com/start?a=1&b=2)\n"
        "\n"
        "Example GmbH · München · Abmelden (https://t.example.com/u/TOKEN)\n"
    )


def test_the_derived_text_matches_converting_each_email(templates: Path) -> None:
    email = render(templates)
    assert email.text == html_to_text(email.html).replace(
        "Willkommen, Jürgen!\n===================", "Willkommen, Jürgen!"
    )


def test_templates_the_conversion_cannot_follow_are_converted_per_email(tmp_path: Path) -> None:
    root = write_templates(
        tmp_path,
        {"t/list.html": "<ol>{% for item in lead.steps %}<li>{{ item }}</li>{% endfor %}</ol><p>Ende</p>"},
    )
    assert html_template_to_text((root / "t/list.html").read_text()) is None
    email = render(root, "t/list", lead=lead(steps=["Import", "Kampagne", "Scoring"]))
    assert email.text == "1. Import\n2. Kampagne\n3. Scoring\n\nEnde\n"


def test_html_to_text_keeps_structure_readable() -> None:
    html = """<html><head><style>p{color:red}</style><title>T</title></head><body>
    <div style="display: none">Preheader</div>
    <h1>Überschrift</h1>
    <p>Erster   Absatz<br>zweite Zeile</p>
    <ul><li>eins</li><li>zwei <a href="https://example.com/zwei">mehr</a></li></ul>
    <ol><li>a</li><li>b</li></ol>
    <p><a href="https://example.com/">https://example.com/</a>
       <a href="mailto:info@example.com">info@example.com</a></p>
    <hr><table><tr><td>Zelle 1</td><td>Zelle 2</td></tr></table>
    <!-- comment --><script>alert(1)</script>
    </body></html>"""
    assert html_to_text(html) == (
        "Überschrift\n"
        "===========\n"
        "\n"
        "Erster Absatz\n"
        "zweite Zeile\n"
        "\n"
        "- eins\n"
        "- zwei mehr (https://example.com/zwei)\n"
        "\n"
        "1. a\n"
        "2. b\n"
        "\n"
        "https://example.com/ info@example.com\n"
        "\n"
        "----------------------------------------\n"
        "\n"
        "Zelle 1 Zelle 2\n"
    )


def test_subjects_are_compiled_once(templates: Path) -> None:
    renderer = EmailRenderer(template_environment(templates))
    for name in ("Anna", "Ben", "Jürgen"):
        renderer.render("trial/welcome", "Hallo {{ lead.first_name }}", context(lead=lead(first_name=name)))
    info = renderer._subject_template.cache_info()  # type: ignore[attr-defined]
    assert info.misses == 1 and info.hits == 2
