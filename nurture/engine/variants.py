"""Which variant of a send step a lead gets: the winner once one is set, else the stable split.

The choice is made once, when the send is queued, and stored with the message; the email is
rendered from that stored variant however long it waits in the outbox, so neither a crash before
sending, nor a retry, nor a winner promoted in between, changes what the lead receives.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from nurture.definitions import SendStep
from nurture.store.schema import variant_winners


class VariantChoice:
    """The engine's chooser: winners promoted from the command line, read per batch."""

    def __init__(self, force: str | None = None) -> None:
        self.promoted: dict[tuple[str, str], str] = {}
        # A simulation showing one variant (``simulate --variant b``) sends it to everyone.
        self.force = force

    def refresh(self, conn: Connection) -> None:
        w = variant_winners.c
        rows = conn.execute(select(w.campaign_key, w.step_id, w.variant))
        self.promoted = {(key, step): variant for key, step, variant in rows}

    def choose(self, campaign_key: str, step: SendStep, lead_id: int) -> tuple[str | None, str | None]:
        """The variant id for this lead and how it was chosen (``split`` or ``winner``); (None,
        None) for a step without variants."""
        send = step.send
        if not send.variants:
            return None, None
        if self.force is not None and self.force in send.variant_ids:
            return self.force, "winner"
        winner = send.winner or self.promoted.get((campaign_key, step.step_id))
        if winner is not None and winner in send.variant_ids:
            return winner, "winner"
        return send.chosen_variant(campaign_key, step.step_id, lead_id), "split"
