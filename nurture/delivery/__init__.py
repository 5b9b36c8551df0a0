"""Delivery: turning a send step into bytes on a relay, and reading what comes back.

The pieces, in the order the sender uses them::

    tracker = LinkTracker(signer, settings.base_url)
    unsubscribe_url = tracker.unsubscribe_url(message_ref, lead_ref)
    rendered = renderer.render(step.template, step.subject, email_context(..., unsubscribe_url=...))
    tracked = tracker.track(rendered, message_ref, unsubscribe_url=unsubscribe_url)
    built = build_message(Email(...), dkim)
    result = await transport.send(OutgoingMessage(verp_address(...), (lead.email,), built.data, message_ref))

Nothing here touches the database; the caller records what happened.
"""

from nurture.delivery.bounces import (
    BounceKind,
    BounceMailboxError,
    BounceReport,
    InboxItem,
    MaildirBounceInbox,
    classify_bounce,
    open_bounce_mailbox,
)
from nurture.delivery.headers import Address, HeaderError, InvalidAddress, clean_header_text
from nurture.delivery.mime import (
    BOUNCE_TOKEN_HEADER,
    BuiltMessage,
    DkimSigner,
    Email,
    bounce_token,
    build_message,
    new_message_id,
    verp_address,
)
from nurture.delivery.pacing import TokenBucket, next_retry_delay
from nurture.delivery.plaintext import html_to_text
from nurture.delivery.render import EmailRenderer, RenderedEmail, RenderError, email_context
from nurture.delivery.tracking import LinkTracker
from nurture.delivery.transports import (
    MaildirTransport,
    MemoryTransport,
    OutgoingMessage,
    SendResult,
    SendStatus,
    SmtpSettings,
    SmtpTransport,
    Transport,
    TransportError,
    parse_transport,
    redact_url,
)

__all__ = [
    "BOUNCE_TOKEN_HEADER",
    "Address",
    "BounceKind",
    "BounceMailboxError",
    "BounceReport",
    "BuiltMessage",
    "DkimSigner",
    "Email",
    "EmailRenderer",
    "HeaderError",
    "InboxItem",
    "InvalidAddress",
    "LinkTracker",
    "MaildirBounceInbox",
    "MaildirTransport",
    "MemoryTransport",
    "OutgoingMessage",
    "RenderError",
    "RenderedEmail",
    "SendResult",
    "SendStatus",
    "SmtpSettings",
    "SmtpTransport",
    "TokenBucket",
    "Transport",
    "TransportError",
    "bounce_token",
    "build_message",
    "classify_bounce",
    "clean_header_text",
    "email_context",
    "html_to_text",
    "new_message_id",
    "next_retry_delay",
    "open_bounce_mailbox",
    "parse_transport",
    "redact_url",
    "verp_address",
]
