"""A nurture program: every definition of a workspace, read from ``campaigns/*.yaml``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nurture.definitions.campaign import Campaign
from nurture.definitions.form import Form
from nurture.definitions.problems import DefinitionError, Problem, did_you_mean
from nurture.definitions.sales_team import SalesTeam
from nurture.definitions.scoring import ScoringModel
from nurture.definitions.sla import SLA
from nurture.definitions.source import Document, NodePath, read_documents
from nurture.definitions.topic import BUILT_IN_TOPIC, DEFAULT_TOPIC, Topic
from nurture.definitions.validation import AnyDefinition, validate_document
from nurture.errors import Location, NurtureError
from nurture.workspace import Workspace

DEFINITION_PATTERNS = ("*.yaml", "*.yml")


class UnknownDefinition(NurtureError, KeyError):
    """A command or definition named a campaign, team or SLA the program does not have."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Loaded:
    """A validated definition and the document it came from."""

    definition: AnyDefinition
    document: Document

    @property
    def path(self) -> str:
        return self.document.path

    def locate(self, *path: str | int) -> Location:
        """Where a part of this definition is written, e.g. ``locate("steps", 2, "send")``."""
        return self.document.locate(tuple(path))

    def locate_key(self, path: NodePath) -> Location:
        return self.document.locate_key(path)


@dataclass(frozen=True)
class Program:
    """Everything loaded from a workspace's definitions, plus where its templates live."""

    root: Path
    templates_dir: Path
    loaded: tuple[Loaded, ...]
    # Documents that name a kind but failed validation: checks elsewhere must not call what they
    # define missing (their own errors are reported where they are written).
    unreadable: tuple[Document, ...] = ()

    def unreadable_keys(self, kind: str) -> set[str]:
        """Keys (or names) of definitions of ``kind`` that are written but could not be read."""
        found: set[str] = set()
        for document in self.unreadable:
            if document.data.get("kind") == kind:
                found.add(str(document.data.get("key") or document.data.get("name") or ""))
        return found

    def of_kind(self, kind: str) -> Iterator[Loaded]:
        return (item for item in self.loaded if item.definition.kind == kind)

    @property
    def campaigns(self) -> dict[str, Campaign]:
        """Campaigns by key (the first definition wins when a key is repeated)."""
        found: dict[str, Campaign] = {}
        for item in self.of_kind("Campaign"):
            assert isinstance(item.definition, Campaign)
            found.setdefault(item.definition.key, item.definition)
        return found

    @property
    def sales_teams(self) -> dict[str, SalesTeam]:
        found: dict[str, SalesTeam] = {}
        for item in self.of_kind("SalesTeam"):
            assert isinstance(item.definition, SalesTeam)
            found.setdefault(item.definition.key, item.definition)
        return found

    @property
    def forms(self) -> dict[str, Form]:
        """Web forms by key (the first definition wins when a key is repeated)."""
        found: dict[str, Form] = {}
        for item in self.of_kind("Form"):
            assert isinstance(item.definition, Form)
            found.setdefault(item.definition.key, item.definition)
        return found

    @property
    def double_opt_in_topics(self) -> frozenset[str]:
        """Topics some form confirms by double opt-in: their mail needs confirmed consent."""
        return frozenset(
            topic for form in self.forms.values() if form.double_opt_in and form.consent
            for topic in form.consent.topics
        )  # fmt: skip

    @property
    def topics(self) -> dict[str, Topic]:
        """Subscription topics by key: the Topic definitions, and ``marketing``, which every
        program has (a Topic with that key names it)."""
        found: dict[str, Topic] = {}
        for item in self.of_kind("Topic"):
            assert isinstance(item.definition, Topic)
            found.setdefault(item.definition.key, item.definition)
        found.setdefault(DEFAULT_TOPIC, BUILT_IN_TOPIC)
        return found

    @property
    def scoring_model(self) -> ScoringModel | None:
        """The scoring model, or None when the program scores nothing."""
        item = next(self.of_kind("ScoringModel"), None)
        return item.definition if item is not None and isinstance(item.definition, ScoringModel) else None

    @property
    def sla(self) -> SLA:
        """The SLA between marketing and sales (a valid program has exactly one)."""
        item = next(self.of_kind("SLA"), None)
        if item is None or not isinstance(item.definition, SLA):
            raise UnknownDefinition("the program has no SLA (kind: SLA in campaigns/*.yaml)")
        return item.definition

    def campaign(self, key: str) -> Campaign:
        """The campaign with this key; :class:`UnknownDefinition` with a suggestion otherwise."""
        campaigns = self.campaigns
        if key not in campaigns:
            raise UnknownDefinition(f"no campaign {key!r}{did_you_mean(key, campaigns)}")
        return campaigns[key]

    def form(self, key: str) -> Form:
        """The form with this key; :class:`UnknownDefinition` with a suggestion otherwise."""
        forms = self.forms
        if key not in forms:
            raise UnknownDefinition(f"no form {key!r}{did_you_mean(key, forms)}")
        return forms[key]

    def team(self, key: str) -> SalesTeam:
        """The sales team with this key; :class:`UnknownDefinition` with a suggestion otherwise."""
        teams = self.sales_teams
        if key not in teams:
            raise UnknownDefinition(f"no sales team {key!r}{did_you_mean(key, teams)}")
        return teams[key]

    def source_of(self, definition: AnyDefinition) -> Loaded:
        """The loaded entry (file and locations) of a definition of this program."""
        for item in self.loaded:
            if item.definition is definition:
                return item
        raise KeyError(definition.key)

    def template_path(self, name: str, extension: str = ".html") -> Path:
        """``trial/welcome`` -> ``<workspace>/templates/trial/welcome.html``."""
        return self.templates_dir / f"{name}{extension}"

    def relative(self, path: Path) -> str:
        """A path as shown in messages: relative to the workspace when inside it."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def definition_files(workspace: Workspace) -> list[Path]:
    """The definition files of a workspace, in a stable order."""
    folder = workspace.campaigns_dir
    files = {file for pattern in DEFINITION_PATTERNS for file in folder.glob(pattern) if file.is_file()}
    return sorted(files)


def read_program(workspace: Workspace) -> tuple[Program, list[Problem]]:
    """Read and validate every definition file; the program holds what was valid."""
    problems: list[Problem] = []
    loaded: list[Loaded] = []
    unreadable: list[Document] = []
    root = workspace.root
    if not workspace.campaigns_dir.is_dir():
        problems.append(Problem("error", Location("campaigns"), "the workspace has no campaigns/ folder"))
    for file in definition_files(workspace) if workspace.campaigns_dir.is_dir() else []:
        display = str(file.relative_to(root))
        try:
            documents = read_documents(file, display)
        except DefinitionError as exc:
            problems.append(exc.as_problem())
            continue
        for document in documents:
            definition, found = validate_document(document)
            problems.extend(found)
            if definition is not None:
                loaded.append(Loaded(definition, document))
            elif found and isinstance(document.data, dict):
                unreadable.append(document)
    return Program(root, workspace.templates_dir, tuple(loaded), tuple(unreadable)), problems
