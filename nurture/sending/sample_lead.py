"""A made-up lead to render emails with before any real lead exists (``preview --sample``,
``send-test --sample``): every documented field filled in, plus the custom attribute ``source``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nurture.definitions.conditions import LEAD_FIELDS
from nurture.demo_data import generate_leads


def sample_lead(now: datetime, seed: int = 7) -> dict[str, Any]:
    """A plausible lead (the same one for the same seed) as templates and conditions see a lead."""
    person: dict[str, Any] = dict(next(generate_leads(1, seed)))
    source = person.pop("source")
    lead: dict[str, Any] = {name: None for name in LEAD_FIELDS}
    lead.update(person)
    lead.update(
        id=0,
        email_domain=person["email"].rpartition("@")[2],
        company_size=int(person["company_size"]),
        attributes={"source": source},
        score=0,
        fit_score=0,
        behavior_score=0,
        created_at=now,
        updated_at=now,
        unsubscribed=False,
    )
    return lead
