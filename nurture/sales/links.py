"""The one-click accept and reject links in sales emails, signed so nobody can forge them.

A link carries only the handoff id. It stays valid while that handoff is pending; once the lead
was accepted, rejected or moved on, the action refuses it with :class:`HandoffClosed`.
"""

from __future__ import annotations

from nurture.sales.context import SalesContext
from nurture.tokens import InvalidToken, TokenSigner

ACCEPT = "sales-accept"
REJECT = "sales-reject"


def accept_url(context: SalesContext, handoff_id: int) -> str:
    """``{base_url}/sales/accept/{token}``."""
    return f"{context.base_url}/sales/accept/{context.signer.sign(ACCEPT, [handoff_id])}"


def reject_url(context: SalesContext, handoff_id: int) -> str:
    """``{base_url}/sales/reject/{token}``."""
    return f"{context.base_url}/sales/reject/{context.signer.sign(REJECT, [handoff_id])}"


def handoff_from_token(signer: TokenSigner, purpose: str, token: str) -> int:
    """The handoff id in an accept (``sales-accept``) or reject (``sales-reject``) token.

    :class:`~nurture.tokens.InvalidToken` for anything not signed by us for that purpose.
    """
    payload = signer.verify(purpose, token)
    if not (isinstance(payload, tuple) and len(payload) == 1 and type(payload[0]) is int):
        raise InvalidToken("not a sales link")
    return payload[0]
