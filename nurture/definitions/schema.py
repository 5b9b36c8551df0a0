"""A JSON Schema of the definition files, for editors (e.g. the YAML language server).

Point the editor at it with a modeline at the top of a file:
``# yaml-language-server: $schema=../nurture-definitions.schema.json``
"""

from __future__ import annotations

import json
from typing import Any

from nurture.definitions.kinds import DEFINITION_ADAPTER

SCHEMA_ID = "https://nurture.invalid/schemas/definitions.json"


def definitions_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) one YAML document of ``campaigns/*.yaml`` must satisfy."""
    schema = DEFINITION_ADAPTER.json_schema(by_alias=True, mode="validation", ref_template="#/$defs/{model}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "nurture definition",
        "description": (
            "One document of campaigns/*.yaml: a Campaign, ScoringModel, SLA, SalesTeam, Form or Topic."
        ),
        **schema,
    }


def definitions_schema_json() -> str:
    """The schema as indented JSON text."""
    return json.dumps(definitions_schema(), indent=2, ensure_ascii=False) + "\n"
