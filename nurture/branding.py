"""The workspace's look on the pages nurture serves and in its own emails: name, logo, colours.

Every value is checked when the settings are read, so what reaches a page or a stylesheet is
known to be harmless there: the logo is an https URL without credentials, quotes, spaces or
angle brackets (it also goes into the Content-Security-Policy's ``img-src``), and the colours are
hex colours (they go into the one inline stylesheet, whose hash the policy allows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PRIMARY = "#1d4ed8"
DEFAULT_TEXT = "#1f2937"
MAX_URL = 2000

_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_URL_CHARACTERS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+$")  # RFC 3986, nothing else


def checked_color(value: str) -> str:
    """``#1d4ed8`` or ``#fff``, written in lower case; ValueError names what is wrong."""
    text = value.strip()
    if not _HEX.match(text):
        raise ValueError(f"{value!r} is not a hex colour (e.g. #1d4ed8)")
    return text.lower()


def checked_logo_url(value: str) -> str:
    """An https URL of an image; ValueError names what is wrong."""
    text = value.strip()
    if len(text) > MAX_URL or not _URL_CHARACTERS.match(text):
        raise ValueError(f"{value!r} is not a plain URL (no spaces, quotes or angle brackets)")
    parts = urlsplit(text)
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ValueError(f"{value!r} is not an https URL: the logo is shown on https pages and emails")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{value!r} carries credentials; a logo URL is public")
    try:
        parts.port  # noqa: B018 - raises for a port that is no number
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    return text


@dataclass(frozen=True)
class Branding:
    """The workspace's name, logo and colours; each None/default when not set."""

    name: str | None = None
    logo_url: str | None = None
    primary_color: str = DEFAULT_PRIMARY
    text_color: str = DEFAULT_TEXT

    @property
    def logo_origin(self) -> str | None:
        """``https://cdn.example.com`` (with a port when one is given): the one origin images
        may come from besides the server itself."""
        if self.logo_url is None:
            return None
        parts = urlsplit(self.logo_url)
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        return f"https://{host}" + (f":{parts.port}" if parts.port is not None else "")
