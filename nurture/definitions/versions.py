"""Definition versions, and where a lead goes when the campaign it is in is edited.

Every loaded definition is identified by the sha256 of its canonical JSON (the validated model,
keys sorted), so an edit that changes nothing (comments, key order, quoting) is not a new version.
Versions are recorded in ``definition_versions`` for reports and audits; enrollments remember the
version they run.

The live-edit rule, matched by step id (see docs/definitions.md):

* the lead's step is unchanged: nothing happens;
* it is a wait whose duration, timeout or condition changed: the wait is re-planned from when it
  began (a 3d wait shortened to 1d, begun two days ago, is over at once);
* it is still there but changed into or out of a wait: the lead starts the new step now;
* it was removed: the lead moves to the first step after it, in the old order, that still
  exists, and starts it now; when none does, the lead completes the campaign.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from nurture.clock import as_utc
from nurture.definitions.campaign import Campaign
from nurture.definitions.flow import next_surviving_step
from nurture.definitions.program import Program
from nurture.definitions.steps import WaitStep
from nurture.definitions.validation import AnyDefinition
from nurture.store.schema import definition_versions as table


def canonical_body(definition: AnyDefinition) -> dict[str, Any]:
    """The validated definition as plain JSON data (durations as text, conditions as source)."""
    body: dict[str, Any] = definition.model_dump(mode="json", by_alias=True)
    if isinstance(definition, Campaign):
        _drop_keys_added_later(body)
    return body


# Keys campaigns gained after their first release, each with the value that means "not used".
# Left out of the version when unused, so a campaign written before they existed keeps its version
# (and its live enrollments are not re-placed for nothing).
_CAMPAIGN_KEYS_ADDED: dict[str, Any] = {"holdout": None, "mail": "marketing"}
_SEND_KEYS_ADDED: dict[str, Any] = {"variants": [], "decide_on": None, "winner": None, "kind": None}


def _drop_keys_added_later(body: dict[str, Any]) -> None:
    for key, unused in _CAMPAIGN_KEYS_ADDED.items():
        if key in body and body[key] == unused:
            del body[key]
    for step in body.get("steps", ()):
        send = step.get("send") if isinstance(step, dict) else None
        if isinstance(send, dict):
            for key, unused in _SEND_KEYS_ADDED.items():
                if key in send and send[key] == unused:
                    del send[key]


def canonical_json(definition: AnyDefinition) -> str:
    """Compact JSON with sorted keys: the same definition always gives the same text."""
    return json.dumps(canonical_body(definition), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(definition: AnyDefinition) -> str:
    """The version of a definition: sha256 (hex) of its canonical JSON."""
    return hashlib.sha256(canonical_json(definition).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RecordedVersion:
    kind: str
    key: str
    content_hash: str
    source: str


def record_versions(conn: Connection, program: Program, now: datetime) -> list[RecordedVersion]:
    """Insert the versions of the program's definitions not recorded yet; returns the new ones.

    Safe to run from several replicas at once: a version another one recorded first is skipped.
    """
    recorded: list[RecordedVersion] = []
    for item in program.loaded:
        definition = item.definition
        digest = content_hash(definition)
        exists = conn.execute(
            select(table.c.id).where(
                table.c.kind == definition.kind, table.c.key == definition.key, table.c.content_hash == digest
            )
        ).first()
        if exists is not None:
            continue
        try:
            with conn.begin_nested():
                conn.execute(
                    table.insert().values(
                        kind=definition.kind,
                        key=definition.key,
                        content_hash=digest,
                        body=canonical_body(definition),
                        source=item.path,
                        loaded_at=as_utc(now),
                    )
                )
        except IntegrityError:
            continue  # recorded meanwhile by another replica
        recorded.append(RecordedVersion(definition.kind, definition.key, digest, item.path))
    return recorded


PlacementAction = Literal["stay", "replan", "move", "finish"]


@dataclass(frozen=True)
class Placement:
    """Where a lead inside an edited campaign continues.

    ``step_id`` is None only for ``finish``. ``started_at`` is when the lead's step began (kept for
    ``stay``/``replan``, now for ``move``). ``due_at`` is when the engine should act next: the end
    of the wait for a wait step, ``now`` for a step to run at once, None for ``stay`` on a step that
    is not a wait (keep the planned time) and for ``finish``.
    """

    action: PlacementAction
    step_id: str | None
    started_at: datetime | None
    due_at: datetime | None
    reason: str


def place_after_edit(
    old: Campaign, new: Campaign, step_id: str, step_started_at: datetime, now: datetime
) -> Placement:
    """Where a lead at ``step_id`` (since ``step_started_at``) goes when ``old`` becomes ``new``."""
    if step_id in new.step_ids:
        return _same_step(old, new, step_id, step_started_at, now)
    following = next_surviving_step(old, new, step_id)
    if following is None:
        return Placement(
            "finish", None, None, None, f"step {step_id!r} was removed and no later step remains"
        )
    return _start(new, following, now, f"step {step_id!r} was removed; continuing at {following!r}")


def _same_step(old: Campaign, new: Campaign, step_id: str, started: datetime, now: datetime) -> Placement:
    new_step = new.step(step_id)
    old_step = old.step(step_id) if step_id in old.step_ids else None
    unchanged = old_step is not None and _dump(old_step) == _dump(new_step)
    new_is_wait = isinstance(new_step, WaitStep)
    if unchanged:
        due = new_step.due_at(started) if isinstance(new_step, WaitStep) else None
        return Placement("stay", step_id, started, due, "step unchanged")
    if new_is_wait and isinstance(old_step, WaitStep):
        assert isinstance(new_step, WaitStep)
        return Placement(
            "replan", step_id, started, new_step.due_at(started), "wait changed: re-planned from its start"
        )
    if new_is_wait or isinstance(old_step, WaitStep):
        return _start(new, step_id, now, "step changed into or out of a wait: starting it now")
    return Placement("stay", step_id, started, None, "step changed: the new version runs")


def _start(campaign: Campaign, step_id: str, now: datetime, reason: str) -> Placement:
    step = campaign.step(step_id)
    due = step.due_at(now) if isinstance(step, WaitStep) else now
    return Placement("move", step_id, now, due, reason)


def _dump(step: Any) -> Any:
    return step.model_dump(mode="json", by_alias=True)
