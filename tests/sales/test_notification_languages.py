"""Sales emails in the rep's language: the rep's locale, else the workspace's."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.sales.desk import MONDAY, Desk, team, write_workspace

LEADS = (
    "email,first_name,last_name,company,job_title,company_size,country\n"
    "lena@alpenblick.de,Lena,Wolf,Alpenblick GmbH,Head of Operations,1200,DE\n"
    "max@bergwerk.at,Max,Huber,Bergwerk AG,Engineer,30,AT\n"
)


@pytest.fixture
def desk(workspace: Path, store: Engine) -> Desk:
    reps = team(reps="anna:DE:30,ben:AT:20").replace(
        "email: anna@sales.example,", "email: anna@sales.example, locale: en,"
    )
    write_workspace(workspace, sales_team=reps)
    with (workspace / "nurture.toml").open("a", encoding="utf-8") as toml:
        toml.write('timezone = "Europe/Berlin"\nbase_url = "https://nurture.example"\nlocale = "de"\n')
    desk = Desk(workspace, store)
    desk.import_leads(LEADS)
    return desk


def test_a_rep_without_a_locale_reads_the_workspaces_german(desk: Desk) -> None:
    desk.make_mql("max@bergwerk.at", MONDAY)
    [notice] = desk.sales_messages("max@bergwerk.at")
    assert notice.subject.startswith("Neuer Lead für Sie: Max Huber (Bergwerk AG), Score ")
    assert notice.text.startswith("Hallo Ben Rep,\n\nein neuer marketing-qualifizierter Lead gehört Ihnen.")
    # Ben works in Zurich: 08:30 UTC + 4 working hours is 13:30 there, written the German way.
    assert "Bitte nehmen Sie ihn bis Mo., 2. März 2026 13:30 (Europe/Zurich) an" in notice.text
    assert "30 Mitarbeitende" in notice.text and "Letzte Interaktionen" in notice.text
    assert '<html lang="de">' in notice.html and ">Lead annehmen</a>" in notice.html
    assert "Annehmen: https://nurture.example/sales/accept/" in notice.text


def test_a_rep_with_locale_en_reads_english_inside_a_german_program(desk: Desk) -> None:
    desk.make_mql("lena@alpenblick.de", MONDAY)
    [notice] = desk.sales_messages("lena@alpenblick.de")
    assert notice.subject.startswith("New lead for you: Lena Wolf (Alpenblick GmbH), score ")
    assert notice.text.startswith("Hello Anna Rep,\n\na new marketing-qualified lead is yours.")
    assert "1,200 employees" in notice.text  # numbers in the rep's format too
    assert '<html lang="en">' in notice.html and ">Accept lead</a>" in notice.html


def test_an_escalation_reads_the_managers_locale(workspace: Path, store: Engine) -> None:
    sla = (
        'kind: SLA\nname: s\nmql: {when: "lead.score >= 100"}\nroute_to: dach-sales\n'
        "accept_within: 4h\non_breach: escalate\n"
    )
    managed = team(reps="anna:DE:0").replace(
        "manager: {name: Petra Vogel, email: petra.vogel@example.com}",
        "manager: {name: Petra Vogel, email: petra.vogel@example.com, locale: de-CH}",
    )
    write_workspace(workspace, sla=sla, sales_team=managed)
    desk = Desk(workspace, store)
    desk.import_leads(LEADS)
    desk.make_mql("lena@alpenblick.de", MONDAY)  # Anna has no room: straight to the manager
    [notice] = desk.sales_messages("lena@alpenblick.de")
    assert notice.subject.startswith("Eskalierter Lead: Lena Wolf")
    assert '<html lang="de-CH">' in notice.html and "Hallo Petra Vogel," in notice.text
