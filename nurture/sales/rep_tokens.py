"""A rep's own key to the sales API, derived from the workspace secret: nothing to store or leak.

The token is ``<rep id>.<tag>``, the tag an HMAC-SHA256 (truncated to 128 bits) of the rep's id
and their ``token_generation`` under a key derived from the workspace secret for this use alone.
``nurture sales rep-token REP`` prints it; raising the rep's ``token_generation`` in the team's
definition revokes it (and rotating the workspace secret revokes every rep's, with every link).
"""

from __future__ import annotations

import base64
import hmac

from nurture.definitions import Program, Rep

TAG_BYTES = 16


def rep_token_key(secret: bytes) -> bytes:
    """The key rep tokens are made with, derived from the workspace secret."""
    return hmac.digest(secret, b"nurture sales rep tokens v1", "sha256")


def rep_token(key: bytes, rep: Rep) -> str:
    """The bearer token the rep ``rep`` uses for ``/api/sales/*``."""
    return f"{rep.id}.{_tag(key, rep)}"


def rep_of_token(key: bytes, program: Program, token: str) -> Rep | None:
    """The rep a token belongs to, or None for anything not made by :func:`rep_token` (or revoked)."""
    rep_id, dot, tag = token.strip().rpartition(".")
    if not dot or not rep_id:
        return None
    for team in program.sales_teams.values():
        for rep in team.reps:
            if rep.id == rep_id:
                return rep if hmac.compare_digest(_tag(key, rep).encode(), tag.encode()) else None
    return None


def _tag(key: bytes, rep: Rep) -> str:
    message = f"{rep.id}\x00{rep.token_generation}".encode()
    digest = hmac.digest(key, message, "sha256")[:TAG_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
