"""The bounce mailbox on an IMAP server, read with the standard library's imaplib in the job's thread.

One reading is one connection: TLS, log in, select the mailbox, list the messages not flagged
deleted, fetch them one at a time with ``BODY.PEEK[]``. A processed message leaves the mailbox,
moved to the processed folder (``MOVE``; ``COPY`` and delete where the server has no MOVE) or
deleted, so the mailbox holds exactly what is still to be done. The Seen flag is neither read nor
set: a person who opens the mailbox in a mail program changes nothing for nurture.

Every failure (server down, TLS, login refused, a dropped connection) is a
:class:`BounceMailboxError` naming the mailbox without its password. Nothing is lost by one: a
message is moved only after its effects were committed, and the next run reads it again.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import ssl
from collections.abc import Iterator, Sequence

from nurture.delivery.bounce_mailbox.base import BounceMailboxError, InboxItem, inbox_item
from nurture.delivery.bounce_mailbox.imap_settings import DELETE, ImapMailboxSettings
from nurture.tokens import TokenSigner


class ImapBounceInbox:
    """A mailbox on an IMAP server; :meth:`open` connects for one reading."""

    def __init__(self, settings: ImapMailboxSettings, signer: TokenSigner) -> None:
        self.settings = settings
        self._signer = signer

    def describe(self) -> str:
        return self.settings.describe()

    @contextlib.contextmanager
    def open(self) -> Iterator[ImapReading]:
        """Connect, log in and select the mailbox; log out when the reading is over."""
        client = self._connect()
        try:
            reading = ImapReading(client, self.settings, self._signer)
            reading.start()
            yield reading
            reading.finish()
        finally:
            with contextlib.suppress(Exception):  # the server may be gone already
                client.logout()

    def _connect(self) -> imaplib.IMAP4:
        s = self.settings
        with _explained(s, "cannot connect"):
            if s.tls == "implicit":
                client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    s.host, s.port, ssl_context=s.tls_context(), timeout=s.timeout
                )
            else:
                client = imaplib.IMAP4(s.host, s.port, timeout=s.timeout)
        try:
            if s.tls == "starttls":
                _start_tls(client, s)
            with _explained(s, "login refused"):
                _log_in(client, s)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client


class ImapReading:
    """The selected mailbox during one reading."""

    def __init__(self, client: imaplib.IMAP4, settings: ImapMailboxSettings, signer: TokenSigner) -> None:
        self._client = client
        self._settings = settings
        self._signer = signer
        self._can_move = False
        self._can_expunge_one = False
        self._uids: dict[str, str] = {}  # item name -> UID, for the items handed out

    def start(self) -> None:
        s, client = self._settings, self._client
        with _explained(s, "cannot open the mailbox"):
            # Asked again: a server may offer more once the user is logged in.
            capabilities = set(_text(_ok(client.capability(), "CAPABILITY")).upper().split())
            self._can_move = "MOVE" in capabilities
            self._can_expunge_one = "UIDPLUS" in capabilities
            if s.processed != DELETE:
                _ensure_folder(client, s.processed)
            # A mailbox the user may only read raises here (imaplib's "readonly"): nurture must
            # remove what it processed, or it would read the same messages forever.
            _ok(client.select(quoted(s.mailbox)), f"SELECT {s.mailbox}")

    def new_messages(self) -> Iterator[InboxItem]:
        """The messages in the mailbox, in the order they arrived."""
        with _explained(self._settings, "cannot list the mailbox"):
            found = _ok(self._client.uid("SEARCH", "UNDELETED"), "UID SEARCH")
        uids = b" ".join(part for part in found if isinstance(part, bytes)).split()
        for uid in (number.decode() for number in uids):
            raw = self._fetch(uid)
            if raw is not None:
                name = f"{self._settings.mailbox} UID {uid}"
                self._uids[name] = uid
                yield inbox_item(name, raw, self._signer)

    def done(self, item: InboxItem) -> None:
        """Move the message to the processed folder (or delete it): it is not read again."""
        uid = self._uids.pop(item.name)
        s, client = self._settings, self._client
        with _explained(s, f"cannot mark UID {uid} processed"):
            if s.processed != DELETE and self._can_move:
                _ok(client.uid("MOVE", uid, quoted(s.processed)), "UID MOVE")
                return
            if s.processed != DELETE:
                _ok(client.uid("COPY", uid, quoted(s.processed)), "UID COPY")
            _ok(client.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)"), "UID STORE")
            if self._can_expunge_one:
                _ok(client.uid("EXPUNGE", uid), "UID EXPUNGE")
            # Without UIDPLUS the flagged message is removed by CLOSE at the end of the reading;
            # until then the search for undeleted messages no longer finds it.

    def finish(self) -> None:
        """Close the mailbox, which also removes the messages flagged deleted."""
        with _explained(self._settings, "cannot close the mailbox"):
            _ok(self._client.close(), "CLOSE")

    def _fetch(self, uid: str) -> bytes | None:
        with _explained(self._settings, f"cannot fetch UID {uid}"):
            data = _ok(self._client.uid("FETCH", uid, "(BODY.PEEK[])"), "UID FETCH")
        for part in data:
            if isinstance(part, tuple) and len(part) == 2 and isinstance(part[1], bytes):
                return part[1]
        return None  # removed by someone else meanwhile


def quoted(mailbox: str) -> str:
    """A mailbox name as an IMAP quoted string, non-ASCII in modified UTF-7 (RFC 3501 5.1.3)."""
    encoded = _modified_utf7(mailbox)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _modified_utf7(name: str) -> str:
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            chunk = base64.b64encode("".join(pending).encode("utf-16-be")).rstrip(b"=").replace(b"/", b",")
            out.append("&" + chunk.decode("ascii") + "-")
            pending.clear()

    for char in name:
        if " " <= char <= "~":
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _start_tls(client: imaplib.IMAP4, s: ImapMailboxSettings) -> None:
    if "STARTTLS" not in client.capabilities:
        raise BounceMailboxError(
            f"bounce mailbox {s.describe()}: the server does not offer STARTTLS, so the password is not "
            "sent; use imaps:// (port 993), or tls=none for a server on this machine"
        )
    with _explained(s, "STARTTLS failed"):
        client.starttls(s.tls_context())


def _log_in(client: imaplib.IMAP4, s: ImapMailboxSettings) -> None:
    if "AUTH=PLAIN" in client.capabilities:
        # SASL PLAIN carries UTF-8 names and passwords, which LOGIN's quoted strings cannot.
        credentials = f"\0{s.username}\0{s.password}".encode()
        client.authenticate("PLAIN", lambda _challenge: credentials)
    else:
        client.login(s.username, s.password)


def _ensure_folder(client: imaplib.IMAP4, folder: str) -> None:
    name = quoted(folder)
    listed = _ok(client.list('""', name), "LIST")
    if any(entry is not None for entry in listed):
        return
    status, data = client.create(name)
    if status != "OK" and not any(entry is not None for entry in _ok(client.list('""', name), "LIST")):
        raise imaplib.IMAP4.error(f"cannot create the folder {folder!r}: {_text(data)}")
    client.subscribe(name)  # so that mail programs show it


def _ok(response: tuple[str, Sequence[object]], command: str) -> Sequence[object]:
    status, data = response
    if status != "OK":
        raise imaplib.IMAP4.error(f"{command}: {status} {_text(data)}")
    return data


def _text(data: object) -> str:
    if isinstance(data, list | tuple):
        return " ".join(_text(part) for part in data if part is not None)
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)


@contextlib.contextmanager
def _explained(s: ImapMailboxSettings, doing: str) -> Iterator[None]:
    """Turn what imaplib, ssl and sockets raise into one error that names the mailbox (never the password)."""
    shown = f"bounce mailbox {s.describe()}"
    try:
        yield
    except ssl.SSLCertVerificationError as exc:
        raise BounceMailboxError(
            f"{shown}: {doing}: the server's certificate is not trusted ({exc.verify_message}); "
            "name its CA with ca_file=PATH"
        ) from None
    except ssl.SSLError as exc:
        raise BounceMailboxError(f"{shown}: {doing}: TLS failed: {exc.reason or exc}") from None
    except imaplib.IMAP4.error as exc:
        raise BounceMailboxError(f"{shown}: {doing}: {_text(exc.args[0] if exc.args else exc)}") from None
    except (OSError, EOFError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise BounceMailboxError(f"{shown}: {doing}: {reason}") from None
