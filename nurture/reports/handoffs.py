"""The handoffs to sales as columns: a million leads are handed over some two million times.

Texts (rep, team, status, reason) are small integer codes into a list of the texts met, so a
column of them is a numpy array; instants are int64 microseconds (:mod:`nurture.reports.instants`),
:data:`~nurture.reports.instants.NEVER` where there is none (no due time, not answered).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nurture.definitions import SalesTeam
from nurture.reports.instants import NEVER, micros
from nurture.reports.rows import Handoff
from nurture.sales.handoffs import handoff_holder


class Vocabulary:
    """Texts met in a column, each given the next code as it first appears (None is -1)."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self.texts: list[str] = []
        self._codes: dict[str, int] = {}
        for text in texts:
            self.code(text)

    def code(self, text: str | None) -> int:
        if text is None:
            return -1
        found = self._codes.get(text)
        if found is None:
            found = self._codes[text] = len(self.texts)
            self.texts.append(text)
        return found

    def find(self, text: str) -> int:
        """The text's code; -2 (matching nothing, not even None) when it never appeared."""
        return self._codes.get(text, -2)

    def text(self, code: int) -> str | None:
        return None if code < 0 else self.texts[code]


@dataclass
class Handoffs:
    """Handoffs in id order; ``lead`` is the lead's row in the journeys (-1: not among them)."""

    id: np.ndarray  # int64
    lead_ids: np.ndarray  # int64
    lead: np.ndarray  # int64 rows
    rep: np.ndarray  # int32 codes into ``reps`` (-1: the team's manager held it)
    team: np.ndarray  # int32 codes into ``teams``
    status: np.ndarray  # int32 codes into ``statuses``
    assigned: np.ndarray  # int64 µs
    due: np.ndarray  # int64 µs, NEVER: no due time
    responded: np.ndarray  # int64 µs, NEVER: not answered (by the report's moment)
    reason: np.ndarray  # int32 codes into ``reasons`` (-1: none)
    reps: Vocabulary = field(default_factory=Vocabulary)
    teams: Vocabulary = field(default_factory=Vocabulary)
    statuses: Vocabulary = field(default_factory=Vocabulary)
    reasons: Vocabulary = field(default_factory=Vocabulary)
    _first_acceptance: np.ndarray | None = field(default=None, repr=False, compare=False)
    _masks: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.id)

    def is_status(self, *names: str) -> np.ndarray:
        """Which handoffs have one of these statuses (kept: the SLA asks per rep, again and again)."""
        found = self._masks.get(names)
        if found is None:
            wanted = np.zeros(len(self.statuses.texts) + 1, dtype=bool)  # the last: codes never met
            for name in names:
                if (code := self.statuses.find(name)) >= 0:
                    wanted[code] = True
            found = self._masks[names] = wanted[self.status]
        return found

    def status_bit(self, name: str) -> int:
        """The bit of ``name`` in :meth:`statuses_per_lead` (0 when no handoff has it)."""
        code = self.statuses.find(name)
        return 0 if code < 0 else 1 << code

    def statuses_per_lead(self, leads: int) -> np.ndarray:
        """Per lead row, the bits of every status its handoffs have (0: never handed over)."""
        found = np.zeros(leads, dtype=np.int64)
        known = self.lead >= 0
        np.bitwise_or.at(found, self.lead[known], np.left_shift(1, self.status[known].astype(np.int64)))
        return found

    def rejected_by_reason(self, chosen: np.ndarray) -> dict[str, int]:
        """Leads (rows where ``chosen``) with a rejected handoff, counted once per reason given:
        most first, then by reason."""
        rejected = self.is_status("rejected") & (self.lead >= 0)
        rejected[rejected] = chosen[self.lead[rejected]]
        pairs = np.unique(np.stack([self.lead[rejected], self.reason[rejected].astype(np.int64)]), axis=1)
        # Each lead once per reason as shown: no reason and an empty one are both "(none)".
        shown = {
            (lead, self.reasons.text(code) or "(none)") for lead, code in zip(*pairs.tolist(), strict=True)
        }
        counts = Counter(reason for _, reason in shown)
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def first_acceptance(self, leads: int) -> np.ndarray:
        """Per lead row, its first (in id order) accepted or converted handoff that was answered
        (-1: none): the acceptance the MQL -> SAL leg is measured by."""
        if self._first_acceptance is None or len(self._first_acceptance) != leads:
            answered = self.is_status("accepted", "converted") & (self.responded != NEVER) & (self.lead >= 0)
            picks = np.flatnonzero(answered)
            lead_rows, first = np.unique(self.lead[picks], return_index=True)
            found = np.full(leads, -1, dtype=np.int64)
            found[lead_rows] = picks[first]
            self._first_acceptance = found
        return self._first_acceptance

    def holders(self, teams: Mapping[str, SalesTeam]) -> tuple[np.ndarray, list[str]]:
        """Who held each handoff, named as a lead's owner is (the rep, else the team manager's
        owner id), as codes into the returned names."""
        width = len(self.teams.texts) + 1
        pairs, each = np.unique((self.rep.astype(np.int64) + 1) * width + self.team + 1, return_inverse=True)
        names = Vocabulary()
        codes = [
            names.code(handoff_holder(self.reps.text(rep - 1), self.teams.text(team - 1) or "", teams))
            for rep, team in (divmod(int(pair), width) for pair in pairs)
        ]
        return np.array(codes, dtype=np.int32)[each], names.texts


def handoffs_from_rows(rows: Sequence[Handoff], lead_rows: Mapping[int, int]) -> Handoffs:
    """Plain handoff rows (in id order) as columns; ``lead_rows``: each lead id's row."""
    reps, teams, statuses, reasons = Vocabulary(), Vocabulary(), Vocabulary(), Vocabulary()
    ordered = sorted(rows, key=lambda h: h.id)
    return Handoffs(
        np.array([h.id for h in ordered], dtype=np.int64),
        np.array([h.lead_id for h in ordered], dtype=np.int64),
        np.array([lead_rows.get(h.lead_id, -1) for h in ordered], dtype=np.int64),
        np.array([reps.code(h.rep_id) for h in ordered], dtype=np.int32),
        np.array([teams.code(h.team_key) for h in ordered], dtype=np.int32),
        np.array([statuses.code(h.status) for h in ordered], dtype=np.int32),
        np.array([micros(h.assigned_at) for h in ordered], dtype=np.int64),
        np.array(
            [NEVER if h.accept_due_at is None else micros(h.accept_due_at) for h in ordered], dtype=np.int64
        ),
        np.array(
            [NEVER if h.responded_at is None else micros(h.responded_at) for h in ordered], dtype=np.int64
        ),
        np.array([reasons.code(h.reason) for h in ordered], dtype=np.int32),
        reps,
        teams,
        statuses,
        reasons,
    )
