"""The JSON Schema that `nurture schema` writes accepts the real program and refuses mistakes,
as an editor's YAML language server (YAML 1.2, like nurture's loader) would apply it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from nurture.cli import main
from nurture.definitions.source import parse_documents, read_documents

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def validator(tmp_path_factory: pytest.TempPathFactory) -> jsonschema.Draft202012Validator:
    target = tmp_path_factory.mktemp("schema") / "nurture.schema.json"
    result = CliRunner().invoke(main, ["--workspace", str(ROOT), "schema", "--output", str(target)])
    assert result.exit_code == 0, result.output
    schema = json.loads(target.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", sorted((ROOT / "campaigns").glob("*.yaml")), ids=lambda p: p.name)
def test_every_demo_definition_is_valid_under_the_schema(validator, path: Path) -> None:  # type: ignore[no-untyped-def]
    for document in read_documents(path):
        errors = [error.message for error in validator.iter_errors(document.data)]
        assert errors == [], f"{path.name}: {errors[:3]}"


@pytest.mark.parametrize(
    "text",
    [
        "kind: Campaign\nkey: x\nentry: {on: lead_created}\nsteps:\n  - sned: {template: a, subject: b}\n",
        "kind: Campaign\nkey: x\nentry: {on: someday}\nsteps:\n  - wait: 2d\n",
        "kind: SLA\nname: s\nmql: {when: 'lead.score > 1'}\nroute_to: t\n",
        "kind: Kampagne\nkey: x\n",
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(validator, text: str) -> None:  # type: ignore[no-untyped-def]
    (document,) = parse_documents(text, "editor.yaml")
    assert list(validator.iter_errors(document.data)) != []
