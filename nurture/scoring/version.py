"""The scoring model's version: a content hash, so two workspaces with the same rules agree."""

from __future__ import annotations

import hashlib
import json
import re

from nurture.definitions import Program, ScoringModel

_PLAIN_THRESHOLD = re.compile(r"^\s*lead\.score\s*>=\s*(-?\d+(?:\.\d+)?)\s*$")


def model_version(model: ScoringModel) -> str:
    """12 hex digits of the SHA-256 of the model's content (names, rules, points, decay)."""
    content = json.dumps(model.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(content.encode("utf-8")).hexdigest()[:12]


def mql_threshold(program: Program) -> float | None:
    """N when the SLA's MQL rule is ``lead.score >= N``; None for any other rule (or no SLA)."""
    try:
        source = program.sla.mql.when.source
    except KeyError:
        return None
    match = _PLAIN_THRESHOLD.match(source)
    return float(match.group(1)) if match else None
