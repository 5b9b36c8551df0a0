"""A double opt-in link of a record that was then merged into another (``nurture leads merge``):
its pending consent moved to the kept record, and the link confirms it there."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from nurture.guards.audit import record_audit
from nurture.leads.combine import merge_leads, plan_merge
from nurture.store.schema import messages
from tests.forms.conftest import Site
from tests.forms.test_double_opt_in import GOOD, link_in

KEEP, OTHER = "lena.wolf@alpenblick.de", "lena@alpenblick.de"


def _merge(site: Site, keep: str, other: str) -> None:
    """As ``nurture leads merge`` does it: the merge and its audit line, in one transaction."""
    now = site.clock.now()
    with site.store.begin() as conn:
        plan = plan_merge(conn, keep, other)
        merge_leads(conn, plan, now, then=None)
        record_audit(conn, "maria", "merge", f"lead:{plan.keep_id}", {"merged_lead": plan.other_id}, now)


def test_the_link_of_a_merged_away_record_confirms_the_kept_one(site: Site) -> None:
    site.post("newsletter", GOOD)  # OTHER, asked to confirm
    path = link_in(site)
    site.post("demo", {"email": KEEP, "company": "Alpenblick", "consent": "on"})
    _merge(site, KEEP, OTHER)
    assert site.consent(KEEP, "newsletter") == "pending"  # moved with the record
    page = site.client.get(path)
    assert page.status_code == 200 and "le***@alpenblick.de" in page.text
    done = site.client.post(path)
    assert done.status_code == 200, done.text
    assert site.consent(KEEP, "newsletter") == "confirmed"
    assert [e.lead_id for e in site.events() if e.type == "opt_in_confirmed"] == [site.lead(KEEP).id]


def test_a_merge_of_a_merge_is_followed(site: Site) -> None:
    site.post("newsletter", GOOD)
    path = link_in(site)
    site.post("demo", {"email": "lena.w@alpenblick.de", "company": "Alpenblick", "consent": "on"})
    site.post("demo", {"email": KEEP, "company": "Alpenblick", "consent": "on"})
    _merge(site, "lena.w@alpenblick.de", OTHER)
    _merge(site, KEEP, "lena.w@alpenblick.de")
    assert site.client.post(path).status_code == 200
    assert site.consent(KEEP, "newsletter") == "confirmed"


# Past the merges a limit looks under (a mass merge), it reads every email to the address instead.
@pytest.mark.parametrize("merges_looked_up", [500, 0], ids=["through-the-leads", "by-address"])
def test_confirmation_emails_count_for_their_address_after_its_record_was_merged_away(
    site: Site, merges_looked_up: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("nurture.forms.confirmation._MERGES_LOOKED_UP", merges_looked_up)
    for n in range(3):
        site.clock.advance(timedelta(minutes=1))
        site.post("newsletter", {**GOOD, "first_name": f"Lena {n}"}, **{"x-forwarded-for": f"192.0.2.{n}"})
    with site.store.begin() as conn:
        conn.execute(update(messages).values(status="sent"))  # sent: a merge leaves their address
    site.post("demo", {"email": KEEP, "company": "Alpenblick", "consent": "on"})
    _merge(site, KEEP, OTHER)  # the three emails to OTHER now belong to KEEP's record
    site.clock.advance(timedelta(minutes=1))
    site.post("newsletter", {**GOOD, "first_name": "Lena again"}, **{"x-forwarded-for": "192.0.2.9"})
    assert site.lead(OTHER) is not None  # a new record for the address
    assert len(site.confirmations()) == 3  # and still no fourth email to it within the day
    site.clock.advance(timedelta(days=1))
    site.post("newsletter", {**GOOD, "first_name": "Lena tomorrow"}, **{"x-forwarded-for": "192.0.2.10"})
    assert [m.to_address for m in site.confirmations()] == [OTHER] * 4
