"""Whatever is thrown at the reader, it answers with its own error and a place, never a crash."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nurture.definitions.checks import cross_check
from nurture.definitions.problems import DefinitionError
from nurture.definitions.program import Loaded, Program
from nurture.definitions.source import parse_documents
from nurture.definitions.validation import validate_document
from nurture.errors import Location

from .spec_examples import ALL

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_TEMPLATES = Path(tempfile.mkdtemp(prefix="nurture-no-templates-"))

YAML_NOISE = st.sampled_from([*":-{}[],&*!|>'\"#%@`\t\n ?~", "---", "\n  ", "__class__", "{{", "'"])
VOCABULARY = st.sampled_from(
    "kind Campaign SLA SalesTeam ScoringModel key name entry on where steps send wait branch if then else "
    "score set goto exit id template subject until timeout points reason reps routing manager mql "
    "route_to accept_within recycle campaign behavior fit decay half_life send_window days hours "
    "timezone lead_created manual 2d 0h mon-fri 09:00-17:00 Europe/Berlin".split()
)


def _run_everything(text: str) -> None:
    """Parse, validate and cross-check; only DefinitionError may escape, always with a place."""
    try:
        documents = parse_documents(text, "fuzz.yaml")
    except DefinitionError as exc:
        assert isinstance(exc.location, Location) and str(exc.location.path) == "fuzz.yaml"
        return
    loaded = []
    for document in documents:
        definition, problems = validate_document(document)
        for problem in problems:
            assert isinstance(problem.location, Location) and problem.message
        if definition is not None:
            loaded.append(Loaded(definition, document))
    for problem in cross_check(Program(_TEMPLATES, _TEMPLATES, tuple(loaded))):
        assert isinstance(problem.location, Location)


@st.composite
def mangled(draw: st.DrawFn) -> str:
    text = ALL
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        noise = draw(YAML_NOISE)
        if action == "insert":
            text = text[:position] + noise + text[position:]
        elif action == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 20)) :]
        else:
            text = text[:position] + noise + text[position + len(noise) :]
    return text


@FAST
@given(mangled())
def test_mangled_spec_examples_fail_only_with_located_definition_errors(text: str) -> None:
    _run_everything(text)


@FAST
@given(st.text(max_size=300))
def test_arbitrary_text_fails_only_with_located_definition_errors(text: str) -> None:
    _run_everything(text)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    VOCABULARY,
    st.text(max_size=20),
)
DOCUMENTS: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(VOCABULARY, children, max_size=6),
    max_leaves=25,
)


@FAST
@given(
    st.dictionaries(VOCABULARY, DOCUMENTS, max_size=8),
    st.sampled_from(["Campaign", "SLA", "SalesTeam", "ScoringModel"]),
)
def test_random_documents_are_validated_without_crashing(document: dict[str, Any], kind: str) -> None:
    document.setdefault("kind", kind)
    _run_everything(yaml.safe_dump(document, allow_unicode=True))
