"""TLS for nurture's own connections to mail servers (the SMTP relay, the IMAP bounce mailbox)."""

from __future__ import annotations

import ssl


def client_tls_context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    """The system's trusted CAs (or ``ca_file``) with host names checked; ``verify=False`` turns
    the checks off, for test servers only."""
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
