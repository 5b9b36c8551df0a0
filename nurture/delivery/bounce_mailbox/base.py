"""What every bounce mailbox does: hand out its waiting messages, each classified, until each is
marked done.

A message is marked done only after what it reports has been committed, so a crash in between
hands it out again. That second reading must not count the bounce twice: every item carries a
key, the same however often (and from whichever copy) the report is read, and the event it
records is stored under that key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from nurture.delivery.bounces import BounceReport, classify_bounce
from nurture.errors import NurtureError
from nurture.tokens import TokenSigner

# The report's own Message-ID, in its top-level header (the returned original below has another).
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


class BounceMailboxError(NurtureError):
    """The bounce mailbox setting is wrong or the mailbox cannot be read (the password is never shown)."""


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One unprocessed message of the bounce mailbox and what it reports."""

    key: str
    """Stable across readings: what the event it records is stored under."""
    name: str
    """Where it is, for the operator: a Maildir file name, or the IMAP folder and UID."""
    report: BounceReport


class OpenMailbox(Protocol):
    """A bounce mailbox while it is being read."""

    def new_messages(self) -> Iterator[InboxItem]:
        """The messages not yet marked done, oldest first."""
        ...

    def done(self, item: InboxItem) -> None:
        """Mark one message processed, so it is not handed out again."""
        ...


class BounceMailbox(Protocol):
    """Where bounces, complaints and auto-replies to the bounce address arrive."""

    def describe(self) -> str:
        """The mailbox for logs and messages, without any password."""
        ...

    def open(self) -> AbstractContextManager[OpenMailbox]:
        """Connect for one reading (raises :class:`BounceMailboxError` when it cannot)."""
        ...


def inbox_item(name: str, raw: bytes, signer: TokenSigner) -> InboxItem:
    """Classify one raw message of the mailbox and give it its stable key."""
    report = classify_bounce(raw, signer)
    return InboxItem(key=report_key(raw, report), name=name, report=report)


def report_key(raw: bytes, report: BounceReport) -> str:
    """``bounce-inbox:MESSAGE:DIGEST``: the message the report is about, and a digest of the
    report's Message-ID (of its bytes when it has none).

    The Message-ID makes the same report delivered twice count once; the message number keeps
    reports apart that a careless mail system gave the same Message-ID.
    """
    header = _HEADER_END.split(raw, 1)[0]
    found = _MESSAGE_ID.search(header)
    digest = hashlib.sha256(found.group(1) if found else raw).hexdigest()[:40]
    about = report.message_ref if report.message_ref is not None else "-"
    return f"bounce-inbox:{about}:{digest}"
