"""Reading YAML: locations are kept and dangerous or ambiguous input is refused with a place."""

from __future__ import annotations

from pathlib import Path

import pytest

from nurture.definitions.problems import DefinitionError
from nurture.definitions.source import MAX_FILE_BYTES, SourceText, parse_documents, read_documents
from nurture.errors import Location


def test_every_value_and_key_keeps_its_line_and_column() -> None:
    [document] = parse_documents("kind: Campaign\nsteps:\n  - send: {template: x}\n", "c.yaml")
    assert document.locate(("kind",)) == Location("c.yaml", 1, 7)
    assert document.locate(("steps", 0, "send", "template")) == Location("c.yaml", 3, 22)
    assert document.locate_key(("steps", 0, "send")) == Location("c.yaml", 3, 5)
    template = document.data["steps"][0]["send"]["template"]
    assert isinstance(template, SourceText) and template.location == Location("c.yaml", 3, 22)


def test_a_missing_node_is_located_at_its_nearest_written_parent() -> None:
    [document] = parse_documents("a:\n  b: 1\n", "c.yaml")
    assert document.locate(("a", "missing", 3)) == Location("c.yaml", 2, 3)


def test_several_documents_per_file_and_empty_ones_are_kept_apart() -> None:
    documents = parse_documents("a: 1\n---\n---\nb: 2\n", "c.yaml")
    assert [d.data for d in documents] == [{"a": 1}, None, {"b": 2}]
    assert documents[2].location.line == 4


def test_yaml_11_surprises_stay_text() -> None:
    [document] = parse_documents("on: lead_created\ncountries: [NO, DE]\nat: 09:30\nflag: yes\n", "c.yaml")
    assert document.data == {"on": "lead_created", "countries": ["NO", "DE"], "at": "09:30", "flag": "yes"}


def test_numbers_booleans_and_null_are_typed() -> None:
    [document] = parse_documents("a: 3\nb: -1.5\nc: true\nd: ~\ne: 0x10\nf: '3'\n", "c.yaml")
    assert document.data == {"a": 3, "b": -1.5, "c": True, "d": None, "e": 16, "f": "3"}


def test_duplicate_keys_are_refused_naming_both_lines() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_documents("kind: Campaign\nkey: a\nname: x\nkey: b\n", "c.yaml")
    assert str(caught.value) == "c.yaml:4:1: duplicate key 'key' (first written at line 2)"


def test_tabs_in_indentation_are_refused_with_a_clear_message() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_documents("steps:\n\t- wait: 2d\n", "c.yaml")
    assert caught.value.location == Location("c.yaml", 2, 1)
    assert "tab" in caught.value.message and "spaces" in caught.value.message


def test_aliases_are_refused_so_a_billion_laughs_cannot_expand() -> None:
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for name, previous in zip("bcdefghi", "abcdefgh", strict=True):
        bomb += f"{name}: &{name} [*{previous},*{previous},*{previous},*{previous},*{previous},*{previous}]\n"
    with pytest.raises(DefinitionError) as caught:
        parse_documents(bomb, "bomb.yaml")
    assert caught.value.location == Location("bomb.yaml", 2, 8)
    assert "aliases" in caught.value.message


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(DefinitionError, match="nested more than"):
        parse_documents("a: " + "[" * 5000 + "]" * 5000, "deep.yaml")


def test_python_tags_are_refused_and_never_constructed() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_documents("a: !!python/object/apply:os.system ['true']\n", "c.yaml")
    assert caught.value.location == Location("c.yaml", 1, 4)
    assert "not supported" in caught.value.message


def test_complex_keys_are_refused() -> None:
    with pytest.raises(DefinitionError, match="plain names"):
        parse_documents("? [a, b]\n: c\n", "c.yaml")


def test_syntax_errors_name_the_place() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_documents("kind: Campaign\nsteps: [\n  - a\n", "c.yaml")
    assert caught.value.location.line >= 2
    assert caught.value.message.startswith("invalid YAML")


def test_control_characters_are_refused_with_their_place() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_documents("a: 1\nb: x\x07y\n", "c.yaml")
    assert caught.value.location == Location("c.yaml", 2, 5)


def test_a_file_that_is_not_utf8_is_refused_at_the_bad_byte(tmp_path: Path) -> None:
    file = tmp_path / "latin1.yaml"
    file.write_bytes("name: x\ntitle: Gr\xfc\xdfe\n".encode("latin-1"))
    with pytest.raises(DefinitionError) as caught:
        read_documents(file, "latin1.yaml")
    assert caught.value.location == Location("latin1.yaml", 2, 10)
    assert "UTF-8" in caught.value.message


def test_a_huge_file_is_refused_by_size_before_it_is_read(tmp_path: Path) -> None:
    file = tmp_path / "huge.yaml"
    with file.open("wb") as out:
        out.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper, nothing written
    with pytest.raises(DefinitionError) as caught:
        read_documents(file, "campaigns/huge.yaml")
    assert str(caught.value).startswith("campaigns/huge.yaml: file is 50.0 MB")
    assert f"{MAX_FILE_BYTES // 1024 // 1024} MB" in caught.value.message


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    file = tmp_path / "bom.yaml"
    file.write_bytes("\ufeffkind: SLA\n".encode())
    [document] = read_documents(file)
    assert document.data == {"kind": "SLA"}
