"""Chat messages show lead data as written: hostile names neither ping a channel nor make links."""

from __future__ import annotations

from typing import Any

from nurture.sales.chat_cards import slack_digest, slack_handoff, teams_digest, teams_handoff

HOSTILE = {
    "email": "x@evil.example",
    "first_name": "<!channel>",
    "last_name": "<https://evil.example|Accept> & *bold*",
    "company": "1. [Evil](https://evil.example)",
    "job_title": "- _boss_",
    "country": "DE",
    "score": 80,
}


def test_slack_text_escapes_what_mrkdwn_reacts_to() -> None:
    message = slack_handoff("New lead", HOSTILE, "Anna Rep", None)
    assert message["text"] == ("New lead: &lt;!channel&gt; &lt;https://evil.example|Accept&gt; &amp; *bold*")
    assert "<" not in message["text"] and ">" not in message["text"]
    # Block texts are plain_text objects: Slack does not format them, so they stay as written.
    header = message["blocks"][0]["text"]["text"]
    assert header == "New lead: <!channel> <https://evil.example|Accept> & *bold*"
    for block in message["blocks"]:
        for text in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            assert text is None or text["type"] == "plain_text"


def test_slack_digest_text_is_escaped_too() -> None:
    items = [{"lead": "<!here>", "rep": None, "overdue": True}]
    message = slack_digest("<!channel> team", items)
    assert message["text"].startswith("&lt;!channel&gt; team: 1 open handoffs")
    assert message["blocks"][1]["text"]["type"] == "plain_text"


def card(message: dict[str, Any]) -> dict[str, Any]:
    (attachment,) = message["attachments"]
    content: dict[str, Any] = attachment["content"]
    return content


def test_card_texts_escape_markdown_links_emphasis_and_list_markers() -> None:
    body = card(teams_handoff("New lead", HOSTILE, "Anna Rep", None))["body"]
    title, facts = body
    assert title["text"] == r"New lead: \<!channel\> \<https://evil.example|Accept\> & \*bold\*"
    values = {f["title"]: f["value"] for f in facts["facts"]}
    assert values["Company"] == r"1\. \[Evil\]\(https://evil.example\)"
    assert values["Title"] == r"\- \_boss\_"
    assert values["With"] == "Anna Rep"


def test_a_digest_card_escapes_lead_names_in_fact_titles() -> None:
    items = [{"lead": "[Click](https://evil.example)", "rep": "anna", "overdue": False}]
    (_, facts) = card(teams_digest("Vertrieb", items))["body"]
    assert facts["facts"] == [{"title": r"\[Click\]\(https://evil.example\)", "value": "anna"}]
