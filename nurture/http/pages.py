"""The pages people see: the preference centre (unsubscribe), sales accept/reject, and "this link
is not valid".

Each is one of nurture's own templates (``pages/<name>.html`` under ``nurture/default_templates``,
replaced by a workspace file of the same name under ``templates/pages/``), rendered in the
reader's language (:mod:`nurture.i18n`): the lead's or rep's ``locale`` when the page is for a
known person, else the browser's ``Accept-Language``, else the workspace's ``locale`` setting.
Every value is escaped by autoescaping, there are no scripts, and the one inline stylesheet (in
the workspace's colours) is allowed by its hash in the Content-Security-Policy; images only from
the server and the workspace's logo origin. The workspace's name and logo head every page.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import TemplateError
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from nurture.branding import Branding
from nurture.i18n import DEFAULT_TEMPLATES, Reader, own_environment, render_own
from nurture.settings import Settings
from nurture.zones import zone

log = logging.getLogger("nurture.http")

def page_style(branding: Branding) -> str:
    """The one stylesheet of every page, in the workspace's colours (checked hex values)."""
    return (
        "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:34rem;"
        f"margin:3rem auto;padding:0 1rem;color:{branding.text_color};line-height:1.5}}"
        f"header{{display:flex;align-items:center;gap:.75rem;padding-bottom:.75rem;"
        f"border-bottom:3px solid {branding.primary_color};margin-bottom:1.5rem}}"
        "header img{max-height:2.5rem;max-width:12rem}header span{font-weight:600;font-size:1.1rem}"
        "h1{font-size:1.4rem}button{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:.3rem;"
        f"background:{branding.primary_color};color:#fff;cursor:pointer}}"
        "textarea{width:100%;font:inherit;margin:.5rem 0}"
        ".muted{color:#6b7280;font-size:.9rem}.error{color:#b91c1c}"
        "fieldset{border:0;padding:0;margin:0 0 1rem}label.choice{display:block;margin:.7rem 0}"
        # The rep's lead page: tables, one box per step.
        "main{max-width:46rem}table{border-collapse:collapse;width:100%;margin:.3rem 0 1rem}"
        "td{text-align:left;padding:.25rem .4rem;border-bottom:1px solid #e5e7eb;vertical-align:top}"
        "td.n{text-align:right;white-space:nowrap}label{display:block;margin:.4rem 0 .1rem}"
        "section{margin:1rem 0;padding:.8rem 1rem;border:1px solid #e5e7eb;border-radius:.4rem}"
        "select,input{font:inherit;padding:.3rem}.notice{background:#ecfdf5;padding:.6rem 1rem}"
        "button.danger{background:#b91c1c}"
    )


STYLE = page_style(Branding())


def style_hash(style: str) -> str:
    """The CSP source (``'sha256-…'``) allowing exactly this inline stylesheet."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(style.encode()).digest()).decode() + "'"


def security_headers(style: str, image_origin: str | None = None) -> dict[str, str]:
    """The headers of every response: a strict CSP allowing only ``style`` inline, and images
    from the server and ``image_origin`` (the logo's) alone."""
    images = "'self'" + (f" {image_origin}" if image_origin else "")
    return {
        "content-security-policy": (
            f"default-src 'none'; style-src {style_hash(style)}; img-src {images}; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "x-content-type-options": "nosniff",
        # Never tell the site a tracked link leads to (or anyone else) which token was used.
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
    }


SECURITY_HEADERS = security_headers(STYLE)


def mask_email(email: str) -> str:
    """``an***@example.com``: enough for the reader to recognise, little for anyone else."""
    local, _, domain = email.partition("@")
    return f"{local[:2]}***@{domain}" if domain else "***"


class Pages:
    """nurture's pages for one workspace: its templates, default locale and zone, and branding."""

    def __init__(
        self,
        search_paths: Iterable[Path],
        *,
        default_locale: str = "en",
        default_zone: ZoneInfo | None = None,
        branding: Branding | None = None,
    ) -> None:
        self.environment = own_environment(*search_paths)
        # nurture's own pages alone: what a lead sees when a workspace's page fails to render.
        self.fallback = own_environment(DEFAULT_TEMPLATES)
        self.default_locale = default_locale
        self.default_zone = default_zone or zone("UTC")
        self.branding = branding or Branding()
        self.style = page_style(self.branding)
        self.headers = {
            **security_headers(self.style, self.branding.logo_origin),
            "cache-control": "no-store",
        }

    @classmethod
    def of(cls, settings: Settings, templates_dir: Path | None) -> Pages:
        """The pages of a workspace: ``templates/pages/*`` first, then nurture's own."""
        paths = [templates_dir, DEFAULT_TEMPLATES] if templates_dir is not None else [DEFAULT_TEMPLATES]
        return cls(
            paths,
            default_locale=settings.locale,
            default_zone=zone(settings.timezone),
            branding=settings.branding,
        )

    def reader(self, request: Request, *known: str | None, zone: ZoneInfo | None = None) -> Reader:
        """Who reads the page: ``known`` locales first (a lead's, a rep's), else the browser's."""
        return Reader.of(
            known,
            accept_language=request.headers.get("accept-language"),
            default=self.default_locale,
            zone=zone or self.default_zone,
        )

    def render(self, name: str, reader: Reader, status_code: int = 200, **values: Any) -> HTMLResponse:
        """``pages/<name>.html`` for ``reader``, with the page's security headers."""
        # The stylesheet is ours and must stay byte-for-byte what its CSP hash says.
        values["style"] = Markup(self.style)  # noqa: S704 - ours, from checked hex colours only
        values["brand"] = self.branding
        try:
            html = render_own(self.environment.get_template(f"pages/{name}.html"), reader, values)
        except TemplateError as exc:
            # A typo in templates/pages/ must not keep a lead from unsubscribing: nurture's own page.
            log.error("templates/pages/%s.html failed (%s); serving nurture's own page", name, exc)
            html = render_own(self.fallback.get_template(f"pages/{name}.html"), reader, values)
        headers = {**self.headers, "content-language": reader.lang}
        return HTMLResponse(html, status_code=status_code, headers=headers)
