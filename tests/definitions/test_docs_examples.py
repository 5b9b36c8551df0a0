"""The examples of docs/definitions.md and the README work as written: every definition loads and
passes `nurture check`, every condition compiles, the template example renders its names, and the
simulation events example is read."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from nurture.definitions import check_workspace, compile_condition
from nurture.definitions.source import parse_documents
from nurture.definitions.validation import validate_document
from nurture.simulation_events import read_planned_events
from nurture.workspace import Workspace

from .conftest import REPO_ROOT

DOCS = REPO_ROOT / "docs" / "definitions.md"
README = REPO_ROOT / "README.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(path.read_text(encoding="utf-8")) if lang == language]


def definitions() -> list[str]:
    return [b for b in blocks(DOCS, "yaml") if b.lstrip().startswith("kind:")]


def test_the_docs_have_an_example_of_every_kind() -> None:
    kinds = {yaml.safe_load(block)["kind"] for block in definitions()}
    assert kinds == {"Campaign", "ScoringModel", "SLA", "SalesTeam", "Form", "Topic"}


@pytest.mark.parametrize("block", definitions(), ids=lambda b: b.split("\n")[0])
def test_every_definition_example_loads_without_a_problem(block: str) -> None:
    [document] = parse_documents(block, "docs.yaml")
    definition, problems = validate_document(document)
    assert problems == [] and definition is not None


def test_the_condition_examples_compile() -> None:
    found = [b for b in blocks(DOCS, "yaml") if not b.lstrip().startswith(("kind:", "#"))]
    assert found
    for block in found:
        for source in yaml.safe_load(block).values():
            compile_condition(source)


def test_the_examples_together_pass_check(tmp_path: Path) -> None:
    """The definitions as one program, with the template example as the welcome email; what the
    examples only refer to (other templates, the layout, the recycle campaign) is filled in."""
    (tmp_path / "campaigns").mkdir()
    for index, block in enumerate(definitions()):
        (tmp_path / "campaigns" / f"example-{index}.yaml").write_text(block, encoding="utf-8")
    (tmp_path / "campaigns" / "recycle.yaml").write_text(
        "kind: Campaign\nkey: recycle-nurture\nentry: {on: manual}\nsteps:\n"
        "  - send: {template: trial/reminder, subject: Wieder da}\n",
        encoding="utf-8",
    )
    [html] = blocks(DOCS, "html")
    templates = {
        "trial/welcome.html": html,
        "layouts/base.html": (
            '<html><body>{% block content %}{% endblock %}<a href="{{ unsubscribe_url }}">x</a>'
        ),
        **{
            f"trial/{n}.html": '{% extends "layouts/base.html" %}'
            for n in ("reminder", "case-study", "last-call")
        },
    }
    for name, text in templates.items():
        path = tmp_path / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    report = check_workspace(Workspace(tmp_path))
    assert [str(p) for p in report.problems if p.severity != "note"] == []


def test_the_readme_simulation_events_example_is_read(tmp_path: Path) -> None:
    [example] = [b for b in blocks(README, "json") if '"occurred_at"' in b]
    path = tmp_path / "events.jsonl"
    path.write_text(example, encoding="utf-8")
    start = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    planned = read_planned_events(path, start)
    assert [p.event["type"] for p in planned] == ["webinar_registered", "page_view"]
    assert planned[0].at == datetime(2026, 3, 4, 7, 0, tzinfo=UTC)
