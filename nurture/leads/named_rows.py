"""Rows of a lead file that name their lead by ``external_id`` alone get the lead's address.

A file brought back from a CRM often carries the CRM's number and no address. Such a row means
the lead stored with that number: it is given the lead's address on the reading side, before the
rows are put into pieces, so from there on it is a row like any other (repeats of an address are
found, the writers match it by address and merge it). The numbers are looked up a window of rows
at a time, in one query per window, on a connection of the reading side's own. A number no lead
holds rejects the row, which says how to create the lead instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy.engine import Engine

from nurture.leads.addresses import email_domain
from nurture.leads.report import ImportReport
from nurture.leads.staged import EMAIL, EXTERNAL_ID, ROW, StagedLead
from nurture.store import bulk

WINDOW = 500  # rows held back while their numbers are looked up; within every driver's limits


def with_addresses(rows: Iterator[StagedLead], engine: Engine, report: ImportReport) -> Iterator[StagedLead]:
    """``rows`` in order, those without an address given their lead's (or rejected)."""
    held: list[StagedLead] = []
    for row in rows:
        if held or row[EMAIL] is None:
            held.append(row)
            if len(held) >= WINDOW:
                yield from _addressed(held, engine, report)
                held = []
        else:
            yield row
    if held:
        yield from _addressed(held, engine, report)


def _addressed(rows: list[StagedLead], engine: Engine, report: ImportReport) -> Iterator[StagedLead]:
    numbers = sorted({row[EXTERNAL_ID] for row in rows if row[EMAIL] is None})
    with engine.connect() as conn:
        query = f"SELECT external_id, email FROM leads WHERE external_id IN {bulk.markers(len(numbers))}"  # noqa: S608 - markers only
        found: dict[Any, str] = dict(bulk.fetch_positional(conn, query, numbers))
    for row in rows:
        if row[EMAIL] is not None:
            yield row
            continue
        email = found.get(row[EXTERNAL_ID])
        if email is None:
            # The words of POST /api/leads for an item naming an unknown number.
            report.reject(
                row[ROW], f"email: no lead has external_id {row[EXTERNAL_ID]!r}; give the email to create one"
            )
            continue
        yield (*row[:EMAIL], email, email_domain(email), *row[EMAIL + 2 :])
