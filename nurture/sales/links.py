"""The links in sales emails, signed so nobody can forge them: one-click accept and reject, and
the lead's page (:func:`lead_url`) where every step is taken.

An accept or reject link carries only the handoff id. It stays valid while that handoff is pending;
once the lead was accepted, rejected or moved on, the action refuses it with :class:`HandoffClosed`.
"""

from __future__ import annotations

from nurture.sales.context import SalesContext
from nurture.tokens import InvalidToken, TokenSigner

ACCEPT = "sales-accept"
REJECT = "sales-reject"
LEAD = "sales-lead"


def accept_url(context: SalesContext, handoff_id: int) -> str:
    """``{base_url}/sales/accept/{token}``."""
    return f"{context.base_url}/sales/accept/{context.signer.sign(ACCEPT, [handoff_id])}"


def reject_url(context: SalesContext, handoff_id: int) -> str:
    """``{base_url}/sales/reject/{token}``."""
    return f"{context.base_url}/sales/reject/{context.signer.sign(REJECT, [handoff_id])}"


def lead_url(context: SalesContext, handoff_id: int, rep_id: str | None) -> str:
    """``{base_url}/sales/lead/{token}``: the lead's page for the one rep (or manager) holding it.

    The token names the handoff and its holder (``""`` for the manager), so it opens the page for
    them alone and stops working once the handoff moves on to someone else.
    """
    return f"{context.base_url}/sales/lead/{context.signer.sign(LEAD, [handoff_id, rep_id or ''])}"


def handoff_from_token(signer: TokenSigner, purpose: str, token: str) -> int:
    """The handoff id in an accept (``sales-accept``) or reject (``sales-reject``) token.

    :class:`~nurture.tokens.InvalidToken` for anything not signed by us for that purpose.
    """
    payload = signer.verify(purpose, token)
    if not (isinstance(payload, tuple) and len(payload) == 1 and type(payload[0]) is int):
        raise InvalidToken("not a sales link")
    return payload[0]
