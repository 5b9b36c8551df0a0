"""Reading definition files: YAML in, plain data out, with the line and column of every node kept.

Definitions are written by hand and read by machines, so the reader is stricter than YAML itself:
files over :data:`MAX_FILE_BYTES` are refused unread, duplicate keys are refused (YAML silently keeps
the last), aliases are refused (they add nothing to short definition files and are how a "billion
laughs" file explodes in memory), and only YAML 1.2's plain types are recognised, so ``on:``, ``NO``
(Norway) and ``09:30`` stay text instead of becoming booleans or sexagesimal numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from nurture.definitions.problems import DefinitionError
from nurture.errors import Location

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 40

NodePath = tuple[str | int, ...]


class SourceText(str):
    """A string from a definition file that remembers where it was written."""

    location: Location

    def __new__(cls, value: str, location: Location) -> SourceText:
        text = super().__new__(cls, value)
        text.location = location
        return text


@dataclass(frozen=True)
class Document:
    """One YAML document (files hold several, separated by ``---``) and where each node of it is."""

    path: str
    index: int
    data: Any
    location: Location
    values: Mapping[NodePath, Location] = field(repr=False)
    keys: Mapping[NodePath, Location] = field(repr=False)

    def locate(self, path: NodePath) -> Location:
        """Where the value at ``path`` is written, or its nearest written ancestor."""
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return self.location

    def locate_key(self, path: NodePath) -> Location:
        """Where the key naming ``path`` is written (for unknown or duplicate keys)."""
        return self.keys.get(path) or self.locate(path)


class _Resolver(BaseResolver):
    """YAML 1.2 core schema: only true/false are booleans, no timestamps, no base-60 numbers."""


for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
):
    _Resolver.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))


class _Refused(Exception):
    def __init__(self, mark: yaml.Mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


class _Loader(Reader, Scanner, Parser, Composer, _Resolver):
    """Composes node trees only: nothing is ever constructed from a tag, so no code can run."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Resolver.__init__(self)
        self.depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise _Refused(
                mark, "YAML aliases (*name) are not allowed in definitions; write the value out in full"
            )
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _Refused(mark, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def read_documents(file: Path, display: str | None = None) -> list[Document]:
    """Read every document of a definition file; ``display`` is the path used in messages."""
    name = display or str(file)
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DefinitionError(
                Location(name),
                f"file is {size / 1024 / 1024:.1f} MB; definition files are limited to "
                f"{MAX_FILE_BYTES // 1024 // 1024} MB (split it, or check that it is the right file)",
            )
        raw = file.read_bytes()
    except OSError as exc:
        raise DefinitionError(Location(name), f"cannot read the file: {exc.strerror or exc}") from None
    return parse_documents(decode(raw, name), name)


def decode(raw: bytes, name: str) -> str:
    """UTF-8 text (a byte-order mark is allowed); the place of the first bad byte otherwise."""
    if len(raw) > MAX_FILE_BYTES:
        raise DefinitionError(
            Location(name), f"definition files are limited to {MAX_FILE_BYTES // 1024 // 1024} MB"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before.rpartition(b"\n")[2].decode("utf-8", "replace")) + 1
        raise DefinitionError(
            Location(name, line, column), "the file is not UTF-8 text; save it with UTF-8 encoding"
        ) from None


def parse_documents(text: str, path: str) -> list[Document]:
    """Parse YAML text into documents; only :class:`DefinitionError` ever leaves this function."""
    if len(text) > MAX_FILE_BYTES:
        raise DefinitionError(
            Location(path), f"definition files are limited to {MAX_FILE_BYTES // 1024 // 1024} MB"
        )
    documents: list[Document] = []
    try:
        for index, node in enumerate(_compose_all(text)):
            documents.append(_Converter(path, index).document(node))
    except DefinitionError:
        raise
    except _Refused as exc:
        raise DefinitionError(_location(path, exc.mark), exc.message) from None
    except yaml.MarkedYAMLError as exc:
        raise DefinitionError(_location(path, exc.problem_mark), _yaml_message(exc)) from None
    except yaml.reader.ReaderError as exc:
        line, column = _line_column(text, exc.position)
        raise DefinitionError(
            Location(path, line, column),
            f"character {exc.character!r} is not allowed in YAML (a control character?)",
        ) from None
    except Exception as exc:
        # The YAML library is not hardened against every malformed input; whatever it trips on is
        # still the file's fault and is reported as such, never as a crash of nurture.
        raise DefinitionError(
            Location(path), f"cannot read the file as YAML ({type(exc).__name__})"
        ) from None
    return documents


def _compose_all(text: str) -> Iterator[Node]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node
    finally:
        loader.dispose()


def _location(path: str, mark: yaml.Mark | None) -> Location:
    if mark is None:
        return Location(path)
    return Location(path, mark.line + 1, mark.column + 1)


def _line_column(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or "invalid YAML"
    if "'\\t'" in problem:
        return "tab character: YAML must be indented with spaces, not tabs"
    if exc.context:
        return f"invalid YAML: {problem} ({exc.context})"
    return f"invalid YAML: {problem}"


_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"


class _Converter:
    """Turns a node tree into dicts, lists and scalars while recording every node's place."""

    def __init__(self, path: str, index: int) -> None:
        self.path = path
        self.index = index
        self.values: dict[NodePath, Location] = {}
        self.keys: dict[NodePath, Location] = {}

    def document(self, node: Node) -> Document:
        data = self.convert(node, ())
        return Document(self.path, self.index, data, self.at(node), self.values, self.keys)

    def at(self, node: Node) -> Location:
        return _location(self.path, node.start_mark)

    def convert(self, node: Node, path: NodePath) -> Any:
        self.values[path] = self.at(node)
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if isinstance(node, SequenceNode):
            self.expect_tag(node, _SEQ)
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            self.expect_tag(node, _MAP)
            return self.mapping(node, path)
        raise DefinitionError(self.at(node), "unsupported YAML node")

    def mapping(self, node: MappingNode, path: NodePath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Location] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag not in (_STR, _NULL, _BOOL, _INT, _FLOAT):
                raise DefinitionError(self.at(key_node), "keys must be plain names, not lists or mappings")
            # Keys are taken as written: `on:` is the key "on", never the boolean true.
            key = key_node.value
            here = self.at(key_node)
            if key in first_seen:
                raise DefinitionError(
                    here, f"duplicate key {key!r} (first written at line {first_seen[key].line})"
                )
            first_seen[key] = here
            self.keys[(*path, key)] = here
            result[key] = self.convert(value_node, (*path, key))
        return result

    def expect_tag(self, node: Node, tag: str) -> None:
        if node.tag != tag:
            raise DefinitionError(self.at(node), f"YAML tag {node.tag!r} is not supported in definitions")

    def scalar(self, node: ScalarNode) -> Any:
        value, tag = node.value, node.tag
        if tag == _STR:
            return SourceText(value, self.at(node))
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return value.lower() == "true"
        try:
            if tag == _INT:
                return _integer(value)
            if tag == _FLOAT:
                return _float(value)
        except ValueError:
            raise DefinitionError(
                self.at(node), f"{value!r} is not a valid {tag.rpartition(':')[2]}"
            ) from None
        raise DefinitionError(self.at(node), f"YAML tag {tag!r} is not supported in definitions")


def _integer(value: str) -> int:
    text = value.replace("_", "")
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


def _float(value: str) -> float:
    lowered = value.lower()
    if lowered.endswith(".inf"):
        return float("-inf") if lowered.startswith("-") else float("inf")
    if lowered == ".nan":
        return float("nan")
    return float(value.replace("_", ""))
