"""Versions of definitions, and where a lead goes when its campaign is edited while it is inside."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, select

from nurture.definitions import Campaign, content_hash, load_program, place_after_edit, record_versions
from nurture.definitions.source import parse_documents
from nurture.definitions.validation import validate_document
from nurture.store.schema import definition_versions, metadata

from .conftest import WorkspaceFactory
from .spec_examples import CAMPAIGN

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def campaign(text: str) -> Campaign:
    [document] = parse_documents(textwrap.dedent(text), "c.yaml")
    definition, problems = validate_document(document)
    assert problems == [] and isinstance(definition, Campaign)
    return definition


def test_the_content_hash_ignores_layout_comments_and_quoting() -> None:
    reformatted = CAMPAIGN.replace("re_entry: never ", "re_entry: 'never'").replace("# who enters", "# wer")
    reformatted = reformatted.replace("wait: 2d", 'wait: "2d"')
    assert content_hash(campaign(CAMPAIGN)) == content_hash(campaign(reformatted))
    assert len(content_hash(campaign(CAMPAIGN))) == 64


def test_the_content_hash_changes_with_the_content() -> None:
    assert content_hash(campaign(CAMPAIGN)) != content_hash(
        campaign(CAMPAIGN.replace("wait: 2d", "wait: 3d"))
    )


def test_versions_are_recorded_once_per_content(make_workspace: WorkspaceFactory) -> None:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    workspace = make_workspace()
    program = load_program(workspace)
    with engine.begin() as conn:
        first = record_versions(conn, program, NOW)
        again = record_versions(conn, program, NOW + timedelta(hours=1))
    assert sorted((v.kind, v.key) for v in first) == [
        ("Campaign", "recycle"),
        ("SLA", "marketing-sales"),
        ("SalesTeam", "dach-sales"),
    ]
    assert again == []
    (workspace.campaigns_dir / "recycle.yaml").write_text(
        (workspace.campaigns_dir / "recycle.yaml").read_text().replace("Hallo", "Guten Tag"), encoding="utf-8"
    )
    with engine.begin() as conn:
        edited = record_versions(conn, load_program(workspace), NOW + timedelta(days=1))
        rows = conn.execute(select(definition_versions).order_by(definition_versions.c.id)).mappings().all()
    assert [(v.kind, v.key, v.source) for v in edited] == [("Campaign", "recycle", "campaigns/recycle.yaml")]
    assert len(rows) == 4
    assert rows[-1]["body"]["steps"][0]["send"]["subject"] == "Guten Tag {{ lead.first_name }}"
    assert rows[-1]["loaded_at"] == NOW + timedelta(days=1)


OLD = """\
    kind: Campaign
    key: c
    entry: {on: manual}
    steps:
      - {id: welcome, send: {template: a, subject: A}}
      - {id: pause, wait: 3d}
      - {id: tip, send: {template: b, subject: B}}
      - {id: follow-up, wait: {until: "clicked('tip')", timeout: 5d}}
      - {id: last, send: {template: c, subject: C}}
    """
STARTED = NOW - timedelta(days=2)


def without_lines(text: str, *needles: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not any(n in line for n in needles))


def test_a_lead_at_an_unchanged_step_stays() -> None:
    edited = campaign(OLD.replace("subject: C", "subject: Z"))
    placement = place_after_edit(campaign(OLD), edited, "pause", STARTED, NOW)
    assert (placement.action, placement.step_id, placement.due_at) == (
        "stay",
        "pause",
        STARTED + timedelta(days=3),
    )


def test_a_changed_wait_is_replanned_from_when_it_began() -> None:
    shorter = campaign(OLD.replace("wait: 3d", "wait: 1d"))
    placement = place_after_edit(campaign(OLD), shorter, "pause", STARTED, NOW)
    assert (placement.action, placement.step_id) == ("replan", "pause")
    assert placement.started_at == STARTED
    assert placement.due_at == STARTED + timedelta(days=1)  # already past: the engine moves on at once


def test_a_changed_conditional_wait_is_replanned_by_its_new_timeout() -> None:
    longer = campaign(OLD.replace("timeout: 5d", "timeout: 10d"))
    placement = place_after_edit(campaign(OLD), longer, "follow-up", STARTED, NOW)
    assert (placement.action, placement.due_at) == ("replan", STARTED + timedelta(days=10))


def test_a_lead_at_a_removed_step_moves_to_the_next_surviving_step_in_the_old_order() -> None:
    without = campaign(without_lines(OLD, "id: pause", "id: tip"))
    placement = place_after_edit(campaign(OLD), without, "pause", STARTED, NOW)
    assert (placement.action, placement.step_id, placement.started_at) == ("move", "follow-up", NOW)
    assert placement.due_at == NOW + timedelta(days=5)


def test_a_lead_at_a_removed_last_step_finishes() -> None:
    without = campaign(without_lines(OLD, "id: last"))
    placement = place_after_edit(campaign(OLD), without, "last", STARTED, NOW)
    assert (placement.action, placement.step_id, placement.due_at) == ("finish", None, None)


def test_a_step_turned_into_a_wait_starts_now() -> None:
    changed = campaign(OLD.replace("{id: tip, send: {template: b, subject: B}}", "{id: tip, wait: 1d}"))
    placement = place_after_edit(campaign(OLD), changed, "tip", STARTED, NOW)
    assert (placement.action, placement.started_at, placement.due_at) == (
        "move",
        NOW,
        NOW + timedelta(days=1),
    )


def test_a_changed_send_step_runs_in_its_new_version() -> None:
    changed = campaign(OLD.replace("subject: B", "subject: Neu"))
    placement = place_after_edit(campaign(OLD), changed, "tip", STARTED, NOW)
    assert (placement.action, placement.step_id, placement.due_at) == ("stay", "tip", None)
