"""What goes wrong in definitions, said so a marketer can fix it: where, how bad, and what instead."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from nurture.errors import Location, NurtureError

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Problem:
    """One finding of ``nurture check``: errors stop a program from loading, the rest only inform."""

    severity: Severity
    location: Location
    message: str

    def __str__(self) -> str:
        label = "" if self.severity == "error" else f"{self.severity}: "
        return f"{self.location}: {label}{self.message}"

    @property
    def sort_key(self) -> tuple[str, int, int]:
        return (str(self.location.path), self.location.line, self.location.column)


class DefinitionError(NurtureError):
    """A definition file cannot be read or understood; carries the place to look."""

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message

    def as_problem(self) -> Problem:
        return Problem("error", self.location, self.message)


class InvalidProgram(NurtureError):
    """The program has errors; every one of them is listed, not only the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: p.sort_key))
        errors = [p for p in self.problems if p.severity == "error"]
        lines = "\n".join(str(p) for p in errors)
        count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
        super().__init__(f"the definitions have {count} (run `nurture check`):\n{lines}")


class ConditionError(NurtureError):
    """A condition could not be evaluated for one lead (bad data, a refused operation)."""

    def __init__(self, location: Location, source: str, reason: str) -> None:
        super().__init__(f"{location}: condition {source!r} failed: {reason}")
        self.location = location
        self.source = source
        self.reason = reason


def nearest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word`` when one is close enough to be a plausible typo."""
    options = sorted(set(candidates))
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not matches:
        lowered = {o.lower(): o for o in options}
        matches = [lowered[word.lower()]] if word.lower() in lowered else []
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for a near miss, else an empty string."""
    hint = nearest(word, candidates)
    return f"; did you mean {hint!r}?" if hint else ""


def one_of(options: Iterable[str]) -> str:
    """``'a', 'b' or 'c'`` for messages."""
    quoted = [repr(o) for o in options]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]
