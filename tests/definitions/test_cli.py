"""``nurture check`` and ``nurture schema`` as a marketer runs them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from nurture.cli import main

from .conftest import REPO_ROOT, WorkspaceFactory


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def test_the_demo_program_passes_check() -> None:
    code, output = run("--workspace", str(REPO_ROOT), "check")
    assert output.splitlines()[-1] == "ok: 3 campaigns, 1 scoring model, 1 SLA, 1 sales team"
    assert code == 0, output


def test_a_broken_workspace_lists_every_error_with_line_and_column(make_workspace: WorkspaceFactory) -> None:
    broken = """\
kind: Campaign
key: broken
entry:
  on: lead_creatd
  where: "lead.contry == 'DE'"
steps:
  - id: welcome
    sned: {template: hello, subject: Hallo}
  - wait: 2 days
  - goto: welcom
---
kind: SalesTeam
key: extra
manager: {name: M, email: m@example.com}
routing: weighted
reps:
  - {id: x, name: X, email: x@example.com, weight: 0, working_hours: {timezone: Europe/Berlin, hours: "8-17"}}
"""
    workspace = make_workspace(
        {"campaigns/broken.yaml": broken, "campaigns/tabs.yaml": "kind: SLA\n\tname: x\n"}
    )
    code, output = run("--workspace", str(workspace.root), "check")
    assert code == 1
    assert output.splitlines() == [
        "campaigns: note: no ScoringModel: leads are scored by score steps only",
        "campaigns/broken.yaml:4:7: entry.on: 'lead_creatd' is not one of 'lead_created', 'event', 'segment' "
        "or 'manual'; did you mean 'lead_created'?",
        "campaigns/broken.yaml:5:10: entry.where: unknown lead field 'contry'; did you mean 'country'? "
        "(custom columns are lead.attributes.contry)",
        "campaigns/broken.yaml:8:5: unknown step kind 'sned'; did you mean 'send'?",
        "campaigns/broken.yaml:9:11: step 2 wait: '2 days' is not a duration; "
        "write a whole number and a unit: "
        "30s, 15m, 4h, 2d or 1w",
        "campaigns/broken.yaml:17:103: reps[0].working_hours.hours: hours '8-17' is not a time span; "
        'write "HH:MM-HH:MM", e.g. "09:00-17:00", "22:00-06:00" (crosses midnight) or "00:00-24:00"',
        "campaigns/tabs.yaml:2:1: tab character: YAML must be indented with spaces, not tabs",
    ]


def test_cross_check_errors_fail_the_check_too(make_workspace: WorkspaceFactory) -> None:
    campaign = "kind: Campaign\nkey: c\nentry: {on: manual}\nsteps:\n  - goto: nowhere\n"
    code, output = run("--workspace", str(make_workspace({"campaigns/c.yaml": campaign}).root), "check", "-q")
    assert code == 1
    assert output.splitlines() == ["campaigns/c.yaml:5:11: no step with id 'nowhere' in this campaign"]


def test_schema_describes_every_kind() -> None:
    code, output = run("schema")
    assert code == 0
    schema = json.loads(output)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    kinds = {ref["$ref"].rsplit("/", 1)[1] for ref in schema["oneOf"]}
    assert kinds == {"Campaign", "ScoringModel", "SLA", "SalesTeam", "Form", "Topic"}
    campaign = schema["$defs"]["Campaign"]
    assert campaign["additionalProperties"] is False
    assert all("description" in prop for prop in campaign["properties"].values())
    send = schema["$defs"]["SendEmail"]["properties"]
    experiment = {"variants", "decide_on", "winner"}
    assert set(send) == {"template", "subject", "from", "reply_to", "layout", "kind", *experiment}


def test_schema_can_be_written_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "definitions.schema.json"
    code, _ = run("schema", "--output", str(target))
    assert code == 0
    assert json.loads(target.read_text(encoding="utf-8"))["title"] == "nurture definition"


def test_check_reads_the_schedule_and_the_sales_email_overrides(make_workspace: WorkspaceFactory) -> None:
    workspace = make_workspace(
        {
            "scheduler/jobs.yaml": "jobs:\n  send:\n    every: soon\n  tikc: {every: 15s}\n",
            "templates/sales/notification.html": "<p>{{ lead.email }</p>\n",
            "templates/sales/notifcation.txt": "{{ lead.email }}\n",
        }
    )
    code, output = run("--workspace", str(workspace.root), "check")
    assert code == 1, output
    lines = output.splitlines()
    assert any(line.startswith("scheduler/jobs.yaml:3:") and "soon" in line for line in lines), output
    assert any(line.startswith("scheduler/jobs.yaml:4:") and "tikc" in line for line in lines), output
    assert any(line.startswith("templates/sales/notification.html:1:1: template error") for line in lines), (
        output
    )
    assert any(
        line.startswith("templates/sales/notifcation.txt: warning: no sales email uses")
        and "did you mean 'notification.txt'" in line
        for line in lines
    ), output


def test_good_overrides_and_schedule_pass_check(make_workspace: WorkspaceFactory) -> None:
    workspace = make_workspace(
        {
            "scheduler/jobs.yaml": "jobs:\n  send: {every: 30s}\n",
            "templates/sales/notification.subject.txt": "Neuer Lead: {{ lead.email }}\n",
        }
    )
    code, output = run("--workspace", str(workspace.root), "check")
    assert code == 0, output


def test_check_json_lists_every_problem_with_its_place(tmp_path: Path) -> None:
    from tests.program import SLA_AND_TEAM

    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "sales.yaml").write_text(
        SLA_AND_TEAM.replace("accept_within", "accept_witin"), encoding="utf-8"
    )
    result = CliRunner().invoke(main, ["--workspace", str(tmp_path), "check", "--json"])
    assert result.exit_code == 1
    facts = json.loads(result.output)
    assert facts["ok"] is False and facts["errors"] == 1
    [problem] = [p for p in facts["problems"] if p["severity"] == "error"]
    assert problem == {
        "file": "campaigns/sales.yaml", "line": 5, "column": 1, "severity": "error",
        "message": "unknown key 'accept_witin'; did you mean 'accept_within'?",
    }  # fmt: skip
    assert facts["definitions"]["SalesTeam"] == ["dach-sales"]


def test_check_warns_when_base_url_is_not_https(make_workspace: WorkspaceFactory) -> None:
    plain = make_workspace({"nurture.toml": 'base_url = "http://mail.example.com"\n'})
    code, output = run("--workspace", str(plain.root), "check")
    assert code == 0, output
    assert (
        "nurture.toml: warning: base_url 'http://mail.example.com' is not https: the List-Unsubscribe "
        "one-click URL (RFC 8058) must be https"
    ) in output
    for fine in ("https://mail.example.com", "http://127.0.0.1:8025", "http://localhost:8025", "http://[::1]:80"):
        workspace = make_workspace({"nurture.toml": f'base_url = "{fine}"\n'})
        code, output = run("--workspace", str(workspace.root), "check")
        assert code == 0 and "not https" not in output, (fine, output)


def test_check_reads_the_page_overrides_with_their_texts(make_workspace: WorkspaceFactory) -> None:
    workspace = make_workspace(
        {
            "templates/pages/unsubscribe.html": (
                '{% extends "pages/_layout.html" %}{% block body %}{% trans %}Bye {{ email }}{% endtrans %}'
                "{% endblock %}\n"
            ),
            "templates/pages/invalid.html": "{% trans %}Broken{% endtrans\n",
            "templates/pages/unsubscrib.html": "<p>x</p>\n",
        }
    )
    code, output = run("--workspace", str(workspace.root), "check")
    assert code == 1, output
    lines = output.splitlines()
    assert not any("pages/unsubscribe.html" in line for line in lines), output  # {% trans %} is known
    assert any(line.startswith("templates/pages/invalid.html:1:1: template error") for line in lines), output
    assert any(
        line.startswith("templates/pages/unsubscrib.html: warning: no page uses")
        and "did you mean 'unsubscribe.html'" in line
        for line in lines
    ), output
