"""The bounce mailbox: where asynchronous bounces, complaints and auto-replies to the VERP address
arrive. ``open_bounce_mailbox(settings.bounce_mailbox, workspace.root, signer)`` gives the one the
setting names; the daemon's bounces job reads it (:mod:`nurture.daemon.bounce_inbox`).
"""

from __future__ import annotations

from pathlib import Path

from nurture.delivery.bounce_mailbox.base import (
    BounceMailbox,
    BounceMailboxError,
    InboxItem,
    OpenMailbox,
    inbox_item,
    report_key,
)
from nurture.delivery.bounce_mailbox.imap import ImapBounceInbox
from nurture.delivery.bounce_mailbox.imap_settings import ImapMailboxSettings, parse_imap_url
from nurture.delivery.bounce_mailbox.maildir import MaildirBounceInbox
from nurture.delivery.transports import redact_url
from nurture.tokens import TokenSigner

__all__ = [
    "BounceMailbox",
    "BounceMailboxError",
    "ImapBounceInbox",
    "ImapMailboxSettings",
    "InboxItem",
    "MaildirBounceInbox",
    "OpenMailbox",
    "inbox_item",
    "open_bounce_mailbox",
    "parse_imap_url",
    "report_key",
]


def open_bounce_mailbox(url: str, workspace_root: Path, signer: TokenSigner) -> BounceMailbox:
    """The mailbox the ``bounce_mailbox`` setting names: ``maildir:PATH`` (relative to the
    workspace), ``imaps://USER:PASS@HOST/MAILBOX`` or ``imap://...`` (see :mod:`.imap_settings`)."""
    scheme, _, location = url.partition(":")
    scheme = scheme.lower()
    if scheme == "maildir" and location:
        path = Path(location.removeprefix("//")).expanduser()
        return MaildirBounceInbox(path if path.is_absolute() else workspace_root / path, signer)
    if scheme in ("imap", "imaps"):
        return ImapBounceInbox(parse_imap_url(url, workspace_root), signer)
    raise BounceMailboxError(
        f"bounce_mailbox {redact_url(url)!r}: use maildir:PATH or imaps://USER:PASSWORD@HOST/MAILBOX"
    )
