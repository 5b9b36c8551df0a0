"""The pages of double opt-in (confirm, confirmed, not valid) and of a refused form post.

German or English by ``Accept-Language``; the look and the stylesheet are those of nurture's
other pages (:mod:`nurture.http.pages`), whose security headers every response gets; every value
is escaped.
"""

from __future__ import annotations

from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined
from markupsafe import Markup
from starlette.responses import HTMLResponse

from nurture.http.pages import STYLE

_LAYOUT = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{ t.title }}</title><style>{{ style }}</style></head>
<body><main>{% block body %}{% endblock %}</main></body></html>"""

_TEMPLATES = {
    "layout.html": _LAYOUT,
    "message.html": """{% extends "layout.html" %}{% block body %}
<h1>{{ t.heading }}</h1><p>{{ t.text }}</p>{% endblock %}""",
    "confirm.html": """{% extends "layout.html" %}{% block body %}
<h1>{{ t.heading }}</h1><p>{{ t.text }}</p>
<form method="post" action="">
<button type="submit">{{ t.button }}</button></form>
<p class="muted">{{ t.note }}</p>{% endblock %}""",
}

TEXTS: dict[str, dict[str, dict[str, str]]] = {
    "confirm": {
        "de": {
            "title": "Anmeldung bestätigen",
            "heading": "Anmeldung bestätigen?",
            "text": "Ein Klick bestätigt, dass Sie E-Mails an {email} erhalten möchten.",
            "button": "Ja, bestätigen",
            "note": "Sie können sich jederzeit wieder abmelden.",
        },
        "en": {
            "title": "Confirm subscription",
            "heading": "Confirm your subscription?",
            "text": "One click confirms that you want to receive emails at {email}.",
            "button": "Yes, confirm",
            "note": "You can unsubscribe at any time.",
        },
    },
    "confirmed": {
        "de": {
            "title": "Bestätigt",
            "heading": "Danke, Ihre Anmeldung ist bestätigt.",
            "text": "Sie erhalten unsere E-Mails an {email}.",
        },
        "en": {
            "title": "Confirmed",
            "heading": "Thank you, your subscription is confirmed.",
            "text": "You will receive our emails at {email}.",
        },
    },
    "gone": {
        "de": {
            "title": "Nicht mehr gültig",
            "heading": "Dieser Link ist nicht mehr gültig.",
            "text": "Er ist abgelaufen oder die Anmeldung wurde inzwischen zurückgezogen. "
            "Bitte melden Sie sich noch einmal an.",
        },
        "en": {
            "title": "No longer valid",
            "heading": "This link is no longer valid.",
            "text": "It has expired or the subscription was withdrawn since. Please sign up again.",
        },
    },
    "invalid": {
        "de": {
            "title": "Ungültiger Link",
            "heading": "Dieser Link ist ungültig.",
            "text": "Er ist unvollständig oder wurde verändert. Bitte verwenden Sie den Link genau so, "
            "wie er in der E-Mail steht.",
        },
        "en": {
            "title": "Invalid link",
            "heading": "This link is not valid.",
            "text": "It is incomplete or was changed. Please use the link exactly as it is in the email.",
        },
    },
    "refused": {
        "de": {
            "title": "Nicht angenommen",
            "heading": "Das Formular wurde nicht angenommen.",
            "text": "{reason}",
        },
        "en": {
            "title": "Not accepted",
            "heading": "The form was not accepted.",
            "text": "{reason}",
        },
    },
    "unavailable": {
        "de": {
            "title": "Vorübergehend nicht verfügbar",
            "heading": "Das hat gerade nicht geklappt.",
            "text": "Bitte versuchen Sie es in ein paar Minuten noch einmal.",
        },
        "en": {
            "title": "Temporarily unavailable",
            "heading": "That did not work just now.",
            "text": "Please try again in a few minutes.",
        },
    },
}

# Why a post was refused, as the visitor reads it.
REASONS: dict[str, dict[str, str]] = {
    "origin": {
        "de": "Dieses Formular kann nur von den Seiten dieser Website gesendet werden.",
        "en": "This form can only be sent from the pages of this website.",
    },
    "rate": {
        "de": "Zu viele Anfragen in kurzer Zeit. Bitte warten Sie eine Minute.",
        "en": "Too many requests in a short time. Please wait a minute.",
    },
    "size": {"de": "Die Eingaben sind zu lang.", "en": "The entries are too long."},
    "type": {
        "de": "Das Formular wurde in einem unbekannten Format gesendet.",
        "en": "The form arrived in an unknown format.",
    },
    "form": {"de": "Dieses Formular gibt es nicht.", "en": "There is no such form."},
    "input": {"de": "Bitte prüfen Sie Ihre Eingaben.", "en": "Please check your entries."},
}

_environment = Environment(loader=DictLoader(_TEMPLATES), autoescape=True, undefined=StrictUndefined)


def form_page(
    name: str, texts: str, lang: str, status_code: int = 200, *, values: dict[str, Any] | None = None
) -> HTMLResponse:
    """Render a page; ``values`` fill the ``{placeholders}`` of the texts (escaped like the rest)."""
    t = {key: text.format(**(values or {})) for key, text in TEXTS[texts][lang].items()}
    # The stylesheet is ours and must stay byte-for-byte what its CSP hash says.
    html = _environment.get_template(name).render(t=t, lang=lang, style=Markup(STYLE))  # noqa: S704 - a constant
    return HTMLResponse(html, status_code=status_code, headers={"cache-control": "no-store"})


def refused_page(reason: str, lang: str, status_code: int) -> HTMLResponse:
    return form_page("message.html", "refused", lang, status_code, values={"reason": REASONS[reason][lang]})
