"""Templates cannot reach Python internals or the process environment, whatever route they try."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.metadata import requires
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError
from packaging.requirements import Requirement
from packaging.version import Version

from nurture.delivery.render import EmailRenderer, RenderError, email_context
from nurture.templating import expression_environment, template_environment

from .conftest import write_templates

SECRET = "hunter2-do-not-leak-4711"

# CVE-2025-27516: Jinja2 before 3.1.6 let ``|attr('format')`` reach ``str.format`` unsandboxed, and
# a format field walks from any object to a function's globals and from there to ``os.environ``.
FORMAT_PAYLOADS = [
    "{{ '{0.__init__.__globals__[os].environ[NURTURE_LEAK_TEST]}'|attr('format')(cycler) }}",
    "{{ ('{0.__init__.__globals__[os].environ[NURTURE_LEAK_TEST]}'|attr('format'))(joiner) }}",
    "{{ '{0.__init__.__globals__}'|attr('format')(cycler.__init__) }}",
    "{{ '{a.__init__.__globals__[os].environ}'|attr('format_map')({'a': cycler}) }}",
    "{{ '{x.__init__.__globals__[os].environ}'.format(x=cycler) }}",
]


@pytest.fixture(autouse=True)
def secret_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NURTURE_LEAK_TEST", SECRET)


@pytest.mark.parametrize("payload", FORMAT_PAYLOADS)
def test_a_template_cannot_read_the_environment_through_str_format(tmp_path: Path, payload: str) -> None:
    root = write_templates(tmp_path, {"t/evil.html": payload})
    renderer = EmailRenderer(template_environment(root))
    context = email_context(
        lead={"first_name": "Eve"}, campaign={}, step={}, unsubscribe_url="https://x.example/u",
        now=datetime(2026, 3, 2, tzinfo=UTC),
    )  # fmt: skip
    with pytest.raises(RenderError, match="unsafe") as refused:
        renderer.render("t/evil", "Hi", context)
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize("payload", [p.strip("{} ") for p in FORMAT_PAYLOADS])
def test_a_condition_cannot_read_the_environment_through_str_format(payload: str) -> None:
    with pytest.raises(SecurityError) as refused:
        expression_environment().compile_expression(payload)()
    assert SECRET not in str(refused.value)


def test_the_package_requires_a_jinja2_without_the_format_escape() -> None:
    jinja = next(Requirement(r) for r in requires("nurture") or [] if Requirement(r).name.lower() == "jinja2")
    assert not jinja.specifier.contains(Version("3.1.5"))
    assert jinja.specifier.contains(Version("3.1.6"))
