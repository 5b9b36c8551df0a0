"""Handing leads to sales: routing MQLs to reps, the SLA's timers, and what sales does with them.

:func:`enforce_sla` runs the acceptance deadlines; :func:`accept`, :func:`reject`, :func:`convert`,
:func:`disqualify` and :func:`reassign` are the sales actions (CLI, signed links, API);
:func:`deliver_webhooks` sends queued webhooks. MQLs are made and routed as scores change, by what
follows a change to a lead (:mod:`nurture.lifecycle`).
"""

from nurture.sales.actions import (
    HandoffClosed,
    InvalidTransition,
    SalesActionError,
    accept,
    convert,
    disqualify,
    reassign,
    reject,
)
from nurture.sales.handoffs import handoff_lead
from nurture.sales.links import ACCEPT, REJECT, accept_url, handoff_from_token, reject_url
from nurture.sales.sla import SlaReport, enforce_sla
from nurture.sales.webhooks import WebhookReport, deliver_webhooks, webhook_key

__all__ = [
    "ACCEPT",
    "REJECT",
    "HandoffClosed",
    "InvalidTransition",
    "SalesActionError",
    "SlaReport",
    "WebhookReport",
    "accept",
    "accept_url",
    "convert",
    "deliver_webhooks",
    "disqualify",
    "enforce_sla",
    "handoff_from_token",
    "handoff_lead",
    "reassign",
    "reject",
    "reject_url",
    "webhook_key",
]
