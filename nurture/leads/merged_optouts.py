"""A merged record's opt-outs follow the person to the kept record's address.

Suppressions and topic unsubscribes are kept by the hash of an address, not by lead, so a merge
that moves everything stored under OTHER's lead id would leave them behind with OTHER's address:
the person who left a topic, complained or was suppressed by an operator under their old address
would be mailed again under the new one. Their choices are copied to KEEP's address hash (OTHER's
stay too: the old address remains unmailable). Two kinds stay behind: a bounce says the old
mailbox does not take mail (often why the person gave a new address), and ``forgotten`` belongs
to an erasure, not to this person's record.
"""

from __future__ import annotations

from sqlalchemy import Connection

from nurture.leads.addresses import suppression_hash
from nurture.store import bulk

# The reasons copied (in the query below): not hard_bounce, soft_bounces or forgotten.
PERSONS_CHOICES = ("unsubscribe", "complaint", "manual")
FROM_MERGE = "merged record: "  # the copied row's detail starts so: `leads show` says where it came from


def carry_optouts(conn: Connection, other_email: str, keep_email: str) -> None:
    """Copy OTHER's suppression (a choice of the person's) and topic unsubscribes to KEEP's address.

    A suppression KEEP already has stays, unless it holds back marketing mail only (an unsubscribe)
    and OTHER's stops all mail: the same rule as a new suppression of the address.
    """
    params = {
        "other": suppression_hash(other_email), "keep": suppression_hash(keep_email), "from": FROM_MERGE,
    }  # fmt: skip
    bulk.execute(
        conn,
        "INSERT INTO suppressions (email_hash, reason, detail, created_at) "
        "SELECT :keep, reason, SUBSTR(:from || COALESCE(detail, reason), 1, 500), created_at "
        "FROM suppressions WHERE email_hash = :other AND reason IN ('unsubscribe', 'complaint', 'manual') "
        "ON CONFLICT (email_hash) DO UPDATE SET "
        "reason = excluded.reason, detail = excluded.detail, created_at = excluded.created_at "
        "WHERE suppressions.reason = 'unsubscribe' AND excluded.reason <> 'unsubscribe'",
        params,
    )
    bulk.execute(
        conn,
        "INSERT INTO topic_suppressions (email_hash, topic, reason, detail, created_at) "
        "SELECT :keep, topic, reason, SUBSTR(:from || COALESCE(detail, reason), 1, 500), created_at "
        "FROM topic_suppressions WHERE email_hash = :other "
        "ON CONFLICT (email_hash, topic) DO NOTHING",
        params,
    )
