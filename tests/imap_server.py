"""A real IMAP server for tests: Dovecot on 127.0.0.1, with its own configuration in a temporary
folder, started once per test session (``imap_server`` in tests/conftest.py).

Each test gets a user of its own (so a mailbox of its own) from :meth:`Dovecot.add_user`: any
name logs in with :data:`PASSWORD`, and Dovecot creates the user's mail folder at the first login.
The server offers STARTTLS on its plain port and TLS on its ``imaps`` port, with a certificate from
a test CA (``ca_file``); ``ssl=False`` gives a server that offers no TLS at all. Without the
``dovecot`` program the tests are skipped, saying why.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from nurture.delivery.bounce_mailbox.imap import quoted
from tests.certificates import make_certificates
from tests.ports import free_port

DOVECOT_MISSING = (
    "the IMAP bounce-mailbox tests need Dovecot as a real IMAP server: apt-get install dovecot-imapd"
)
_START_TIMEOUT_S = 15.0
# Every user has this password (Dovecot's static passdb), so a test's user needs no setting up.
PASSWORD = "Geheim-123"


@dataclass
class Dovecot:
    """A running Dovecot: its ports, its test CA and a way to add users."""

    folder: Path
    imap_port: int
    imaps_port: int
    ca_file: Path | None
    process: subprocess.Popen[bytes]

    def add_user(self) -> tuple[str, str]:
        """A new user with an empty INBOX; returns (name, password)."""
        return f"bounces-{uuid.uuid4().hex[:10]}", PASSWORD

    def url(
        self, user: str, password: str, mailbox: str = "INBOX", *, tls: str = "implicit", **options: str
    ) -> str:
        """The ``bounce_mailbox`` setting for this user: ``imaps://`` or ``imap://...?tls=``."""
        if tls == "implicit":
            base = f"imaps://{user}:{password}@127.0.0.1:{self.imaps_port}/{mailbox}"
        else:
            base = f"imap://{user}:{password}@127.0.0.1:{self.imap_port}/{mailbox}"
            options = {"tls": tls, **options}
        if self.ca_file is not None and tls != "none" and "verify" not in options:
            options.setdefault("ca_file", str(self.ca_file))
        query = urlencode(options, quote_via=quote)
        return f"{base}?{query}" if query else base

    @contextlib.contextmanager
    def client(self, user: str, password: str) -> Iterator[imaplib.IMAP4]:
        """A plain IMAP session as ``user``, for putting messages in and looking at folders."""
        client = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=10)
        try:
            client.login(user, password)
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def deliver(self, user: str, password: str, *messages: bytes, folder: str = "INBOX") -> None:
        """APPEND each message to the user's folder, as the mail server's delivery would."""
        with self.client(user, password) as client:
            for raw in messages:
                status, data = client.append(folder, None, None, raw)
                assert status == "OK", data

    def count(self, user: str, password: str, folder: str) -> int:
        """How many messages (not flagged deleted) are in the folder; 0 when it does not exist."""
        with self.client(user, password) as client:
            status, _ = client.select(quoted(folder), readonly=True)
            if status != "OK":
                return 0
            _, found = client.uid("SEARCH", "UNDELETED")
            return len(found[0].split()) if found and found[0] else 0

    def log(self) -> str:
        path = self.folder / "dovecot.log"
        return path.read_text(encoding="utf-8", errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def dovecot_program() -> str | None:
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)), None
    )


def start_dovecot(*, ssl: bool = True) -> Dovecot:
    """Start Dovecot on two free loopback ports; skips the test when Dovecot is not installed."""
    program = dovecot_program()
    if program is None:
        pytest.skip(DOVECOT_MISSING)
    # Not under pytest's tmp_path: Dovecot's mail processes run as another user when we are root,
    # and must be able to reach the folder.
    folder = Path(tempfile.mkdtemp(prefix="nurture-imap-"))
    folder.chmod(0o755)
    (folder / "mail").mkdir()
    ca_file = make_certificates(folder, "nurture IMAP test CA").ca_file if ssl else None
    imap_port, imaps_port = free_port(), free_port()
    (folder / "dovecot.conf").write_text(_config(folder, imap_port, imaps_port, ssl=ssl), encoding="utf-8")
    if os.getuid() == 0:
        shutil.chown(folder / "mail", "nobody", _nobody_group())
    process = subprocess.Popen(
        [program, "-F", "-c", str(folder / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "dovecot.stderr").open("wb"),
    )
    server = Dovecot(folder, imap_port, imaps_port, ca_file, process)
    if not _answers(imap_port, process):
        problem = server.log() + (folder / "dovecot.stderr").read_text(errors="replace")
        server.stop()
        raise RuntimeError(f"Dovecot did not start:\n{problem}")
    return server


def _config(folder: Path, imap_port: int, imaps_port: int, *, ssl: bool) -> str:
    if os.getuid() == 0:
        # Dovecot never gives root's mail to anyone: the mail processes run as nobody.
        users = f"uid={_uid('nobody')} gid={_gid(_nobody_group())}"
        privileges = anvil_chroot = ""
    else:
        users = f"uid={os.getuid()} gid={os.getgid()}"
        me, my_group = _user_name(), _group_name()
        privileges = (
            f"default_internal_user = {me}\ndefault_login_user = {me}\ndefault_internal_group = {my_group}\n"
            "service imap-login {\n  chroot =\n}\n"
        )
        anvil_chroot = "  chroot =\n"
    tls = (
        f"ssl = yes\nssl_cert = <{folder}/server.pem\nssl_key = <{folder}/server.key\n"
        if ssl
        else "ssl = no\n"
    )
    imaps = f"  inet_listener imaps {{\n    port = {imaps_port}\n    ssl = yes\n  }}\n" if ssl else ""
    return f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
{privileges}{tls}disable_plaintext_auth = no
auth_failure_delay = 0
auth_mechanisms = plain login
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = {users} home={folder}/mail/%u
}}
mail_location = maildir:~/Maildir
# No growing pause after a refused login: tests refuse logins on purpose, all from 127.0.0.1.
service anvil {{
{anvil_chroot}  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
{imaps}}}
"""


def _answers(port: int, process: subprocess.Popen[bytes]) -> bool:
    """Wait until the server greets on ``port`` (False when it died or never did)."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            if conn.recv(64).startswith(b"* OK"):
                return True
        time.sleep(0.05)
    return False


def _uid(name: str) -> int:
    import pwd

    return pwd.getpwnam(name).pw_uid


def _gid(name: str) -> int:
    import grp

    return grp.getgrnam(name).gr_gid


def _nobody_group() -> str:
    import grp

    for name in ("nogroup", "nobody"):
        with contextlib.suppress(KeyError):
            grp.getgrnam(name)
            return name
    raise RuntimeError("no group nogroup or nobody for the IMAP server's mail processes")


def _user_name() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _group_name() -> str:
    import grp

    return grp.getgrgid(os.getgid()).gr_name
