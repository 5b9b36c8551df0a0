"""Webhook bodies chat tools take as they are: a Slack incoming webhook's message with blocks
(https://api.slack.com/messaging/webhooks, Block Kit) and a Microsoft Teams Workflows webhook's
message with an Adaptive Card (https://learn.microsoft.com/adaptive-cards; the Office 365
connectors are retired). Each shows the lead card and who holds it, without links: everyone in
the channel reads the message, and the signed accept link and lead page act as the holder, so they
go only to the holder's own webhook and email.

Lead data is shown as plain text: Slack's ``plain_text`` objects are not formatted at all; the
message's ``text`` (what notifications show) is mrkdwn, so ``&``, ``<`` and ``>`` are escaped there
as Slack asks, and a ``<!channel>`` or ``<https://…|Accept>`` in a lead's name stays text. In a
card the characters Adaptive Cards' Markdown reacts to are escaped.
"""

from __future__ import annotations

import re
from typing import Any

SLACK_TEXT_LIMIT = 150  # plain_text in a header block and in a button
# What Adaptive Cards' Markdown subset reacts to inside a line: emphasis, code, links and autolinks.
_CARD_MARKDOWN = re.compile(r"([\\*_~`\[\]()<>])")
# ... and at the start of a text: a list item ("- ", "+ ", "1. ") or a heading.
_CARD_LINE_START = re.compile(r"^([-+#]|\d+(?=[.)]))")


def _plain(text: str, limit: int = 2000) -> str:
    """One line, at most ``limit`` characters (Slack refuses longer texts in a block)."""
    one_line = " ".join(str(text).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _card_text(text: str) -> str:
    """Text an Adaptive Card shows as written (its Markdown characters escaped)."""
    escaped = _CARD_MARKDOWN.sub(r"\\\1", _plain(text))
    return _CARD_LINE_START.sub(lambda m: m[0] + "\\" if m[0][0].isdigit() else "\\" + m[0], escaped)


def _mrkdwn(text: str) -> str:
    """Text for a Slack mrkdwn field: ``&``, ``<``, ``>`` escaped (Slack's control characters), so
    lead data can neither mention ``<!channel>`` nor make a link."""
    return _plain(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _facts(lead: dict[str, Any]) -> list[tuple[str, str]]:
    facts = [("E-mail", lead["email"]), ("Score", str(round(float(lead["score"]))))]
    for label, key in (("Company", "company"), ("Title", "job_title"), ("Country", "country")):
        if lead.get(key):
            facts.append((label, str(lead[key])))
    return facts


def lead_name(lead: dict[str, Any]) -> str:
    return " ".join(p for p in (lead.get("first_name"), lead.get("last_name")) if p) or str(lead["email"])


def slack_handoff(headline: str, lead: dict[str, Any], holder: str, due: str | None) -> dict[str, Any]:
    """A Slack message: header, the lead's facts, who holds it, and the deadline."""
    name = lead_name(lead)
    facts = [*_facts(lead), ("With", holder)]
    fields = [{"type": "plain_text", "text": _plain(f"{label}: {value}")} for label, value in facts]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _plain(f"{headline}: {name}", SLACK_TEXT_LIMIT)},
        },
        {"type": "section", "fields": fields[:10]},
    ]
    if due:
        blocks.append(
            {"type": "context", "elements": [{"type": "plain_text", "text": _plain(f"Accept by {due}")}]}
        )
    # `text` is what notifications and screen readers show.
    return {"text": _mrkdwn(f"{headline}: {name}"), "blocks": blocks}


def teams_handoff(headline: str, lead: dict[str, Any], holder: str, due: str | None) -> dict[str, Any]:
    """A Teams Workflows message: one Adaptive Card with the lead's facts and who holds it."""
    facts = [*_facts(lead), ("With", holder)]
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock", "text": _card_text(f"{headline}: {lead_name(lead)}"), "weight": "Bolder",
            "size": "Medium", "wrap": True,
        },
        {"type": "FactSet", "facts": [{"title": t, "value": _card_text(v)} for t, v in facts]},
    ]  # fmt: skip
    if due:
        body.append(
            {"type": "TextBlock", "text": _card_text(f"Accept by {due}"), "wrap": True, "isSubtle": True}
        )
    return _teams_message(body)


def slack_digest(team: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    overdue = sum(1 for i in items if i["overdue"])
    lines = [
        _plain(f"{i['lead']} ({i['rep'] or 'manager'})" + (" · overdue" if i["overdue"] else ""), 300)
        for i in items[:40]
    ]
    text = _plain(f"{team}: {len(items)} open handoffs, {overdue} overdue")
    return {
        "text": _mrkdwn(text),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _plain(text, SLACK_TEXT_LIMIT)}},
            {"type": "section", "text": {"type": "plain_text", "text": _plain(" | ".join(lines), 3000)}},
        ],
    }


def teams_digest(team: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    overdue = sum(1 for i in items if i["overdue"])
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock", "text": _card_text(f"{team}: {len(items)} open handoffs, {overdue} overdue"),
            "weight": "Bolder", "wrap": True,
        },
        {
            "type": "FactSet",
            "facts": [
                {"title": _card_text(i["lead"]), "value": _card_text(_holder(i))} for i in items[:40]
            ],
        },
    ]  # fmt: skip
    return _teams_message(body)


def _holder(item: dict[str, Any]) -> str:
    return (item["rep"] or "manager") + (" · overdue" if item["overdue"] else "")


def _teams_message(body: list[dict[str, Any]]) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }
