"""The bounce mailbox as a Maildir on this machine: waiting messages are in ``new/``; a processed
one is filed under ``cur/`` with the Seen flag, where it stays for the operator to read."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from nurture.delivery.bounce_mailbox.base import InboxItem, inbox_item
from nurture.tokens import TokenSigner


class MaildirBounceInbox:
    """The ``new/`` messages of a Maildir, each classified; :meth:`done` files one under ``cur/``.

    A message stays in ``new/`` until :meth:`done` is called for it, so one whose handling failed
    is read again next time. One reader at a time per mailbox (the scheduler runs it as one job).
    """

    def __init__(self, path: Path, signer: TokenSigner) -> None:
        self.path = path
        self._signer = signer
        for sub in ("tmp", "new", "cur"):
            (path / sub).mkdir(parents=True, exist_ok=True, mode=0o700)

    def describe(self) -> str:
        return f"maildir:{self.path}"

    def open(self) -> AbstractContextManager[MaildirBounceInbox]:
        """Nothing to connect to: the folder is read as it is."""
        return contextlib.nullcontext(self)

    def __iter__(self) -> Iterator[InboxItem]:
        return self.new_messages()

    def new_messages(self) -> Iterator[InboxItem]:
        """Every message waiting in ``new/``, oldest first (Maildir names start with the time)."""
        for name in sorted(os.listdir(self.path / "new")):
            if name.startswith("."):
                continue
            try:
                raw = (self.path / "new" / name).read_bytes()
            except FileNotFoundError:
                continue
            yield inbox_item(name, raw, self._signer)

    def done(self, item: InboxItem) -> None:
        """Mark the message handled: move it to ``cur/`` with the Seen flag."""
        unique = item.name.split(":", 1)[0]
        with contextlib.suppress(FileNotFoundError):
            os.rename(self.path / "new" / item.name, self.path / "cur" / f"{unique}:2,S")
