"""A lead gets the version of a template and the subject of their locale, else the workspace's;
`preview`, `send-test` and `simulate` follow the lead's locale or `--locale`."""

from __future__ import annotations

import email
import email.policy
import json
import re
from email.message import EmailMessage

import pytest

from nurture.sending.factory import build_outbox
from nurture.workspace import Workspace
from tests.harness import Harness
from tests.program import TRIAL, write_program
from tests.sending.test_outbox import MONDAY, deliver

LEADS = (
    "email,first_name,country,timezone,locale\n"
    "anna@alpenblick.de,Anna,DE,Europe/Berlin,de-AT\n"
    "tom@taktwerk.ch,Tom,CH,Europe/Zurich,en-US\n"
    "ueli@bergbahn.ch,Ueli,CH,Europe/Zurich,de_CH\n"
    "jens@rheinwerk.de,Jens,DE,Europe/Berlin,\n"
    "marie@lac.ch,Marie,CH,Europe/Zurich,fr-CH\n"
)
PAGE = (
    '<html lang="{{ locale }}"><body><p>%s {{ lead.first_name }}</p>'
    '<a href="{{ unsubscribe_url }}">x</a></body></html>\n'
)


@pytest.fixture
def h(harness: Harness) -> Harness:
    trial = TRIAL.replace(
        'subject: "Willkommen, {{ lead.first_name }}!"',
        'subject: {de: "Willkommen, {{ lead.first_name }}!", en: "Welcome, {{ lead.first_name }}!"}, '
        'from: {de: "Taktwerk <hallo@taktwerk.example>", en: "Taktwerk Team <hello@taktwerk.example>"}',
    )
    assert trial != TRIAL
    write_program(harness.root, trial)
    folder = harness.root / "templates" / "t"
    (folder / "welcome.html").write_text(PAGE % "Hallo", encoding="utf-8")
    (folder / "welcome.en.html").write_text(PAGE % "Hello", encoding="utf-8")
    (folder / "welcome.en.txt").write_text("Hello {{ lead.first_name }} ({{ locale }})\n", encoding="utf-8")
    (folder / "welcome.de-CH.html").write_text(PAGE % "Grüezi", encoding="utf-8")
    toml = harness.root / "nurture.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + 'locale = "de"\n', encoding="utf-8")
    return harness


def sent(h: Harness) -> dict[str, EmailMessage]:
    found = {}
    for path in (h.root / "outbox" / "new").iterdir():
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        found[str(parsed["To"]).rpartition("<")[2].rstrip(">")] = parsed
    return found


def html(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None
    return str(body.get_content())


def test_each_lead_gets_the_template_and_subject_of_their_locale(h: Harness) -> None:
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    assert deliver(h, MONDAY).outcomes == {"sent": 5}
    mails = sent(h)
    expected = {
        # (subject, greeting, Content-Language and <html lang>)
        "anna@alpenblick.de": ("Willkommen, Anna!", "Hallo Anna", "de"),  # de-AT: no version; the plain one
        "tom@taktwerk.ch": ("Welcome, Tom!", "Hello Tom", "en"),
        "ueli@bergbahn.ch": ("Willkommen, Ueli!", "Grüezi Ueli", "de-CH"),  # the subject falls back to de
        "jens@rheinwerk.de": ("Willkommen, Jens!", "Hallo Jens", "de"),  # no locale: the workspace's
        "marie@lac.ch": ("Willkommen, Marie!", "Hallo Marie", "de"),  # no French: the workspace's
    }
    for address, (subject, greeting, language) in expected.items():
        mail = mails[address]
        assert (mail["Subject"], mail["Content-Language"]) == (subject, language), address
        assert greeting in html(mail) and f'<html lang="{language}">' in html(mail), address
    assert mails["tom@taktwerk.ch"]["From"] == "Taktwerk Team <hello@taktwerk.example>"
    assert mails["ueli@bergbahn.ch"]["From"] == "Taktwerk <hallo@taktwerk.example>"
    text = mails["tom@taktwerk.ch"].get_body(("plain",))
    assert text is not None and text.get_content().strip() == "Hello Tom (en)"


def test_preview_and_send_test_take_the_leads_locale_or_the_one_given(h: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    h.import_leads(LEADS, MONDAY)
    as_lead = cli("preview", "trial", "welcome", "--lead", "tom@taktwerk.ch")
    assert as_lead.exit_code == 0, as_lead.output
    assert "Subject: Welcome, Tom!\nContent-Language: en\n" in as_lead.output
    given = cli(
        "preview", "trial", "welcome", "--lead", "tom@taktwerk.ch", "--locale", "de_ch", "--part", "html"
    )
    assert given.exit_code == 0, given.output
    assert "Grüezi Tom" in given.output and '<html lang="de-CH">' in given.output
    refused = cli("preview", "trial", "welcome", "--sample", "--locale", "klingon")
    assert refused.exit_code == 2 and "'klingon' is not a locale" in refused.output
    test_send = cli(
        "send-test", "trial", "welcome", "--to", "qa@taktwerk.example", "--sample", "--locale", "en"
    )
    assert test_send.exit_code == 0, test_send.output
    assert "sent '[TEST] Welcome, " in test_send.output


def test_simulate_renders_in_each_leads_locale_or_the_one_given(h: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    h.import_leads(LEADS, MONDAY)
    env = {"NURTURE_NOW": "2026-03-02T08:30:00Z"}
    args = ("simulate", "--days", "1", "--no-engagement", "--json")
    own = json.loads(cli(*args, env=env).output)
    subjects = {s["email"]: s["subject"] for s in own["sends"]}
    assert (
        subjects["tom@taktwerk.ch"] == "Welcome, Tom!"
        and subjects["jens@rheinwerk.de"] == "Willkommen, Jens!"
    )
    english = json.loads(cli(*args, "--locale", "en", env=env).output)
    assert {s["subject"].split(",")[0] for s in english["sends"]} == {"Welcome"}


def test_one_composer_keeps_each_leads_locale_and_each_emails_kind_apart(h: Harness) -> None:
    # What a send step's emails share is worked out once per locale and kind: an email must
    # never take the subject, sender, template or headers worked out for another lead's locale,
    # nor a transactional email the topic of a marketing one.
    composer = build_outbox(h.store, h.engine().program, Workspace(h.root)).composer

    def compose(lead_id: int, first_name: str, locale: str | None, transactional: bool) -> EmailMessage:
        lead = {"id": lead_id, "email": f"{first_name.lower()}@example.com", "first_name": first_name}
        lead["locale"] = locale
        composed = composer.marketing(
            lead_id,
            f"<m{lead_id}@example.com>",
            lead,
            "trial",
            "welcome",
            MONDAY,
            transactional=transactional,
        )
        parsed = email.message_from_bytes(composed.message.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    for round_ in range(2):
        anna = compose(1, "Anna", "de", False)
        tom = compose(2, "Tom", "en-US", False)
        ueli = compose(3, "Ueli", "de-CH", False)
        tom_receipt = compose(4, "Tom", "en-US", True)
        assert (anna["Subject"], anna["Content-Language"], str(anna["From"])) == (
            "Willkommen, Anna!",
            "de",
            "Taktwerk <hallo@taktwerk.example>",
        ), round_
        assert (tom["Subject"], tom["Content-Language"], str(tom["From"])) == (
            "Welcome, Tom!",
            "en",
            "Taktwerk Team <hello@taktwerk.example>",
        ), round_
        assert "Hallo Anna" in html(anna) and "Hello Tom" in html(tom) and "Grüezi Ueli" in html(ueli)
        assert ueli["Content-Language"] == "de-CH"
        assert anna["List-Unsubscribe"] and tom["List-Unsubscribe"]
        assert tom_receipt["List-Unsubscribe"] is None and tom_receipt["Subject"] == "Welcome, Tom!"
        # Each email's own unsubscribe link: the lead's, naming the campaign's topic unless the
        # email is transactional.
        links = {name: unsubscribe_link(mail) for name, mail in (("anna", anna), ("tom", tom))}
        links["receipt"] = unsubscribe_link(tom_receipt)
        read = composer.tracker.read_unsubscribe
        assert [read(links[name]) for name in ("anna", "tom", "receipt")] == [
            (1, 1, "marketing"),
            (2, 2, "marketing"),
            (4, 4, None),
        ]


def unsubscribe_link(message: EmailMessage) -> str:
    match = re.search(r'href="[^"]*/u/([^"]+)"', html(message))
    assert match is not None
    return match.group(1)
