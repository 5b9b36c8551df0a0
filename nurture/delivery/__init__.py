"""Delivery: turning a send step into bytes on a relay, and reading what comes back.

One message, in the order the sender does it (``message_ref`` is the message's id in the
database, ``lead_ref`` the lead's; both go into signed tokens, so keep them short integers)::

    signer = TokenSigner(secret_key(settings, root))             # once
    renderer = EmailRenderer(template_environment(root / "templates"))  # once, reused
    tracker = LinkTracker(signer, settings.base_url)                # once
    transport = parse_transport(settings.transport, root, settings)  # once; await close() at the end
    sender = Address.parse(settings.from_address)                   # once

    unsubscribe_url = tracker.unsubscribe_url(message_ref, lead_ref)
    context = email_context(lead=lead, campaign=campaign, step=step, unsubscribe_url=unsubscribe_url, now=now)
    rendered = renderer.render(step.template, step.subject, context)
    tracked = tracker.track(rendered, message_ref, unsubscribe_url=unsubscribe_url)
    token = bounce_token(signer, message_ref)
    built = build_message(Email(sender=sender, to=Address(lead.email, name), subject=tracked.subject,
                                text=tracked.text, html=tracked.html, date=now,
                                list_unsubscribe=unsubscribe_url, bounce_token=token))
    result = await transport.send(
        OutgoingMessage(verp_address(token, sender.domain), (lead.email,), built.data, message_ref))

Nothing here touches the database; the caller records what happened (``result.status``).
"""

from nurture.delivery.bounce_mailbox import (
    BounceMailbox,
    BounceMailboxError,
    ImapBounceInbox,
    InboxItem,
    MaildirBounceInbox,
    open_bounce_mailbox,
)
from nurture.delivery.bounces import BounceKind, BounceReport, classify_bounce
from nurture.delivery.headers import Address, HeaderError, InvalidAddress, clean_header_text
from nurture.delivery.mime import (
    BOUNCE_TOKEN_HEADER,
    BuiltMessage,
    Email,
    bounce_token,
    build_message,
    new_message_id,
    verp_address,
)
from nurture.delivery.pacing import TokenBucket, next_retry_delay
from nurture.delivery.plaintext import html_to_text
from nurture.delivery.render import EmailRenderer, RenderedEmail, RenderError, email_context
from nurture.delivery.signing import DkimError, DkimSigner
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
    "BounceMailbox",
    "BounceMailboxError",
    "BounceReport",
    "BuiltMessage",
    "DkimError",
    "DkimSigner",
    "Email",
    "EmailRenderer",
    "HeaderError",
    "ImapBounceInbox",
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
