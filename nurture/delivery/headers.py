"""Header fields written by hand: RFC 5322 folding, RFC 2047 encoded-words, safe addresses.

Every value that can come from lead data (a display name, a rendered subject) passes through
:func:`clean_header_text` first, which turns CR, LF, NUL and every other control or line-separator
character into a plain space. After that no value can end a header line early, so lead data can
never add a header of its own ("Eve\\r\\nBcc: victim@example.com" becomes one harmless name).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from functools import lru_cache

from nurture.errors import NurtureError

MAX_LINE = 78
"""RFC 5322 §2.1.1: lines SHOULD be at most 78 characters; 998 is the hard limit."""

_ENCODED_WORD_MAX = 75
_ENCODED_WORD_OVERHEAD = len("=?utf-8?q?") + len("?=")

# C0 controls, DEL, C1 controls and the Unicode line/paragraph separators: none belongs in a header.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s+")
_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,75}")
# Characters that may stand for themselves inside a Q encoded-word in a phrase (RFC 2047 §5 (3)).
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
# atext of RFC 5322 §3.2.3 plus space: a display name made of these needs no quoting.
_PLAIN_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")
# Dot-atom local parts; non-ASCII letters too (RFC 6531, sent with SMTPUTF8), never C1 controls
# or white space.
_ATEXT = r"(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|[^\x00-\x9f\s])"
_LOCAL_PART = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_DOMAIN = re.compile(r"(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}")
_NAME_AND_ADDRESS = re.compile(r"\s*(?P<name>.*?)\s*<(?P<address>[^<>]*)>\s*", re.DOTALL)


class HeaderError(NurtureError):
    """A header value nurture refuses to write."""


class InvalidAddress(HeaderError):
    """An e-mail address that cannot be put on an envelope or into a header safely."""


def clean_header_text(value: str) -> str:
    """``value`` on one line: control characters become spaces, runs of whitespace one space."""
    if _UNSAFE.search(value):
        value = _UNSAFE.sub(" ", value)
    return _SPACES.sub(" ", value).strip()


@dataclass(frozen=True, slots=True)
class Address:
    """A mailbox: the addr-spec (ASCII; an international domain in its punycode form) and a name."""

    email: str
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", normalize_email(self.email))
        object.__setattr__(self, "name", clean_header_text(self.name))

    @classmethod
    def parse(cls, text: str) -> Address:
        """``Name <local@domain>``, ``"Last, First" <local@domain>`` or a bare ``local@domain``."""
        match = _NAME_AND_ADDRESS.fullmatch(text)
        if match is None:
            return cls(text)
        name = match["name"]
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = re.sub(r"\\(.)", r"\1", name[1:-1])
        return cls(match["address"], name)

    @property
    def domain(self) -> str:
        """The part after the ``@`` (lower case, punycode for international domains)."""
        return self.email.rpartition("@")[2]

    def __str__(self) -> str:
        return format_address(self)


def normalize_email(address: str) -> str:
    """The addr-spec as it goes on the wire, or :class:`InvalidAddress` saying why it cannot."""
    candidate = address.strip()
    local, at, domain = candidate.rpartition("@")
    if not at or not local or not domain:
        raise InvalidAddress(f"not an e-mail address: {address!r}")
    if not _LOCAL_PART.fullmatch(local) or len(local.encode("utf-8")) > 64:
        # Quoted local parts would need quoting that relays mangle.
        raise InvalidAddress(f"unsupported local part in e-mail address: {address!r}")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidAddress(f"not a valid domain in e-mail address: {address!r}") from None
    if not _DOMAIN.fullmatch(domain):
        raise InvalidAddress(f"not a valid domain in e-mail address: {address!r}")
    return f"{local}@{domain.lower()}"


def format_address(address: Address) -> str:
    """The address as a header value: plain, quoted or with an RFC 2047 encoded name."""
    return _format_address(address.name, address.email)


def _format_address(name: str, email: str) -> str:
    if not name:
        return email
    return " ".join((*_phrase_atoms(name), f"<{email}>"))


@lru_cache(maxsize=8192)
def _phrase_atoms(name: str) -> tuple[str, ...]:
    # A non-ASCII name becomes as few encoded-words as fit (one for any usual name): between two
    # encoded-words RFC 2047 drops the space, and not every parser agrees on that.
    if name.isascii() and "=?" not in name and len(name) <= 60:
        if _PLAIN_PHRASE.fullmatch(name):
            return tuple(name.split(" "))
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return (f'"{quoted}"',)
    # The first word leaves room for the longest address header name, "Reply-To: ".
    return tuple(encoded_words(name, first=MAX_LINE - len("Reply-To: ")))


def header_field(name: str, value: str) -> bytes:
    """One unstructured header field (Subject, X-...), encoded and folded, ending in CRLF."""
    return _header_field(name, clean_header_text(value))


@lru_cache(maxsize=4096)
def _header_field(name: str, value: str) -> bytes:
    check_header_name(name)
    first = MAX_LINE - len(name) - 2
    words = value.split(" ") if value else []
    plain = (
        value.isascii()
        and "=?" not in value
        and all(len(w) <= MAX_LINE - 2 for w in words)
        and (not words or len(words[0]) <= first)
    )
    atoms = words if plain else encoded_words(value, first=min(first, _ENCODED_WORD_MAX))
    return fold(name, atoms)


def address_field(name: str, *addresses: Address) -> bytes:
    """An address header (From, To, Reply-To) folded between words and addresses."""
    check_header_name(name)
    atoms: list[str] = []
    for index, address in enumerate(addresses):
        parts = format_address(address).split(" ")
        if index < len(addresses) - 1:
            parts[-1] += ","
        atoms.extend(parts)
    return fold(name, atoms)


def raw_field(name: str, value: str) -> bytes:
    """A structured field nurture composed itself (Message-ID, List-Unsubscribe, Date), folded."""
    check_header_name(name)
    if _UNSAFE.search(value) or not value.isascii():
        raise HeaderError(f"{name}: refusing a value with control or non-ASCII characters")
    return fold(name, value.split(" "))


def check_header_name(name: str) -> None:
    """Refuse header names that are not plain ``Letters-Digits-And-Hyphens``."""
    if not _HEADER_NAME.fullmatch(name):
        raise HeaderError(f"not a header name: {name!r}")


def fold(name: str, atoms: list[str]) -> bytes:
    """``Name: atom atom ...`` with a line break before any atom that would pass 78 characters.

    Atoms are never split; callers keep them short (encoded-words are at most 75 characters).
    """
    lines: list[str] = []
    line = name + ":"
    fresh = True
    for atom in atoms:
        if not fresh and len(line) + 1 + len(atom) > MAX_LINE:
            lines.append(line)
            line = " " + atom
        else:
            line = line + " " + atom
        fresh = False
    lines.append(line)
    # ASCII but for a non-ASCII local part of an address, which RFC 6532 writes as UTF-8.
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def encoded_words(text: str, *, first: int = _ENCODED_WORD_MAX) -> list[str]:
    """``text`` as RFC 2047 encoded-words (UTF-8), each whole characters, each ≤ 75 characters.

    Q encoding keeps mostly-Latin text readable in raw form; B encoding is shorter when most
    characters need escaping. ``first`` shortens the first word so the first line stays ≤ 78.
    """
    raw = text.encode("utf-8")
    escaped = sum(1 for byte in raw if byte not in _Q_SAFE and byte != 0x20)
    if escaped * 3 > len(raw):
        return _b_words(text, first)
    return _q_words(text, first)


def _q_words(text: str, first: int) -> list[str]:
    words: list[str] = []
    limit = max(first, _ENCODED_WORD_OVERHEAD + 9) - _ENCODED_WORD_OVERHEAD
    current: list[str] = []
    size = 0
    for char in text:
        piece = _Q_PIECES.get(char)
        if piece is None:
            piece = _q_piece(char)
        if size + len(piece) > limit and current:
            words.append("=?utf-8?q?" + "".join(current) + "?=")
            current, size = [], 0
            limit = _ENCODED_WORD_MAX - _ENCODED_WORD_OVERHEAD
        current.append(piece)
        size += len(piece)
    if current or not words:
        words.append("=?utf-8?q?" + "".join(current) + "?=")
    return words


_Q_PIECES: dict[str, str] = {}


def _q_piece(char: str) -> str:
    """``char`` as it appears inside a Q encoded-word (remembered: a name repeats its letters)."""
    if char == " ":
        piece = "_"
    else:
        encoded = char.encode("utf-8")
        safe = len(encoded) == 1 and encoded[0] in _Q_SAFE
        piece = char if safe else "".join(f"={b:02X}" for b in encoded)
    if len(_Q_PIECES) < 4096:
        _Q_PIECES[char] = piece
    return piece


def _b_words(text: str, first: int) -> list[str]:
    words: list[str] = []
    room = max(first, _ENCODED_WORD_OVERHEAD + 8) - _ENCODED_WORD_OVERHEAD
    chunk = b""
    for char in text:
        encoded = char.encode("utf-8")
        if chunk and _b64_len(len(chunk) + len(encoded)) > room:
            words.append("=?utf-8?b?" + base64.b64encode(chunk).decode("ascii") + "?=")
            chunk = b""
            room = _ENCODED_WORD_MAX - _ENCODED_WORD_OVERHEAD
        chunk += encoded
    if chunk or not words:
        words.append("=?utf-8?b?" + base64.b64encode(chunk).decode("ascii") + "?=")
    return words


def _b64_len(octets: int) -> int:
    return 4 * ((octets + 2) // 3)
