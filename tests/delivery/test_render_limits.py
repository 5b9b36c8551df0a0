"""Render limits: no single step builds more than the limit, output stops at it, loops stop in time.

The limits here are small so that each case, unchecked, would merely be large: the same checks
hold the defaults (1,000,000 characters, 1 s) against ``'a' * 100000000`` and friends.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nurture.delivery.render import EmailRenderer, RenderError, email_context
from nurture.render_limits import RenderLimitExceeded, RenderLimits
from nurture.templating import expression_environment, template_environment

from .conftest import write_templates

LIMITS = RenderLimits(max_chars=20_000, seconds=0.3)

OVER_THE_SIZE_LIMIT = [
    "{{ 'a' * 30000 }}",
    "{{ 30000 * 'a' }}",
    "{{ ([1] * 30000)|length }}",
    "{{ 'x'|center(30000) }}",
    "{{ 'x'.center(30000) }}",
    "{{ 'x'.ljust(30000) }}",
    "{{ 'x'.zfill(30000) }}",
    "{{ '{:>30000}'.format(1) }}",
    "{{ '{:>{w}}'.format(1, w=30000) }}",
    "{{ '%030000d' % 1 }}",
    "{{ '%*d' % (30000, 1) }}",
    "{{ '%*d'|format(30000, 1) }}",
    "{{ ('a' * 15000) ~ ('a' * 15000) }}",
    "{{ ('a' * 15000) + ('a' * 15000) }}",
    "{{ range(10000)|join('xyz') }}",
    "{{ 'xyz'.join(range(10000)|map('string')|list) }}",
    "{{ 'aaaa'|replace('a', 'b' * 10000) }}",
    "{{ 'aaaa'.replace('a', 'b' * 10000) }}",
    "{{ ('\t' * 100).expandtabs(1000) }}",
    "{{ 'hello\nworld\n'|indent(30000) }}",
    "{{ [1]|batch(30000, 0)|list|length }}",
    "{{ [1]|slice(30000, 0)|list|length }}",
    "{{ lipsum(100) }}",
    "{% set ns = namespace(a='x' * 5000) %}{% for i in range(10) %}{% set ns.a = ns.a ~ ns.a %}{% endfor %}",
    "{% for i in range(1000) %}{{ 'x' * 100 }}{% endfor %}",
]


def renderer(tmp_path: Path, body: str) -> EmailRenderer:
    root = write_templates(tmp_path, {"t/big.html": body, "t/big.txt": "text"})
    return EmailRenderer(template_environment(root, limits=LIMITS), inline_css=False)


def context() -> dict[str, object]:
    from datetime import UTC, datetime

    return email_context(
        lead={"first_name": "Anna"}, campaign={}, step={}, unsubscribe_url="https://x.example/u",
        now=datetime(2026, 3, 2, tzinfo=UTC),
    )  # fmt: skip


@pytest.mark.parametrize("body", OVER_THE_SIZE_LIMIT)
def test_a_template_over_the_size_limit_fails_with_the_setting_named(tmp_path: Path, body: str) -> None:
    with pytest.raises(RenderError, match=r"t/big\.html(:\d)?: .*render_max_chars"):
        renderer(tmp_path, body).render("t/big", "Hi", context())


@pytest.mark.parametrize(
    "body",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for c in 'abcdefghij' %}{% for d in 'abcdefghij' %}"
        "{% endfor %}{% endfor %}{% endfor %}",
    ],
)
def test_loops_stop_at_the_time_limit(tmp_path: Path, body: str) -> None:
    started = time.monotonic()
    with pytest.raises(RenderError, match=r"longer than 0\.3 s \(render_time_limit\)"):
        renderer(tmp_path, body).render("t/big", "Hi", context())
    assert time.monotonic() - started < 3


def test_the_subject_has_the_limits_too(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"subject of t/big: .*render_max_chars"):
        renderer(tmp_path, "ok").render("t/big", "{{ 'a' * 30000 }}", context())


def test_huge_numbers_are_not_computed(tmp_path: Path) -> None:
    for body in ("{{ 10 ** 100000000 }}", "{{ (10 ** 1000) * (10 ** 1000) }}"):
        with pytest.raises(RenderError, match="bits is not computed"):
            renderer(tmp_path, body).render("t/big", "Hi", context())


def test_an_oversized_constant_does_not_stall_compiling(tmp_path: Path) -> None:
    # Jinja2 folds constant expressions while compiling; an intercepted operator is never folded.
    started = time.monotonic()
    template_environment(tmp_path).from_string("{{ 'a' * 100000000 }}")
    assert time.monotonic() - started < 1


def test_conditions_have_the_size_checks() -> None:
    with pytest.raises(RenderLimitExceeded):
        expression_environment().compile_expression("'a' * 100000000")()


def test_templates_within_the_limits_render_as_before(tmp_path: Path) -> None:
    body = (
        "{% for i in range(3) %}{{ loop.index }}{% else %}none{% endfor %}|{{ 'a' ~ 'b' }}|{{ 3 * 4 }}|"
        "{{ 'x' * 3 }}|{{ '%s-%d' % ('a', 2) }}|{{ '{} {}'.format(1, 2) }}|{{ [1, 2] + [3] }}|"
        "{{ 2 ** 10 }}|{{ 'ab'|center(6) }}|{{ ['a', 'b']|join(',') }}|{{ 'a-b'|replace('-', '+') }}|"
        "{% for row in [1, 2, 3]|batch(2, 0) %}{{ row }}{% endfor %}|"
        "{% for x in [] %}x{% else %}empty{% endfor %}"
    )
    html = renderer(tmp_path, body).render("t/big", "Hi", context()).html
    assert html == (
        "123|ab|12|xxx|a-2|1 2|[1, 2, 3]|1024|  ab  |a,b|a+b|[1, 2][3, 0]|empty"
    )
