"""A small nurture program written into a test workspace."""

from __future__ import annotations

from pathlib import Path

TRIAL = """\
kind: Campaign
key: trial
entry:
  on: lead_created
  where: "lead.country in ['DE', 'AT', 'CH']"
exit_when:
  - "lead.lifecycle_stage in ['mql', 'sal', 'customer']"
send_window: {days: mon-fri, hours: "09:00-17:00", timezone: lead}
steps:
  - id: welcome
    send: {template: t/welcome, subject: "Willkommen, {{ lead.first_name }}!"}
  - wait: 2d
  - id: opened-welcome
    branch: {if: "opened('welcome')", then: case-study, else: reminder}
  - id: reminder
    send: {template: t/reminder, subject: "Schon ausprobiert?"}
  - id: wait-after-reminder
    wait: 3d
  - id: case-study
    send: {template: t/case-study, subject: "Fallstudie"}
  - id: wait-for-click
    wait: {until: "clicked('case-study')", timeout: 5d}
  - id: engaged
    score: {points: 10, reason: "finished the trial nurture"}
  - id: last-call
    send: {template: t/last-call, subject: "Noch Fragen?"}
"""

SLA_AND_TEAM = """\
kind: SLA
name: marketing-sales
mql: {when: "lead.score >= 100"}
route_to: dach-sales
accept_within: 4h
on_breach: reassign
max_reassignments: 2
recycle: {campaign: recycle, score: halve}
---
kind: SalesTeam
key: dach-sales
manager: {name: Petra Vogel, email: petra.vogel@example.com}
routing: round_robin
reps:
  - {id: anna, name: Anna Schmidt, email: anna.schmidt@example.com, territories: [DE], capacity: 30,
     working_hours: {timezone: Europe/Berlin, days: mon-fri, hours: "08:00-18:00"}}
"""

SALES = (
    SLA_AND_TEAM
    + """\
---
kind: Campaign
key: recycle
entry: {on: manual}
steps:
  - id: back
    send: {template: t/reminder, subject: "Wieder da"}
"""
)

TEMPLATE = """<html><body><p>Hallo {{ lead.first_name | default('') }},</p>
<p><a href="https://taktwerk.example/{{ step.id if step is defined else 'x' }}">Mehr</a></p></body></html>
"""


def write_program(root: Path, trial: str = TRIAL, extra: str = "") -> None:
    (root / "campaigns").mkdir(exist_ok=True)
    (root / "campaigns" / "trial.yaml").write_text(trial, encoding="utf-8")
    (root / "campaigns" / "sales.yaml").write_text(SALES, encoding="utf-8")
    if extra:
        (root / "campaigns" / "extra.yaml").write_text(extra, encoding="utf-8")
    folder = root / "templates" / "t"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("welcome", "reminder", "case-study", "last-call", "newsletter"):
        (folder / f"{name}.html").write_text(TEMPLATE, encoding="utf-8")
