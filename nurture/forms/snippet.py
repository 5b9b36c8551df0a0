"""The HTML a website embeds to show a form: labelled inputs, the honeypot, the consent text.

Everything taken from the definition is escaped. The honeypot is hidden by CSS, off-screen and
out of the tab order, not ``type=hidden``: bots skip hidden inputs but fill in text ones, and
screen readers are told to ignore it. No script: the browser posts the form itself.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from nurture.definitions.form import Form, FormField
from nurture.forms.submission import CONSENT, HONEYPOT

BUTTON = {"de": "Absenden", "en": "Submit"}
HONEYPOT_LABEL = {"de": "Bitte leer lassen", "en": "Please leave empty"}
CHOOSE = {"de": "Bitte wählen", "en": "Please choose"}
# Browsers fill these in for the visitor (HTML autocomplete tokens).
AUTOCOMPLETE = {
    "email": "email", "first_name": "given-name", "last_name": "family-name", "company": "organization",
    "job_title": "organization-title", "country": "country",
}  # fmt: skip
_HIDE = ".nurture-hp{position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden}"


def form_snippet(form: Form, base_url: str, lang: str = "en") -> str:
    """An embeddable ``<form>`` posting to ``base_url/forms/KEY``."""
    lang = lang if lang in BUTTON else "en"
    action = f"{base_url.rstrip('/')}/forms/{form.key}"
    prefix = f"nf-{form.key}"
    lines = [
        f'<form class="nurture-form" action="{escape(action)}" method="post" accept-charset="utf-8">',
        f"  <style>{_HIDE}</style>",
    ]
    lines.extend(_field(field, prefix, lang) for field in form.fields)
    lines.append(
        f'  <div class="nurture-hp" aria-hidden="true"><label for="{prefix}-{HONEYPOT}">'
        f"{escape(HONEYPOT_LABEL[lang])}</label> "
        f'<input id="{prefix}-{HONEYPOT}" name="{HONEYPOT}" type="text" tabindex="-1" '
        'autocomplete="off"></div>'
    )
    if form.consent is not None:
        required = " required" if form.consent.required else ""
        lines.append(
            f'  <p><input id="{prefix}-{CONSENT}" name="{CONSENT}" type="checkbox" value="on"{required}> '
            f'<label for="{prefix}-{CONSENT}">{escape(form.consent.text)}</label></p>'
        )
    lines.append(f'  <p><button type="submit">{escape(form.submit_label or BUTTON[lang])}</button></p>')
    lines.append("</form>")
    return "\n".join(lines) + "\n"


def _field(field: FormField, prefix: str, lang: str) -> str:
    ident = f"{prefix}-{field.name}"
    label = Markup(f'<label for="{ident}">{escape(field.label or field.name)}</label>')  # noqa: S704 - escaped
    required = " required" if field.required else ""
    if field.type == "checkbox":
        return (
            f'  <p><input id="{ident}" name="{field.name}" type="checkbox" value="on"{required}> {label}</p>'
        )
    if field.type == "choice":
        options = [f'<option value="">{escape(CHOOSE[lang])}</option>']
        options += [f'<option value="{escape(c)}">{escape(c)}</option>' for c in field.choices]
        choices = "".join(options)
        return f'  <p>{label}<br><select id="{ident}" name="{field.name}"{required}>{choices}</select></p>'
    kind = "email" if field.type == "email" else "text"
    autocomplete = AUTOCOMPLETE.get(field.maps_to, "on")
    return (
        f'  <p>{label}<br><input id="{ident}" name="{field.name}" type="{kind}" '
        f'maxlength="{field.max_length}" autocomplete="{autocomplete}"{required}></p>'
    )
