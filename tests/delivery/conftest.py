"""Fixtures for delivery tests: a signer, template folders, TLS and DKIM keys, SMTP servers.

SMTP servers are real aiosmtpd servers on 127.0.0.1 (an ephemeral port) in the test's own event
loop, so a test can count connections, stall a reply or drop a connection at a precise moment.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from nurture.tokens import TokenSigner
from tests.certificates import Certificates, make_certificates, openssl

SECRET = b"delivery-tests-secret-key-0123456789"


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(SECRET)


def write_templates(root: Path, templates: dict[str, str]) -> Path:
    """Write ``{relative name: source}`` under ``root`` and return ``root``."""
    for name, source in templates.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root


# -- keys and certificates (generated once per test session with the openssl command) ----------


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A test CA and a server certificate it signed for localhost and 127.0.0.1."""
    return make_certificates(tmp_path_factory.mktemp("tls"), "nurture test CA")


@dataclass(frozen=True)
class DkimKey:
    private_pem: bytes
    public_record: bytes

    def dns(self, selector: str, domain: str) -> Callable[..., bytes | None]:
        """A ``dnsfunc`` for ``dkim.verify`` that knows only this key's TXT record."""
        wanted = f"{selector}._domainkey.{domain}.".encode()

        def lookup(name: bytes, timeout: int = 5) -> bytes | None:
            return self.public_record if name == wanted else None

        return lookup


@pytest.fixture(scope="session")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> DkimKey:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a DKIM key")
    folder = tmp_path_factory.mktemp("dkim")
    openssl("genrsa", "-traditional", "-out", "dkim.key", "1024", cwd=folder)
    openssl("rsa", "-in", "dkim.key", "-pubout", "-outform", "DER", "-out", "dkim.pub", cwd=folder)
    public = base64.b64encode((folder / "dkim.pub").read_bytes())
    return DkimKey((folder / "dkim.key").read_bytes(), b"v=DKIM1; k=rsa; p=" + public)


# -- SMTP servers --------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class RecordingHandler:
    """Accepts every message and keeps it."""

    messages: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        assert envelope.mail_from is not None and isinstance(envelope.original_content, bytes)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 Ok: queued"


def password_authenticator(username: str, password: str) -> Callable[..., AuthResult]:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == username
            and data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return authenticate


@dataclass
class RunningServer:
    port: int
    sessions: list[SMTP]

    @property
    def connections(self) -> int:
        return len(self.sessions)

    def drop_all(self) -> None:
        """Close every client connection from the server side (as an idle timeout would)."""
        for session in self.sessions:
            if session.transport is not None:
                session.transport.close()


@contextlib.asynccontextmanager
async def smtp_server(
    handler: Any, *, ssl_context: ssl.SSLContext | None = None, **options: Any
) -> AsyncIterator[RunningServer]:
    """An aiosmtpd server on 127.0.0.1 in the running loop; ``ssl_context`` makes it implicit TLS."""
    loop = asyncio.get_running_loop()
    sessions: list[SMTP] = []

    def factory() -> SMTP:
        session = SMTP(handler, hostname="localhost", loop=loop, **options)
        sessions.append(session)
        return session

    server = await loop.create_server(factory, "127.0.0.1", 0, ssl=ssl_context)
    running = RunningServer(server.sockets[0].getsockname()[1], sessions)
    try:
        yield running
    finally:
        server.close()
        running.drop_all()
        await asyncio.sleep(0)
