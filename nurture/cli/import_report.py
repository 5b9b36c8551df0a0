"""The end of an import from a file (``events import``, ``history import``): its report, as JSON
or as the problems on stderr and a summary, and exit status 1 when anything was rejected."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import click


class FileImportReport(Protocol):
    @property
    def problems(self) -> Sequence[object]:
        """The first rejected records, each printed as it says itself."""

    @property
    def rejected(self) -> int: ...

    def summary(self) -> str: ...

    def as_json(self) -> dict[str, Any]: ...


def finish_import(file: Path, report: FileImportReport, *, as_json: bool, records: str) -> None:
    """Print the report and exit 1 if any of the file's ``records`` (lines, rows) was rejected."""
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        for problem in report.problems:
            click.echo(f"{file}: {problem}", err=True)
        # The report keeps only the first problems; the rest are counted, not lost silently.
        hidden = report.rejected - len(report.problems)
        if hidden > 0:
            click.echo(f"{file}: ... and {hidden} more rejected {records}", err=True)
        click.echo(report.summary())
    if report.rejected:
        sys.exit(1)
