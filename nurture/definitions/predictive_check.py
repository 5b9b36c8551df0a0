"""``nurture check``: a definition that names ``lead.conversion_probability`` needs the extra."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from nurture.definitions.conditions import Condition
from nurture.definitions.problems import Problem
from nurture.definitions.program import Program

FIELD = "conversion_probability"


def extra_installed() -> bool:
    """Whether scikit-learn (the extra ``nurture[predict]``) can be imported."""
    return importlib.util.find_spec("sklearn") is not None


def predictive_problems(program: Program) -> Iterator[Problem]:
    """An error at every condition naming the probability while the extra is missing."""
    if extra_installed():
        return
    for item in program.loaded:
        for condition in _conditions(item.definition):
            try:
                fields = condition.facts.lead_fields
            except ValueError:
                continue  # reported where the condition is checked
            if FIELD in fields:
                yield Problem(
                    "error",
                    condition.location,
                    f"lead.{FIELD} is the predictive score, which needs its extra: "
                    "pip install 'nurture[predict]', then `nurture score train`",
                )


def _conditions(value: Any) -> Iterator[Condition]:
    if isinstance(value, Condition):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _conditions(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _conditions(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _conditions(item)
