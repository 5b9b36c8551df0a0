"""The samples of a backtest as columns: one array per field, one row per lead.

A backtest over a million leads must not hold a million Python objects: the columns take a few
dozen bytes a lead, and the statistics (:mod:`nurture.scoring.backtest`,
:mod:`nurture.scoring.suggest`) work on whole arrays. :class:`SampleColumns` is also a sequence of
:class:`~nurture.scoring.snapshots.Sample`, made one at a time when asked for, so code that reads
samples one by one (and tests with hand-made samples) works on either.

Moments are integers: microseconds since 1970 (UTC), exact, as the database stores them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

from nurture.scoring.snapshots import Sample

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NO_ANSWER = -1


def micros(at: datetime) -> int:
    """``at`` as whole microseconds since 1970 (UTC)."""
    return (at - EPOCH) // timedelta(microseconds=1)


@dataclass
class SampleColumns(Sequence[Sample]):
    """Samples as arrays; ``answers`` names the codes of ``answer`` (-1: no sales answer)."""

    lead_id: NDArray[np.int64]
    at: NDArray[np.int64]  # microseconds since 1970, UTC
    score: NDArray[np.float64]
    converted: NDArray[np.bool_]
    features: NDArray[np.float64]  # one row per lead, one column per rule of the model
    handed_over: NDArray[np.bool_]
    answer: NDArray[np.int32]
    answers: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lead_id)

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Sample]: ...

    def __getitem__(self, index: int | slice) -> Sample | Sequence[Sample]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        code = int(self.answer[index])
        return Sample(
            int(self.lead_id[index]),
            EPOCH + timedelta(microseconds=int(self.at[index])),
            float(self.score[index]),
            bool(self.converted[index]),
            tuple(float(x) for x in self.features[index]),
            bool(self.handed_over[index]),
            None if code == NO_ANSWER else self.answers[code],
        )

    def __iter__(self) -> Iterator[Sample]:
        return (self[i] for i in range(len(self)))

    def months(self) -> NDArray[Any]:
        """The calendar month (UTC) of each snapshot, as ``YYYY-MM``."""
        return np.datetime_as_string(self.at.astype("datetime64[us]").astype("datetime64[M]"))

    def answer_names(self, members: NDArray[np.bool_]) -> Counter[str]:
        """The sales answers of the rows in ``members``, counted by name, in the order they first
        appear there (as counting them one by one would)."""
        codes = self.answer[members]
        codes = codes[codes != NO_ANSWER]
        found, first, counts = np.unique(codes, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")
        return Counter({self.answers[int(found[i])]: int(counts[i]) for i in order})

    @classmethod
    def of(cls, samples: Sequence[Sample], rules: int | None = None) -> SampleColumns:
        """Columns of ``samples`` (themselves, when they are columns already)."""
        if isinstance(samples, SampleColumns):
            return samples
        width = len(samples[0].features) if samples else (rules or 0)
        names: dict[str, int] = {}
        answer = [NO_ANSWER if s.answer is None else names.setdefault(s.answer, len(names)) for s in samples]
        return cls(
            np.array([s.lead_id for s in samples], dtype=np.int64),
            np.array([micros(s.at) for s in samples], dtype=np.int64),
            np.array([s.score for s in samples], dtype=np.float64),
            np.array([s.converted for s in samples], dtype=bool),
            np.array([s.features for s in samples], dtype=np.float64).reshape(len(samples), width),
            np.array([s.handed_over for s in samples], dtype=bool),
            np.array(answer, dtype=np.int32),
            list(names),
        )

    @classmethod
    def joined(cls, parts: Sequence[SampleColumns], width: int) -> SampleColumns:
        """One set of columns from consecutive parts, answer codes renumbered to one list."""
        names: dict[str, int] = {}
        answers = []
        for part in parts:
            recode = np.array([names.setdefault(name, len(names)) for name in part.answers] + [NO_ANSWER])
            answers.append(recode[part.answer])  # NO_ANSWER (-1) picks the last entry: itself
        return cls(
            np.concatenate([p.lead_id for p in parts]) if parts else np.zeros(0, np.int64),
            np.concatenate([p.at for p in parts]) if parts else np.zeros(0, np.int64),
            np.concatenate([p.score for p in parts]) if parts else np.zeros(0),
            np.concatenate([p.converted for p in parts]) if parts else np.zeros(0, bool),
            np.concatenate([p.features for p in parts]) if parts else np.zeros((0, width)),
            np.concatenate([p.handed_over for p in parts]) if parts else np.zeros(0, bool),
            np.concatenate(answers).astype(np.int32) if parts else np.zeros(0, np.int32),
            list(names),
        )
