"""What an import did: counts, and the rejected rows by row number."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection

KEPT_PROBLEMS = 1000  # the report keeps those of the first rows and counts the rest

# Called inside each batch's transaction with the ids of created and of changed leads, so that
# scoring and campaign entry see exactly the leads this import touched.
BatchHook = Callable[[Connection, Sequence[int], Sequence[int], datetime], None]
ProgressHook = Callable[[int, int], None]  # (bytes read, file size)
# Called inside each batch's transaction with the ids of every lead the batch's rows name (new,
# changed or unchanged), e.g. to record the consent the whole file stands for.
RowsHook = Callable[[Connection, Sequence[int], datetime], None]


@dataclass(frozen=True)
class RowProblem:
    row: int
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


@dataclass
class ImportReport:
    path: Path
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    suppressed: int = 0
    fields_skipped: int = 0  # --on-error skip-field: bad values left out of rows that were stored
    problems: list[RowProblem] = field(default_factory=list)
    # Rows are rejected by the reading thread (bad values) and the writing one (duplicates).
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def reject(self, row: int, message: str) -> None:
        with self._lock:
            self.rejected += 1
            self._keep(row, message)

    def skip_field(self, row: int, column: str, reason: str) -> None:
        """A bad value left out of a row that is stored without it (``--on-error skip-field``)."""
        with self._lock:
            self.fields_skipped += 1
            self._keep(row, f"{column}: {reason}; stored without this field")

    def _keep(self, row: int, message: str) -> None:
        # Kept by row number, not by arrival: the two threads report in no fixed order.
        if len(self.problems) < KEPT_PROBLEMS or row < self.problems[-1].row:
            bisect.insort(self.problems, RowProblem(row, message), key=lambda p: p.row)
            del self.problems[KEPT_PROBLEMS:]


def duplicate(email: str, first_row: int) -> str:
    """The message for a row whose address an earlier row of the same file had."""
    return f"email: {email} already appears in row {first_row}; row skipped"
