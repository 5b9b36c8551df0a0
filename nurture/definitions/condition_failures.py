"""Conditions that could not be decided, counted per condition instead of listed per lead.

A condition that fails for one lead usually fails for thousands (a custom column holding text where
a date was expected): the operator needs the place to fix and how many leads it touched, once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from nurture.definitions.problems import ConditionError


@dataclass
class ConditionFailures:
    """How often each condition (by where it is written) failed, with the first case as example."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, error: ConditionError, who: str) -> None:
        key = f"{error.location}: condition {error.source!r}"
        self.counts[key] += 1
        self.examples.setdefault(key, f"{who}: {error.reason}")

    def absorb(self, other: ConditionFailures) -> None:
        self.counts.update(other.counts)
        for key, example in other.examples.items():
            self.examples.setdefault(key, example)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def lines(self) -> list[str]:
        """``<where>: condition '<source>' failed for 120 leads (first: anna@...: <reason>)``."""
        return [
            f"{key} failed for {count} lead{'s' if count != 1 else ''} (first: {self.examples[key]})"
            for key, count in sorted(self.counts.items())
        ]

    def as_json(self) -> list[dict[str, object]]:
        return [
            {"condition": key, "leads": count, "first": self.examples[key]}
            for key, count in sorted(self.counts.items())
        ]
