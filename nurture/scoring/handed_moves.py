"""The stage changes another reader reads anyway, handed to the backtest block by block.

The report reads every stage change for its journeys; its score health's backtest read them all
again, on a connection of its own (half its time at a million leads, and both reads on the same
two cores). The journeys' reader now gives each block it reads (every change of a range of lead
ids, whatever its moment) to a :class:`HandedMoves`, and the backtest takes its chunks' moves
from there, waiting for the block that covers them. When the giver stops before the end (it
failed, or never began), the backtest reads what was not handed over itself: nobody waits for a
reader that will not come.
"""

from __future__ import annotations

import threading

import numpy as np
from numpy.typing import NDArray

Moves = dict[str, NDArray[np.int64]]  # lead_id, stage (snapshot_stream's codes), at (µs), id
_COLUMNS = ("lead_id", "stage", "at", "id")


class HandedMoves:
    """Blocks of stage changes in lead id order, given by one thread and taken by another."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._blocks: list[tuple[int, Moves]] = []  # (the first lead id after the block, its moves)
        self._through = 0  # every lead id below this is covered by the blocks given
        self._closed = False
        self._stopped = False

    def give(self, moves: Moves, high: int) -> None:
        """Every stage change of the leads with ids from the last block's end up to ``high``
        (excluded), ordered by lead, moment and id (the giver's own order)."""
        with self._lock:
            if self._stopped or self._closed:
                return  # nobody takes them: not held
            self._blocks.append((high, {name: moves[name] for name in _COLUMNS}))
            self._through = max(self._through, high)
            self._lock.notify_all()

    def close(self) -> None:
        """No more blocks (all were given, or the giver stopped early)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def stop(self) -> None:
        """The taker wants no more: what was given, and will be, is let go of."""
        with self._lock:
            self._stopped = True
            self._blocks.clear()

    def moves(self, low: int, high: int) -> Moves | None:
        """The stage changes of the leads with ids ``low`` to ``high`` (both included), waited
        for; None when the blocks given do not cover them all (the giver stopped early, or the
        leads came after its last block: recorded since it began), and the taker reads them
        itself. Asked for in ascending order: blocks before ``low`` are let go of."""
        with self._lock:
            while not self._closed and self._through <= high:
                self._lock.wait()
            if self._through <= high:
                return None
            while self._blocks and self._blocks[0][0] <= low:
                self._blocks.pop(0)
            pieces = [moves for end, moves in self._blocks]
        parts: dict[str, list[NDArray[np.int64]]] = {name: [] for name in _COLUMNS}
        for moves in pieces:
            lead = moves["lead_id"]
            begin, end = int(np.searchsorted(lead, low, "left")), int(np.searchsorted(lead, high, "right"))
            if begin == end:
                continue
            for name in _COLUMNS:
                parts[name].append(moves[name][begin:end])
        return {
            name: np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
            for name, found in parts.items()
        }
