"""Double opt-in over the real app: pending until the signed link is followed, then confirmed;
expiry, lifted unsubscribes, kept bounces and the limits against subscription bombing."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from nurture.definitions import load_program
from nurture.delivery.transports import MemoryTransport
from nurture.engagement import suppress, unsubscribe
from nurture.engagement.preferences import leave_topic
from nurture.engine.tick import CampaignEngine
from nurture.forms import FormIntake, Post, Submission, expire_pending, read_submission
from nurture.forms.opt_in import OptInLink, confirm
from nurture.guards.consent import consent_settings
from nurture.guards.suppression_lists import Entry, import_suppressions
from nurture.leads.addresses import suppression_hash
from nurture.leads.forget import forget_lead
from nurture.lifecycle import Lifecycle
from nurture.sending.factory import build_outbox
from nurture.store.schema import audit_log, messages, suppressions, topic_suppressions
from nurture.workspace import Workspace
from tests.forms.conftest import Site

GOOD = {"email": "lena@alpenblick.de", "first_name": "Lena", "country": "DE", "consent": "on"}


def link_in(site: Site, index: int = -1) -> str:
    text = site.confirmations()[index].text
    found = re.search(r"https://nurture\.taktwerk\.example(/forms/confirm/[A-Za-z0-9_-]+)", text)
    assert found is not None, text
    return found.group(1)


def test_consent_is_pending_until_the_link_is_followed_by_a_post(site: Site) -> None:
    response = site.post("newsletter", GOOD, **{"accept-language": "de-DE,de;q=0.9"})
    assert response.status_code == 303
    assert site.consent("lena@alpenblick.de", "newsletter") == "pending"
    (email,) = site.confirmations()
    assert email.to_address == "lena@alpenblick.de" and email.status == "queued"
    assert email.subject == "Bitte bestätigen Sie Ihre Anmeldung: Newsletter"
    assert "Ja, ich möchte den Taktwerk-Newsletter erhalten." in email.text
    path = link_in(site)
    page = site.client.get(path, headers={"accept-language": "de"})
    assert page.status_code == 200 and "Ja, bestätigen" in page.text and "le***@alpenblick.de" in page.text
    assert (
        site.consent("lena@alpenblick.de", "newsletter") == "pending"
    )  # a GET (a link scanner) confirms nothing
    done = site.client.post(path, headers={"x-forwarded-for": "198.51.100.20"})
    assert done.status_code == 200 and "confirmed" in done.text
    assert site.consent("lena@alpenblick.de", "newsletter") == "confirmed"
    confirmed = site.consent_rows()[-1]
    assert (confirmed.source, confirmed.text_version, confirmed.ip) == ("link", "2026-03", "198.51.100.20")
    assert [e.type for e in site.events()] == ["form_submit", "opt_in_confirmed"]
    again = site.client.post(path)  # a second click changes nothing
    assert again.status_code == 200 and len(site.consent_rows()) == 2 and len(site.events()) == 2


def test_a_changed_token_is_refused(site: Site) -> None:
    site.post("newsletter", GOOD)
    path = link_in(site)
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert site.client.post(forged).status_code == 404
    assert site.client.get(forged).status_code == 404
    assert site.consent("lena@alpenblick.de", "newsletter") == "pending"


def test_an_unconfirmed_opt_in_expires_and_its_link_with_it(site: Site) -> None:
    site.post("newsletter", GOOD)
    path = link_in(site)
    site.clock.advance(timedelta(days=7, seconds=1))
    assert site.client.post(path).status_code == 410
    assert site.consent("lena@alpenblick.de", "newsletter") == "pending"
    with site.store.begin() as conn:
        assert expire_pending(conn, site.clock.now(), timedelta(days=7)) == 1
        assert expire_pending(conn, site.clock.now(), timedelta(days=7)) == 0
    assert site.consent("lena@alpenblick.de", "newsletter") == "expired"
    expired = site.consent_rows()[-1]
    assert (expired.source, expired.text_version) == ("expiry", "2026-03")


def test_confirming_lifts_an_earlier_unsubscribe_for_that_topic_only(site: Site) -> None:
    site.post("demo", {"email": "lena@alpenblick.de", "company": "Alpenblick", "consent": "on"})
    with site.store.begin() as conn:
        unsubscribe(conn, "lena@alpenblick.de", site.clock.now(), "page")
    site.clock.advance(timedelta(days=30))
    site.post("newsletter", GOOD)
    assert len(site.confirmations()) == 1  # an unsubscribed address may still be asked
    assert deliver(site) == ["lena@alpenblick.de"]  # and the sender lets this one email through
    site.client.post(link_in(site))
    assert site.consent("lena@alpenblick.de", "newsletter") == "confirmed"
    digest = suppression_hash("lena@alpenblick.de")
    with site.store.connect() as conn:
        assert conn.scalar(select(suppressions.c.reason).where(suppressions.c.email_hash == digest)) is None
        left = dict(conn.execute(select(topic_suppressions.c.topic, topic_suppressions.c.reason)).all())
    # She had left everything: the other topics stay left, the confirmed one is open again.
    assert left == {"marketing": "unsubscribe"}
    assert site.lead("lena@alpenblick.de").unsubscribed_at is None


def test_confirming_lifts_the_topic_left_on_the_preference_centre_and_no_other(site: Site) -> None:
    site.post("newsletter", GOOD)
    site.client.post(link_in(site))
    lead_id = site.lead("lena@alpenblick.de").id
    with site.store.begin() as conn:  # she leaves both topics, one by one
        for topic in ("newsletter", "marketing"):
            assert not leave_topic(conn, lead_id, topic, site.clock.now(), channel="page").already
    assert site.consent("lena@alpenblick.de", "newsletter") == "withdrawn"
    site.clock.advance(timedelta(days=30))
    site.post("newsletter", {**GOOD, "first_name": "Lena B."})  # and signs up for the newsletter again
    assert deliver(site)[-1:] == ["lena@alpenblick.de"]  # the confirmation passes her topic suppressions
    site.clock.advance(timedelta(minutes=5))
    site.client.post(link_in(site))
    assert site.consent("lena@alpenblick.de", "newsletter") == "confirmed"
    with site.store.connect() as conn:
        left = dict(conn.execute(select(topic_suppressions.c.topic, topic_suppressions.c.reason)).all())
        lifts = conn.execute(
            select(audit_log.c.actor, audit_log.c.subject, audit_log.c.detail).where(
                audit_log.c.action == "lift_suppression"
            )
        ).all()
    assert left == {"marketing": "unsubscribe"}  # the topic she did not sign up for stays left
    assert [tuple(row) for row in lifts] == [
        ("opt-in link", f"lead:{lead_id}", {"reason": "unsubscribe", "topics": ["newsletter"]})
    ]
    # The newsletter's campaign, started by the confirmation, reaches her again.
    assert site.root is not None
    workspace = Workspace(site.root)
    program = load_program(workspace)
    lifecycle = Lifecycle.of(program, workspace.settings)
    engine = CampaignEngine(site.store, program, workspace.settings, then=lifecycle)
    engine.record_program(site.clock.now())
    engine.tick(site.clock.now())
    with site.store.connect() as conn:
        queued = conn.execute(
            select(messages.c.campaign_key, messages.c.status).where(messages.c.kind == "marketing")
        ).all()
    # The topic she still has left holds its campaign back.
    assert sorted(tuple(row) for row in queued) == [("newsletter", "queued"), ("trial", "suppressed")]
    assert deliver(site) == ["lena@alpenblick.de"]


def test_a_topic_complaint_is_never_lifted_by_confirming(site: Site) -> None:
    with site.store.begin() as conn:
        entry = Entry(1, "lena@alpenblick.de", suppression_hash("lena@alpenblick.de"))
        import_suppressions(
            conn, [entry], reason="complaint", topic="newsletter", detail="old tool", now=site.clock.now()
        )
    site.post("newsletter", GOOD)
    site.client.post(link_in(site))
    assert site.consent("lena@alpenblick.de", "newsletter") == "confirmed"
    with site.store.connect() as conn:
        left = dict(conn.execute(select(topic_suppressions.c.topic, topic_suppressions.c.reason)).all())
        assert conn.scalar(select(audit_log.c.id).where(audit_log.c.action == "lift_suppression")) is None
    assert left == {"newsletter": "complaint"}


def test_lifting_a_topic_under_a_hard_bounce_keeps_the_lead_unsubscribed(site: Site) -> None:
    site.post("demo", {"email": "lena@alpenblick.de", "company": "Alpenblick", "consent": "on"})
    lead_id = site.lead("lena@alpenblick.de").id
    with site.store.begin() as conn:  # she leaves the newsletter, then everything; then the address bounces
        leave_topic(conn, lead_id, "newsletter", site.clock.now(), channel="page")
        unsubscribe(conn, lead_id, site.clock.now(), "page")
        suppress(conn, "lena@alpenblick.de", "hard_bounce", site.clock.now(), "550 no such user")
    left_at = site.lead("lena@alpenblick.de").unsubscribed_at
    site.clock.advance(timedelta(days=1))
    site.post("newsletter", GOOD)
    link = OptInLink(lead_id, "newsletter", "2026-03", ("newsletter",))
    with site.store.begin() as conn:  # a link from an email sent before the bounce
        done = confirm(
            conn, link, site.clock.now(), ip=None, expiry=timedelta(days=7), all_topics=["newsletter"]
        )
        assert done is not None and done.lifted == "unsubscribe"
        assert conn.scalar(select(suppressions.c.reason)) == "hard_bounce"
        assert conn.scalar(select(topic_suppressions.c.topic)) is None
    # Only lifting her leaving all would make her subscribed again; the bounce took its place.
    assert left_at is not None and site.lead("lena@alpenblick.de").unsubscribed_at == left_at


def test_confirming_after_erasure_lifts_the_erasure(site: Site) -> None:
    site.post("newsletter", GOOD)
    with site.store.begin() as conn:
        forget_lead(conn, "lena@alpenblick.de", site.clock.now())
    site.clock.advance(timedelta(days=1))
    site.post("newsletter", GOOD)
    site.client.post(link_in(site))
    assert site.consent("lena@alpenblick.de", "newsletter") == "confirmed"
    with site.store.connect() as conn:
        assert conn.scalar(select(suppressions.c.reason)) is None


def test_a_hard_bounce_is_never_lifted_and_gets_no_confirmation(site: Site) -> None:
    site.post("newsletter", GOOD)  # a confirmation is queued ...
    with site.store.begin() as conn:  # ... and the address bounces hard before it goes out
        suppress(conn, "lena@alpenblick.de", "hard_bounce", site.clock.now(), "550 no such user")
    assert deliver(site) == []
    site.clock.advance(timedelta(minutes=5))
    site.post("newsletter", {**GOOD, "first_name": "Lena B."})
    assert len(site.confirmations()) == 1  # the address does not work: no new email to it
    assert site.consent("lena@alpenblick.de", "newsletter") == "pending"
    lead_id = site.lead("lena@alpenblick.de").id
    link = OptInLink(lead_id, "newsletter", "2026-03", ("newsletter",))
    with site.store.begin() as conn:  # even a link from an earlier email lifts nothing
        done = confirm(
            conn, link, site.clock.now(), ip=None, expiry=timedelta(days=7), all_topics=["newsletter"]
        )
        assert done is not None and done.lifted is None
        assert conn.scalar(select(suppressions.c.reason)) == "hard_bounce"


def deliver(site: Site) -> list[str]:
    """Run the outbox once; the addresses it handed to the transport."""
    assert site.root is not None
    workspace = Workspace(site.root)
    transport = MemoryTransport()
    outbox = build_outbox(site.store, load_program(workspace), workspace, transport, clock=site.clock.now)

    async def run() -> None:
        await outbox.deliver_due(site.clock.now())

    asyncio.run(run())
    return [message.recipients[0] for message in transport.sent]


def test_three_confirmation_emails_per_address_a_day_and_a_limit_per_ip(site: Site) -> None:
    for n in range(4):
        site.clock.advance(timedelta(minutes=1))
        site.post("newsletter", {**GOOD, "first_name": f"Lena {n}"}, **{"x-forwarded-for": f"192.0.2.{n}"})
    assert len(site.confirmations()) == 3
    site.clock.advance(timedelta(days=1))
    site.post("newsletter", {**GOOD, "first_name": "Lena again"}, **{"x-forwarded-for": "192.0.2.77"})
    assert len(site.confirmations()) == 4


def test_confirmation_emails_asked_from_one_ip_are_limited(site: Site) -> None:
    intake = FormIntake(
        site.context.program,  # type: ignore[arg-type]
        site.context.lifecycle.sales.settings.model_copy(update={"opt_in_emails_per_ip": 2}),  # type: ignore[union-attr]
        site.context.signer,
    )
    form = intake.program.form("newsletter")
    answers = []
    for n in range(4):
        submission = read_submission(form, {**GOOD, "email": f"victim{n}@example.org"})
        assert isinstance(submission, Submission)
        post = Post.of(form, submission, site.clock.now(), "192.0.2.1", None)
        with site.store.begin() as conn:
            (accepted,) = intake.accept_many(conn, None, [post], site.clock.now())
        answers.append(accepted.confirmation)
        site.clock.advance(timedelta(seconds=1))
    assert answers == ["sent", "sent", "ip_limit", "ip_limit"]
    assert len(site.confirmations()) == 2


def test_a_double_opt_in_topic_needs_confirmed_consent_to_be_mailed(site: Site) -> None:
    program = site.context.program
    assert program is not None
    settings = site.context.lifecycle.sales.settings  # type: ignore[union-attr]
    screened = consent_settings(settings, program)
    assert screened.consent_required("newsletter") and not screened.consent_required("marketing")
    assert not settings.consent_required("newsletter")  # the workspace's own setting is left as written


def test_a_confirmation_template_over_a_render_limit_falls_back_to_nurtures_own(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    assert site.root is not None
    folder = site.root / "templates" / "forms"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "confirm.html").write_text("{{ 'x' * 2000000 }}", encoding="utf-8")  # over render_max_chars
    response = site.post("newsletter", GOOD)
    assert response.status_code == 303
    (email,) = site.confirmations()
    assert "/forms/confirm/" in email.html and "x" * 1000 not in email.html
    assert "templates/forms/confirm.* failed" in caplog.text
