"""The few HTML pages people see: unsubscribe, sales accept/reject, and "this link is not valid".

Plain pages in German or English (from ``Accept-Language``), every value escaped by Jinja2's
autoescaping, no scripts, one inline stylesheet allowed by its hash in the Content-Security-Policy.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined
from markupsafe import Markup
from starlette.responses import HTMLResponse

STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:34rem;"
    "margin:3rem auto;padding:0 1rem;color:#1f2937;line-height:1.5}"
    "h1{font-size:1.4rem}button{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:.3rem;"
    "background:#1d4ed8;color:#fff;cursor:pointer}textarea{width:100%;font:inherit;margin:.5rem 0}"
    ".muted{color:#6b7280;font-size:.9rem}.error{color:#b91c1c}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()

SECURITY_HEADERS = {
    "content-security-policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    # Never tell the site a tracked link leads to (or anyone else) which token was used.
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}

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
    "unsubscribe.html": """{% extends "layout.html" %}{% block body %}
<h1>{{ t.heading }}</h1><p>{{ t.text }}</p>
<form method="post" action="">
<input type="hidden" name="confirm" value="yes">
<button type="submit">{{ t.button }}</button></form>
<p class="muted">{{ t.note }}</p>{% endblock %}""",
    "sales.html": """{% extends "layout.html" %}{% block body %}
<h1>{{ t.heading }}</h1>
<p><strong>{{ lead_name }}</strong>{% if company %}, {{ company }}{% endif %}<br>
<span class="muted">{{ lead_email }} · Score {{ score }}</span></p>
{% if error %}<p class="error">{{ error }}</p>{% endif %}
<form method="post" action="">
{% if ask_reason %}<label for="reason">{{ t.reason }}</label>
<textarea id="reason" name="reason" rows="4" maxlength="500" required></textarea>{% endif %}
<button type="submit">{{ t.button }}</button></form>{% endblock %}""",
}

TEXTS: dict[str, dict[str, dict[str, str]]] = {
    "unsubscribe": {
        "de": {
            "title": "Abmelden",
            "heading": "Von unseren E-Mails abmelden?",
            "text": "Sie erhalten dann keine Marketing-E-Mails mehr an {email}.",
            "button": "Ja, abmelden",
            "note": "Ein Klick genügt. Sie können sich jederzeit wieder anmelden.",
        },
        "en": {
            "title": "Unsubscribe",
            "heading": "Unsubscribe from our emails?",
            "text": "You will no longer receive marketing emails at {email}.",
            "button": "Yes, unsubscribe",
            "note": "One click is all it takes. You can subscribe again at any time.",
        },
    },
    "unsubscribed": {
        "de": {
            "title": "Abgemeldet",
            "heading": "Sie sind abgemeldet.",
            "text": "Wir senden keine Marketing-E-Mails mehr an {email}. Danke für Ihr Interesse bisher!",
        },
        "en": {
            "title": "Unsubscribed",
            "heading": "You are unsubscribed.",
            "text": "We will not send any more marketing emails to {email}. Thank you for reading so far!",
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
    "sales-accept": {
        "de": {"title": "Lead annehmen", "heading": "Diesen Lead annehmen?", "button": "Annehmen"},
        "en": {"title": "Accept lead", "heading": "Accept this lead?", "button": "Accept"},
    },
    "sales-reject": {
        "de": {
            "title": "Lead ablehnen",
            "heading": "Diesen Lead ablehnen?",
            "reason": "Grund (Pflichtfeld):",
            "button": "Ablehnen",
            "missing": "Bitte geben Sie einen Grund an.",
        },
        "en": {
            "title": "Reject lead",
            "heading": "Reject this lead?",
            "reason": "Reason (required):",
            "button": "Reject",
            "missing": "Please give a reason.",
        },
    },
    "sales-accepted": {
        "de": {"title": "Angenommen", "heading": "Angenommen.", "text": "{lead} gehört jetzt Ihnen."},
        "en": {"title": "Accepted", "heading": "Accepted.", "text": "{lead} is yours now."},
    },
    "sales-rejected": {
        "de": {
            "title": "Abgelehnt",
            "heading": "Abgelehnt.",
            "text": "{lead} geht zurück ins Marketing. Danke für die Begründung.",
        },
        "en": {
            "title": "Rejected",
            "heading": "Rejected.",
            "text": "{lead} goes back to marketing. Thank you for the reason.",
        },
    },
    "sales-done": {
        "de": {"title": "Erledigt", "heading": "Erledigt.", "text": "{text}"},
        "en": {"title": "Done", "heading": "Done.", "text": "{text}"},
    },
    "sales-closed": {
        "de": {
            "title": "Bereits bearbeitet",
            "heading": "Dieser Lead ist nicht mehr offen.",
            "text": "Die Übergabe wurde bereits bearbeitet ({status}). Es wurde nichts geändert.",
        },
        "en": {
            "title": "Already handled",
            "heading": "This lead is no longer open.",
            "text": "The handoff was already handled ({status}). Nothing was changed.",
        },
    },
}

_environment = Environment(loader=DictLoader(_TEMPLATES), autoescape=True, undefined=StrictUndefined)


def language(accept_language: str | None) -> str:
    """``de`` or ``en``: the reader's most preferred of the two (English when neither is named)."""
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("de", "en"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = primary, q
    return best


def mask_email(email: str) -> str:
    """``an***@example.com``: enough for the reader to recognise, little for anyone else."""
    local, _, domain = email.partition("@")
    return f"{local[:2]}***@{domain}" if domain else "***"


def page(
    name: str,
    texts: str,
    lang: str,
    status_code: int = 200,
    *,
    values: dict[str, Any] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render a page; ``values`` fill the ``{placeholders}`` of the texts (escaped like the rest)."""
    t = {key: text.format(**(values or {})) for key, text in TEXTS[texts][lang].items()}
    # The stylesheet is ours and must stay byte-for-byte what its CSP hash says.
    html = _environment.get_template(name).render(t=t, lang=lang, style=Markup(STYLE), **context)  # noqa: S704 - a constant
    return HTMLResponse(html, status_code=status_code, headers={"cache-control": "no-store"})
