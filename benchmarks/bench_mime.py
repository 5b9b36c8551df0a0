"""Throughput of the email path: render + track + build MIME, against the stdlib ``email`` package.

Run with ``.venv/bin/python benchmarks/bench_mime.py [COUNT]`` (default 20,000 messages). Uses a
realistic layout (a table-based layout with a stylesheet, a preheader, a button and a footer) and
German content; prints messages per second for each stage and for the whole path, and the signed
tracking tokens' sign + verify operations per second.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

from nurture.delivery.headers import Address
from nurture.delivery.mime import Email, bounce_token, build_message, verp_address
from nurture.delivery.render import EmailRenderer, email_context
from nurture.delivery.tracking import LinkTracker
from nurture.templating import template_environment
from nurture.tokens import TokenSigner

LAYOUT = """<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{{ campaign.name }}{% endblock %}</title>
<style>
  body { margin: 0; padding: 0; background: #f2f4f7; font-family: Helvetica, Arial, sans-serif; }
  .wrapper { width: 100%; background: #f2f4f7; padding: 24px 0; }
  .container { width: 600px; margin: 0 auto; background: #ffffff; border-radius: 6px; }
  .header { padding: 24px 32px; border-bottom: 1px solid #e5e7eb; }
  .header img { display: block; border: 0; }
  .content { padding: 32px; color: #1f2937; font-size: 16px; line-height: 24px; }
  h1 { font-size: 24px; line-height: 32px; margin: 0 0 16px; color: #111827; }
  p { margin: 0 0 16px; }
  a { color: #2563eb; text-decoration: underline; }
  .button { display: inline-block; padding: 12px 24px; background: #2563eb; color: #ffffff;
            text-decoration: none; border-radius: 4px; font-weight: bold; }
  ul.benefits li { margin-bottom: 8px; }
  .footer { padding: 24px 32px; font-size: 12px; line-height: 18px; color: #6b7280; }
  .footer a { color: #6b7280; }
  @media only screen and (max-width: 620px) {
    .container { width: 100% !important; }
    .content { padding: 20px !important; }
  }
</style>
</head>
<body>
<span class="preheader" style="display:none">{% block preheader %}{% endblock %}</span>
<table role="presentation" class="wrapper" cellpadding="0" cellspacing="0"><tr><td>
<table role="presentation" class="container" cellpadding="0" cellspacing="0">
<tr><td class="header"><a href="https://www.example.com/?utm_source=nurture&amp;utm_medium=email">
<img src="https://www.example.com/logo.png" width="140" height="40" alt="Example GmbH"></a></td></tr>
<tr><td class="content">{% block content %}{% endblock %}</td></tr>
<tr><td class="footer">
<p>Example GmbH · Leopoldstraße 12 · 80802 München · Geschäftsführer: Dr. Jörg Weiß</p>
<p>Sie erhalten diese E-Mail, weil Sie sich für eine Testversion registriert haben.
<a href="{{ unsubscribe_url }}">Abmelden</a> ·
<a href="https://www.example.com/datenschutz?utm_source=nurture&amp;utm_campaign={{ campaign.key }}"
   >Datenschutz</a> ·
<a href="mailto:support@example.com">Support</a></p>
</td></tr>
</table>
</td></tr></table>
</body>
</html>
"""

WELCOME = """{% extends "layouts/base.html" %}
{% block preheader %}Ihre Testversion ist bereit – so starten Sie in fünf Minuten.{% endblock %}
{% block content %}
<h1>Willkommen, {{ lead.first_name }}!</h1>
<p>schön, dass Sie sich für die Testversion entschieden haben. In den nächsten 14 Tagen zeigen wir
Ihnen, wie {{ lead.company }} mit weniger Aufwand mehr qualifizierte Leads gewinnt.</p>
<p>Die drei Schritte, mit denen die meisten Teams beginnen:</p>
<ul class="benefits">
  <li>Kontakte importieren – per CSV oder direkt aus Ihrem CRM.</li>
  <li>Eine Nurture-Strecke aus unseren Vorlagen auswählen und anpassen.</li>
  <li>Das Scoring-Modell mit Ihrem Vertrieb abstimmen.</li>
</ul>
<p><a class="button"
      href="https://app.example.com/start?lead={{ lead.id }}&amp;utm_campaign={{ campaign.key }}"
   >Jetzt loslegen</a></p>
<p>Fragen? Antworten Sie einfach auf diese E-Mail oder lesen Sie unseren
<a href="https://www.example.com/hilfe/erste-schritte?utm_source=nurture&amp;utm_campaign={{ campaign.key }}"
   >Leitfaden für die ersten Schritte</a>.</p>
<p>Viele Grüße aus München<br>Ihr Team von Example</p>
{% endblock %}
"""

WELCOME_TEXT = """Willkommen, {{ lead.first_name }}!

schön, dass Sie sich für die Testversion entschieden haben. In den nächsten 14 Tagen zeigen wir
Ihnen, wie {{ lead.company }} mit weniger Aufwand mehr qualifizierte Leads gewinnt.

Die drei Schritte, mit denen die meisten Teams beginnen:

- Kontakte importieren – per CSV oder direkt aus Ihrem CRM.
- Eine Nurture-Strecke aus unseren Vorlagen auswählen und anpassen.
- Das Scoring-Modell mit Ihrem Vertrieb abstimmen.

Jetzt loslegen: https://app.example.com/start?lead={{ lead.id }}&utm_campaign={{ campaign.key }}

Viele Grüße aus München
Ihr Team von Example

Abmelden: {{ unsubscribe_url }}
"""

FIRST_NAMES = [
    "Jürgen",
    "Anna",
    "Björn",
    "Zoë",
    "Sophie",
    "Maximilian",
    "Özlem",
    "François",
    "Lukas",
    "Märta",
]
LAST_NAMES = ["Müller", "Schmidt", "Weiß", "Groß", "Schäfer", "Köhler", "Yılmaz", "Straßer", "Becker", "Böhm"]
COMPANIES = ["Bäckerei Groß GmbH", "Müller & Söhne KG", "Straßenbau Süd AG", "Example Systems GmbH"]


SLICE = 1_000  # the machine is shared: rates per slice show how much of a figure is noise


class Campaign:
    key = "trial-nurture"
    name = "Trial nurture (DACH)"


def leads(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": index,
            "email": f"lead{index}@example.de",
            "first_name": FIRST_NAMES[index % len(FIRST_NAMES)],
            "last_name": LAST_NAMES[index % len(LAST_NAMES)],
            "company": COMPANIES[index % len(COMPANIES)],
        }
        for index in range(count)
    ]


def measure(label: str, count: int, seconds: float) -> float:
    rate = count / seconds
    print(f"  {label:<42} {rate:>10,.0f} msgs/s  ({seconds * 1e6 / count:7.1f} µs/msg)")
    return rate


def run(count: int, root: Path, *, with_text_template: bool) -> dict[str, float]:
    (root / "layouts").mkdir(parents=True, exist_ok=True)
    (root / "trial").mkdir(parents=True, exist_ok=True)
    (root / "layouts" / "base.html").write_text(LAYOUT, encoding="utf-8")
    (root / "trial" / "welcome.html").write_text(WELCOME, encoding="utf-8")
    text_file = root / "trial" / "welcome.txt"
    if with_text_template:
        text_file.write_text(WELCOME_TEXT, encoding="utf-8")
    elif text_file.exists():
        text_file.unlink()

    renderer = EmailRenderer(template_environment(root))
    signer = TokenSigner(b"benchmark-secret-key-0123456789")
    tracker = LinkTracker(signer, "https://t.example.com")
    sender = Address("marketing@example.com", "Example GmbH – Team München")
    people = leads(count)
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    subject = "Willkommen, {{ lead.first_name }}! Grüße aus München"

    warm_up = email_context(
        lead=people[0], campaign=Campaign, step="welcome", unsubscribe_url="https://t.example/u/0", now=now
    )
    renderer.render("trial/welcome", subject, warm_up)

    # One message at a time through all three stages, as the sender does, timing each stage.
    render_seconds = track_seconds = build_seconds = 0.0
    slice_rates: list[float] = []
    slice_started = 0.0
    sizes = 0
    samples: list[Email] = []
    clock = time.perf_counter
    for lead in people:
        t0 = clock()
        unsubscribe_url = tracker.unsubscribe_url(lead["id"], lead["id"])
        context = email_context(
            lead=lead, campaign=Campaign, step="welcome", unsubscribe_url=unsubscribe_url, now=now
        )
        rendered = renderer.render("trial/welcome", subject, context)
        t1 = clock()
        tracked = tracker.track(rendered, lead["id"], unsubscribe_url=unsubscribe_url)
        t2 = clock()
        token = bounce_token(signer, lead["id"])
        email = Email(
            sender=sender,
            to=Address(lead["email"], f"{lead['first_name']} {lead['last_name']}"),
            subject=tracked.subject,
            text=tracked.text,
            html=tracked.html,
            date=now,
            list_unsubscribe=unsubscribe_url,
            bounce_token=token,
            extra_headers={"X-Nurture-Campaign": "trial-nurture"},
        )
        verp_address(token, "bounces.example.com")
        sizes += len(build_message(email).data)
        t3 = clock()
        render_seconds += t1 - t0
        track_seconds += t2 - t1
        build_seconds += t3 - t2
        if (lead["id"] + 1) % SLICE == 0:
            spent = render_seconds + track_seconds + build_seconds
            slice_rates.append(SLICE / (spent - slice_started))
            slice_started = spent
        if len(samples) < max(count // 10, 200):
            samples.append(email)

    started = time.perf_counter()
    stdlib_count = len(samples)
    for email in samples[:stdlib_count]:
        message = EmailMessage()
        message["Date"] = email.date
        message["From"] = str(email.sender.name) + " <" + email.sender.email + ">"
        message["To"] = f"{email.to.name} <{email.to.email}>"
        message["Subject"] = email.subject
        message["Message-ID"] = "<x@example.com>"
        message["List-Unsubscribe"] = f"<{email.list_unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["X-Nurture-Campaign"] = "trial-nurture"
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
        message.as_bytes(policy=SMTP)
    stdlib_seconds = time.perf_counter() - started

    label = ".txt template" if with_text_template else "text derived from HTML"
    print(f"\n{count:,} messages, {label}, average size {sizes // count:,} bytes")
    figures = {
        "render": measure("render (Jinja2 + CSS inlining + text part)", count, render_seconds),
        "track": measure("tracking (links, pixel)", count, track_seconds),
        "build": measure("MIME build (nurture)", count, build_seconds),
        "stdlib": measure("MIME build (stdlib email.message)", stdlib_count, stdlib_seconds),
        "total": measure("render + track + build", count, render_seconds + track_seconds + build_seconds),
    }
    print(f"  nurture MIME build is {figures['build'] / figures['stdlib']:.1f}× the stdlib's")
    if slice_rates:
        ordered = sorted(slice_rates)
        print(
            f"  render + track + build per {SLICE:,} messages: slowest {ordered[0]:,.0f}, "
            f"median {statistics.median(ordered):,.0f}, fastest {ordered[-1]:,.0f} msgs/s"
        )
    return figures


def signing(count: int) -> float:
    """Signed tracking tokens: one sign and one verify per link, the cost every click pays."""
    signer = TokenSigner(b"benchmark-secret-key-0123456789")
    url = "https://www.example.com/hilfe/erste-schritte?utm_source=nurture&utm_campaign=trial"
    started = time.perf_counter()
    for index in range(count):
        signer.verify("click", signer.sign("click", (index, url)))
    seconds = time.perf_counter() - started
    rate = 2 * count / seconds
    print(f"\n{count:,} tracking tokens signed and verified")
    print(f"  sign + verify {rate:>10,.0f} operations/s  ({seconds * 1e6 / count:7.1f} µs per pair)")
    return rate


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        run(count, root, with_text_template=True)
        run(count, root, with_text_template=False)
    signing(count)


if __name__ == "__main__":
    main()
