"""Workspaces written on the fly: a valid minimal program that tests then break one piece at a time."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from nurture.workspace import Workspace
from tests.program import SLA_AND_TEAM

REPO_ROOT = Path(__file__).resolve().parents[2]

SALES = SLA_AND_TEAM  # the shared test SLA and sales team, without the program's campaigns

RECYCLE = """\
kind: Campaign
key: recycle
entry: {on: manual}
steps:
  - id: hello
    send: {template: hello, subject: "Hallo {{ lead.first_name }}"}
"""

LAYOUT = (
    "<html><body>{% block content %}{% endblock %}"
    '<a href="{{ unsubscribe_url }}">Abmelden</a></body></html>\n'
)
HELLO = '{% extends "layout.html" %}{% block content %}Hallo {{ lead.first_name }}{% endblock %}\n'

WorkspaceFactory = Callable[..., Workspace]


@pytest.fixture
def make_workspace(tmp_path: Path) -> WorkspaceFactory:
    """A workspace with a valid SLA, team, recycle campaign and template, plus the given files."""

    def make(files: dict[str, str] | None = None, *, base: bool = True) -> Workspace:
        contents: dict[str, str] = {}
        if base:
            contents = {
                "campaigns/sales.yaml": SALES,
                "campaigns/recycle.yaml": RECYCLE,
                "templates/layout.html": LAYOUT,
                "templates/hello.html": HELLO,
            }
        contents.update(files or {})
        for name, text in contents.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        (tmp_path / "campaigns").mkdir(exist_ok=True)
        return Workspace(tmp_path)

    return make
