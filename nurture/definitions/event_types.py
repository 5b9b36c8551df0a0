"""Event type names in entries and scoring rules, checked against every name the program knows.

A type written nowhere else (not recorded by nurture, scored by no rule, entered on by no other
campaign, never seen in the database) is most often a typo that would make a campaign wait forever
for an event that never comes; a custom event still to arrive is the exception, so it is a warning.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from nurture.definitions.campaign import Campaign
from nurture.definitions.form import OPT_IN_CONFIRMED
from nurture.definitions.problems import Problem, did_you_mean
from nurture.definitions.program import Loaded, Program
from nurture.definitions.scoring import KNOWN_EVENT_TYPES, ScoringModel


def event_type_problems(program: Program, recorded: Iterable[str] = ()) -> Iterator[Problem]:
    """Warnings for entry and scoring event types nothing else in the program (or database) uses."""
    recorded = frozenset(recorded)
    entries: list[tuple[Loaded, str]] = []
    rules: list[tuple[Loaded, int, str]] = []
    for item in program.loaded:
        definition = item.definition
        if isinstance(definition, Campaign) and definition.entry.type is not None:
            entries.append((item, definition.entry.type))
        elif isinstance(definition, ScoringModel):
            rules.extend((item, index, rule.event) for index, rule in enumerate(definition.behavior))
    uses = Counter([name for _, name in entries] + [name for _, _, name in rules])
    forms = program.forms.values()
    from_forms = {form.event for form in forms} | (
        {OPT_IN_CONFIRMED} if any(f.double_opt_in for f in forms) else set()
    )
    common = set(KNOWN_EVENT_TYPES) | recorded | from_forms
    everything = common | set(uses)
    for item, name in entries:
        if name in common or uses[name] > 1:
            continue
        hint = did_you_mean(name, everything - {name})
        yield Problem(
            "warning",
            item.locate("entry", "type"),
            f"no scoring rule, other entry or recorded event uses event type {name!r}{hint} "
            "(fine if it is a custom event still to arrive)",
        )
    for item, index, name in rules:
        if name in common or uses[name] > 1:
            continue
        hint = did_you_mean(name, everything - {name})
        if hint:  # a custom event scored by its own rule is normal; only a near miss is suspicious
            yield Problem(
                "warning",
                item.locate("behavior", index, "event"),
                f"event type {name!r} is not one nurture records{hint} (fine if it is a custom event)",
            )
