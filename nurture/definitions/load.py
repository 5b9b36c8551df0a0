"""Loading a workspace's program: everything checked, every problem reported at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nurture.definitions.checks import cross_check
from nurture.definitions.problems import InvalidProgram, Problem
from nurture.definitions.program import Program, read_program
from nurture.workspace import Workspace


@dataclass(frozen=True)
class CheckReport:
    """The program as far as it could be read, and every problem found in it."""

    program: Program
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


def check_workspace(workspace: Workspace, recorded_event_types: Iterable[str] = ()) -> CheckReport:
    """Read, validate and cross-check a workspace's definitions and templates (event types the
    database has recorded count as known ones)."""
    program, problems = read_program(workspace)
    problems.extend(cross_check(program, recorded_event_types, default_locale=workspace.settings.locale))
    unique = list(dict.fromkeys(problems))
    return CheckReport(program, tuple(sorted(unique, key=lambda p: p.sort_key)))


def load_program(workspace: Workspace) -> Program:
    """The workspace's program, ready for the engine; :class:`InvalidProgram` lists any errors."""
    report = check_workspace(workspace)
    if not report.ok:
        raise InvalidProgram(report.problems)
    return report.program
