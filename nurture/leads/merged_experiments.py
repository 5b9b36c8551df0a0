"""A merged person counts once in each experiment.

Experiments compare people: a campaign's holdout against those it mailed (by each lead's first
entry into the campaign), and a send step's variants (by the emails the split chose). Two records
of one person can sit in different groups; once OTHER's rows move to KEEP, that person would
count in both. So, for each campaign both records entered:

* holdout entries give way: OTHER's are removed, and KEEP's too when OTHER was mailed by the
  campaign (the person got its mail, so they were not held out). A holdout entry holds nothing
  else (no step, no email), so only its place in the comparison goes;
* OTHER's emails the split chose a variant for are marked ``merged`` (``variant_source``):
  they stay in the record's history and reports of what was sent, but no longer count for
  a variant; KEEP's own emails decide the person's variant.

Campaigns only one of the two records entered keep everything as it was.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from nurture.store.schema import enrollments, messages

HOLDOUT = "holdout"
NOT_COUNTED = "merged"  # a variant_source the experiment reports do not read (they read "split")


def settle_experiments(conn: Connection, keep_id: int, other_id: int) -> None:
    """Before OTHER's rows move: one group per person in each experiment."""
    e = enrollments.c
    kept_in = set(conn.scalars(select(e.campaign_key).where(e.lead_id == keep_id).distinct()))
    other_entries = conn.execute(select(e.campaign_key, e.status).where(e.lead_id == other_id)).all()
    both = {campaign for campaign, _ in other_entries if campaign in kept_in}
    if not both:
        return
    mailed = {campaign for campaign, status in other_entries if campaign in both and status != HOLDOUT}
    conn.execute(
        delete(enrollments).where(e.lead_id == other_id, e.status == HOLDOUT, e.campaign_key.in_(both))
    )
    if mailed:
        conn.execute(
            delete(enrollments).where(e.lead_id == keep_id, e.status == HOLDOUT, e.campaign_key.in_(mailed))
        )
    m = messages.c
    conn.execute(
        update(messages)
        .where(m.lead_id == other_id, m.variant_source == "split", m.campaign_key.in_(both))
        .values(variant_source=NOT_COUNTED)
    )
