"""CSS inlined into templates once must give the same email as inlining each email."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import css_inline
import pytest

from nurture.delivery.inlining import NotInlinable, inline_template, style_fingerprint
from nurture.delivery.render import EmailRenderer, RenderError
from nurture.templating import template_environment

from .conftest import write_templates
from .test_render import LAYOUT, WELCOME, context

INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)

FAMILY = {
    "layouts/base.html": """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{% block title %}{{ campaign.name }}{% endblock %}</title>
<style>
  body { margin: 0; }
  table.wrapper td { padding: 8px; }
  .content p { color: #333333; }
  .content p.lead { font-size: 18px; }
  a { color: #2563eb; }
  .footer a { color: #6b7280; }
  @media only screen and (max-width: 600px) { .content { padding: 4px !important; } }
</style></head>
<body>
<table class="wrapper"><tr><td class="content" style="border: 0">
{% block content %}<p>default</p>{% endblock %}
</td></tr>
{% for row in lead.rows %}<tr><td class="row-{{ loop.index }}">{{ row }}</td></tr>{% endfor %}
</table>
{% include "partials/footer.html" %}
</body></html>
""",
    "layouts/campaign.html": """{% extends "layouts/base.html" %}
{% block content %}<p class="lead">{% block intro %}Hallo{% endblock %}</p>
{% block body %}{% endblock %}{% endblock %}
""",
    "partials/footer.html": """<p class="footer">Example GmbH ·
<a href="{{ unsubscribe_url }}">Abmelden</a></p>
""",
    "trial/nested.html": """{% extends "layouts/campaign.html" %}
{% block intro %}Hallo {{ lead.first_name }},{% endblock %}
{% block body %}
<p>Schön, dass {{ lead.company }} dabei ist.</p>
<ul>{% for item in ["eins", "zwei"] %}<li>{{ item }}</li>{% endfor %}</ul>
{% if lead.company %}
<p><a href="https://example.com/{{ lead.company|urlencode }}" class="cta">Los</a></p>
{% endif %}
{% endblock %}
""",
}


def both_ways(root: Path, name: str, **values: Any) -> tuple[str, str]:
    environment = template_environment(root)
    ctx = context(**values)
    once = inline_template(environment, name, INLINER).render(ctx)
    each = INLINER.inline(environment.get_template(name).render(ctx))
    return once, each


def test_a_layout_family_is_inlined_like_each_email(tmp_path: Path) -> None:
    root = write_templates(tmp_path, FAMILY)
    once, each = both_ways(
        root, "trial/nested.html", lead={"first_name": "Jürgen", "company": "Müller", "rows": [1, 2]}
    )
    assert style_fingerprint(once) == style_fingerprint(each)
    assert 'class="lead" style="color: #333333;font-size: 18px;"' in once
    assert "<style>@media only screen" in once
    assert "table.wrapper" not in once  # the stylesheet itself is gone
    assert '<td class="content" style="padding: 8px;border: 0">' in once  # its own style kept, last


def test_the_render_example_is_inlined_like_each_email(tmp_path: Path) -> None:
    root = write_templates(tmp_path, {"layouts/base.html": LAYOUT, "trial/welcome.html": WELCOME})
    once, each = both_ways(root, "trial/welcome.html")
    assert style_fingerprint(once) == style_fingerprint(each)


@pytest.mark.parametrize(
    "source",
    [
        '{% import "macros.html" as m %}<p>{{ m.button() }}</p>',
        '{% macro b() %}<a class="x">b</a>{% endmacro %}<p>{{ b() }}</p>',
        "<p>{{ lead.bio|safe }}</p>",
        '<td {% if lead.vip %}class="vip"{% endif %}>x</td>',
        '<p style="color: {{ lead.color }}">x</p>',
        "<style>p { color: {{ lead.color }}; }</style><p>x</p>",
        "{% extends lead.layout %}",
        '{% include "partials/" ~ lead.kind ~ ".html" %}',
        '<link rel="stylesheet" href="https://example.com/x.css"><p>x</p>',
    ],
)
def test_markup_made_at_render_time_is_not_inlined_in_the_template(tmp_path: Path, source: str) -> None:
    root = write_templates(tmp_path, {"t/x.html": source})
    with pytest.raises(NotInlinable):
        inline_template(template_environment(root), "t/x.html", INLINER)


def test_such_templates_are_still_inlined_per_email(tmp_path: Path) -> None:
    root = write_templates(
        tmp_path,
        {
            "t/x.html": "<style>.vip { color: red; }</style>\n"
            '<p {% if lead.vip %}class="vip"{% endif %}>Hallo</p>'
        },
    )
    renderer = EmailRenderer(template_environment(root))
    html = renderer.render("t/x", "s", context(lead={"vip": True})).html
    assert 'class="vip" style="color: red;"' in html


def test_errors_in_an_inlined_template_keep_their_line(tmp_path: Path) -> None:
    root = write_templates(
        tmp_path,
        {
            "t/x.html": (
                "<html><head><style>\np { color: red; }\n</style></head>\n"
                "<body>\n<p>{{ lead.nope }}</p>\n</body></html>"
            )
        },
    )
    with pytest.raises(RenderError) as error:
        EmailRenderer(template_environment(root)).render("t/x", "s", context())
    assert (error.value.template, error.value.line) == ("t/x.html", 5)


def test_a_template_inlined_wrongly_is_caught_on_its_first_email(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A sibling selector that depends on how many times a loop runs: the template alone cannot tell.
    root = write_templates(
        tmp_path,
        {
            "t/x.html": (
                "<style>li + li { color: red; }</style>"
                "<ul>{% for i in lead.entries %}<li>{{ i }}</li>{% endfor %}</ul>"
            )
        },
    )
    renderer = EmailRenderer(template_environment(root))
    with caplog.at_level(logging.WARNING):
        first = renderer.render("t/x", "s", context(lead={"entries": [1, 2, 3]})).html
    assert first.count('style="color: red;"') == 2
    assert "inlining each email from now on" in caplog.text
    second = renderer.render("t/x", "s", context(lead={"entries": [1, 2]})).html
    assert second.count('style="color: red;"') == 1
