"""The HTML a website embeds to show a form: labelled inputs, the honeypot, the consent text.

Rendered from ``forms/snippet.html`` (nurture's own, replaceable under the workspace's
``templates/``) with autoescaping, so every text taken from the definition is escaped. The
honeypot is hidden by CSS, off-screen and out of the tab order, not ``type=hidden``: bots skip
hidden inputs but fill in text ones, and screen readers are told to ignore it. No script: the
browser posts the form itself.
"""

from __future__ import annotations

from pathlib import Path

from nurture.definitions.form import Form
from nurture.forms.submission import CONSENT, HONEYPOT
from nurture.i18n import DEFAULT_TEMPLATES, Reader, own_environment, render_own
from nurture.zones import zone

# Browsers fill these in for the visitor (HTML autocomplete tokens).
AUTOCOMPLETE = {
    "email": "email", "first_name": "given-name", "last_name": "family-name", "company": "organization",
    "job_title": "organization-title", "country": "country",
}  # fmt: skip


def form_snippet(form: Form, base_url: str, locale: str = "en", templates_dir: Path | None = None) -> str:
    """An embeddable ``<form>`` posting to ``base_url/forms/KEY``, nurture's own texts (the
    button, the honeypot's label) in ``locale``."""
    paths = [templates_dir, DEFAULT_TEMPLATES] if templates_dir is not None else [DEFAULT_TEMPLATES]
    template = own_environment(*paths).get_template("forms/snippet.html")
    reader = Reader.of([locale], default="en", zone=zone("UTC"))
    fields = [
        {
            "name": f.name, "label": f.label or f.name, "type": f.type, "required": f.required,
            "choices": list(f.choices), "max_length": f.max_length,
            "input": "email" if f.type == "email" else "text",
            "autocomplete": AUTOCOMPLETE.get(f.maps_to, "on"),
        }
        for f in form.fields
    ]  # fmt: skip
    consent = {"text": form.consent.text, "required": form.consent.required} if form.consent else None
    values = {
        "action": f"{base_url.rstrip('/')}/forms/{form.key}", "prefix": f"nf-{form.key}", "fields": fields,
        "honeypot": HONEYPOT, "consent_name": CONSENT, "consent": consent, "submit_label": form.submit_label,
    }  # fmt: skip
    return render_own(template, reader, values).strip() + "\n"
