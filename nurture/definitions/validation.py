"""From a parsed document to a validated definition, with pydantic's errors said in plain words.

pydantic reports errors by a path through the data (``steps.3.send.subject``); the document knows
where each node of that path was written, so every problem gets the file, line and column of the
offending key or value.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from nurture.definitions.campaign import Campaign
from nurture.definitions.form import Form
from nurture.definitions.kinds import DEFINITION_ADAPTER, KINDS
from nurture.definitions.problems import Problem, did_you_mean, one_of
from nurture.definitions.sales_team import SalesTeam
from nurture.definitions.scoring import ScoringModel
from nurture.definitions.sla import SLA
from nurture.definitions.source import Document, NodePath
from nurture.definitions.steps import STEP_KINDS
from nurture.definitions.topic import Topic
from nurture.errors import Location

AnyDefinition = Campaign | ScoringModel | SLA | SalesTeam | Form | Topic

_SELF_EXPLAINED = {"unknown_key", "unknown_step_kind", "union_tag_invalid", "union_tag_not_found"}


def validate_document(document: Document) -> tuple[AnyDefinition | None, list[Problem]]:
    """The definition in ``document`` (None for an empty one) and the problems that stopped it."""
    data = document.data
    if data is None:
        return None, []
    if not isinstance(data, dict):
        return None, [
            Problem(
                "error",
                document.location,
                f"a definition is a mapping that starts with `kind:` ({one_of(KINDS)})",
            )
        ]
    try:
        return DEFINITION_ADAPTER.validate_python(data), []
    except ValidationError as exc:
        problems: list[Problem] = []
        errors = exc.errors(include_url=False)
        for error in errors:
            if error["type"] == "too_short" and _has_nested(error, errors):
                continue  # "at least 1 item" only because every item failed: the item errors say why
            problem = explain(error, document)
            if problem not in problems:
                problems.append(problem)
        return None, problems


def _has_nested(error: ErrorDetails, errors: list[ErrorDetails]) -> bool:
    loc = error["loc"]
    return any(len(other["loc"]) > len(loc) and other["loc"][: len(loc)] == loc for other in errors)


def explain(error: ErrorDetails, document: Document) -> Problem:
    """One pydantic error as a problem at the right place, in words."""
    path, value = _data_path(error["loc"], document.data)
    kind = error["type"]
    ctx = error.get("ctx") or {}
    location = document.locate(path)
    if kind == "unknown_key":
        return Problem("error", _key_location(document, path, str(ctx.get("key"))), str(ctx.get("message")))
    if kind == "unknown_step_kind":
        return _unknown_step_kind(value, path, document)
    if kind == "union_tag_invalid":
        tag = str(ctx.get("tag"))
        message = f"unknown kind {tag!r}{did_you_mean(tag, KINDS)} (one of {one_of(KINDS)})"
        return Problem("error", document.locate((*path, "kind")), message)
    if kind == "union_tag_not_found":
        return Problem("error", location, f"missing `kind:` ({one_of(KINDS)})")
    if kind == "missing":
        field = str(error["loc"][-1])
        where = _label(path, document.data)
        return Problem(
            "error", location, f"missing required key {field!r}" + (f" in {where}" if where else "")
        )
    message = _message(error, value)
    label = _label(path, document.data)
    return Problem("error", location, f"{label}: {message}" if label else message)


def _key_location(document: Document, path: NodePath, key: str) -> Location:
    # A union tag can look like a key of the data (a send step is tagged "send"), so the mapping
    # holding the key may be an ancestor of the path found.
    for end in range(len(path), -1, -1):
        found = document.keys.get((*path[:end], key))
        if found is not None:
            return found
    return document.locate(path)


def _data_path(loc: tuple[int | str, ...], data: Any) -> tuple[NodePath, Any]:
    """The part of pydantic's path that exists in the data (union tags and model names are skipped)."""
    path: list[str | int] = []
    current = data
    for part in loc:
        in_mapping = isinstance(current, dict) and isinstance(part, str) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_mapping or in_list:
            current = current[part]
            path.append(part)
    return tuple(path), current


def _label(path: NodePath, data: Any) -> str:
    """A readable name for a place in a definition: ``step 'welcome' send.subject``."""
    parts: list[str] = []
    current: Any = data
    for index, part in enumerate(path):
        if index == 1 and path[0] == "steps" and isinstance(part, int):
            step_id = current[part].get("id") if isinstance(current[part], dict) else None
            parts = [f"step {step_id!r}" if step_id else f"step {part + 1}"]
        elif isinstance(part, int):
            if parts:
                parts[-1] += f"[{part}]"
            else:
                parts.append(f"[{part}]")
        elif parts and parts[0].startswith("step ") and len(parts) == 1:
            parts.append(str(part))
        elif parts:
            parts[-1] += f".{part}"
        else:
            parts.append(str(part))
        current = current[part]  # the path was taken from this very data
    return " ".join(parts)


def _unknown_step_kind(value: Any, path: NodePath, document: Document) -> Problem:
    if isinstance(value, dict):
        others = [key for key in value if key != "id"]
        if others:
            key = str(others[0])
            message = f"unknown step kind {key!r}{did_you_mean(key, STEP_KINDS)}"
            return Problem("error", document.locate_key((*path, key)), message)
        return Problem("error", document.locate(path), f"a step needs one of {one_of(STEP_KINDS)}")
    return Problem(
        "error",
        document.locate(path),
        f"a step is a mapping such as `- send: {{template: ..., subject: ...}}`, not {value!r}",
    )


_QUOTED = re.compile(r"'([^']*)'")


def _message(error: ErrorDetails, value: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if "message" in ctx and kind not in ("value_error", "assertion_error"):
        return str(ctx["message"])
    if kind == "literal_error":
        options = _QUOTED.findall(str(ctx.get("expected", "")))
        shown = str(value)
        return f"{shown!r} is not one of {one_of(options)}{did_you_mean(shown, options)}"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message[:1].lower() + message[1:]
