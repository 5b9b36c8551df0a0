"""A link as a browser would follow it: the WHATWG URL rules for what a written URL means.

A template may write lead data into a link (``?c={{ lead.company }}`` with "ACME GmbH"). A browser
given that href does not refuse it: it drops tabs and line breaks, trims outer spaces and
percent-encodes a space, a quote, ``<``, ``>`` and any non-ASCII character in the path, query and
fragment (each part has its own set), and writes an international domain in punycode. Tracked
links are signed and redirected in that form, so a click lands where the unchanged link would
have; percent signs already there are kept as written, as browsers keep them.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
# https://url.spec.whatwg.org/#percent-encoded-bytes, beyond C0 controls and non-ASCII.
_FRAGMENT_SET = frozenset(' "<>`')
_QUERY_SET = frozenset(" \"#<>'")  # the special-query set: http and https are special schemes
_PATH_SET = frozenset(' "#<>?`{}')
_USERINFO_SET = frozenset(' "#<>?`{}/:;=@[\\]^|')


def browser_url(url: str) -> str:
    """``url`` as a browser would request it (http and https; others are returned as given)."""
    trimmed = url.strip(_C0_AND_SPACE)
    if "\t" in trimmed or "\n" in trimmed or "\r" in trimmed:
        trimmed = trimmed.replace("\t", "").replace("\n", "").replace("\r", "")
    if trimmed.isascii() and not _needs_encoding(trimmed):
        return trimmed  # nearly every link: nothing to do
    try:
        parts = urlsplit(trimmed)
    except ValueError:
        return trimmed
    if parts.scheme.lower() not in ("http", "https"):
        return trimmed
    return _serialise(parts, has_query="?" in trimmed.partition("#")[0])


_NEEDS_ENCODING = re.compile(r"[\x00-\x20\"<>`{}\x7f]")


def _needs_encoding(url: str) -> bool:
    return _NEEDS_ENCODING.search(url) is not None


def _serialise(parts: SplitResult, *, has_query: bool) -> str:
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    host, colon, port = hostport.partition(":") if not hostport.startswith("[") else (hostport, "", "")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            host = _encode(host, frozenset())
    netloc = (_encode(userinfo, _USERINFO_SET) + at if at else "") + host.lower() + colon + port
    url = f"{parts.scheme.lower()}://{netloc}{_encode(parts.path, _PATH_SET)}"
    if parts.query or has_query:
        url += "?" + _encode(parts.query, _QUERY_SET)
    if parts.fragment:
        url += "#" + _encode(parts.fragment, _FRAGMENT_SET)
    return url


def _encode(text: str, extra: frozenset[str]) -> str:
    out: list[str] = []
    for ch in text:
        if ch in extra or ch < "!" or ch > "~":
            out.append("".join(f"%{byte:02X}" for byte in ch.encode("utf-8", "surrogatepass")))
        else:
            out.append(ch)
    return "".join(out)
