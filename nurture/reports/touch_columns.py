"""Touches as columns: marketing emails sent to a lead and a person's engagement, in the order they
happened (a send before an engagement of the same instant), lead by lead.

Only the touches of leads that converted, up to their latest conversion, are read: most leads
never convert, and later touches are never counted. A million leads touch some ten million times,
so a touch is a row of four columns, never an object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nurture.reports.handoffs import Vocabulary
from nurture.reports.instants import micros
from nurture.reports.rows import Touch


@dataclass(frozen=True)
class Touches:
    lead: np.ndarray  # int32: the lead's row in the journeys
    at: np.ndarray  # int64 µs
    sent: np.ndarray  # bool: an email sent (else a person's engagement)
    step: np.ndarray  # int16 code (int32 past 32,766 steps) into ``steps`` of an engagement's step; -1: none
    steps: Vocabulary = field(default_factory=Vocabulary)  # "campaign\x1fstep"

    def __len__(self) -> int:
        return len(self.lead)

    def step_of(self, code: int) -> tuple[str, str]:
        campaign, _, step = (self.steps.text(code) or "").partition(STEP_SEPARATOR)
        return campaign, step

    def blocks(self) -> list[tuple[int, int]]:
        """``[begin, end)`` ranges of about :data:`BLOCK` touches, each cut where the lead changes:
        a lead's engagements are together (its sends may be elsewhere), so none is split. Figures
        over ten million touches work a block at a time: over all at once, their temporaries were
        the report's peak of memory."""
        lead, found, begin = self.lead, [], 0
        while begin < len(lead):
            end = min(begin + BLOCK, len(lead))
            while end < len(lead):  # on to the first row whose lead is not the one before it
                window = lead[end : end + 4096]
                changed = np.flatnonzero(window != lead[end - 1])
                if len(changed):
                    end += int(changed[0])
                    break
                end += len(window)
            found.append((begin, end))
            begin = end
        return found


BLOCK = 1_000_000  # touches a figure works on at once


STEP_SEPARATOR = "\x1f"


def step_key(campaign: str, step: str) -> str:
    return f"{campaign}{STEP_SEPARATOR}{step}"


def touches_from_rows(touches: Mapping[int, Sequence[Touch]], lead_rows: Mapping[int, int]) -> Touches:
    """Plain touches (per lead id, each lead's in time order) as columns, in lead row order."""
    steps = Vocabulary()
    found = [
        (lead_rows[lead_id], micros(t.at), t.kind == "sent", _step(t, steps))
        for lead_id, own in touches.items()
        if lead_id in lead_rows
        for t in own
    ]
    found.sort(key=lambda touch: touch[0])  # stable: each lead's own stay in their order
    return Touches(
        np.array([t[0] for t in found], dtype=np.int64),
        np.array([t[1] for t in found], dtype=np.int64),
        np.array([t[2] for t in found], dtype=bool),
        np.array([t[3] for t in found], dtype=np.int32),
        steps,
    )


def _step(touch: Touch, steps: Vocabulary) -> int:
    """A person's engagement with a campaign's email earns credit (sends alone earn nothing)."""
    if touch.kind == "sent" or touch.campaign is None or touch.step is None:
        return -1
    return steps.code(step_key(touch.campaign, touch.step))
