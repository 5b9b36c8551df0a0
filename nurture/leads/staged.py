"""A checked row as the importer hands it to the database: one flat tuple, values in storage form.

Flat tuples rather than objects because a large import makes a million of them: they are cheap
to build on the reading thread and go to the driver as they are.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple

from nurture.leads.addresses import email_domain
from nurture.leads.consent_fields import consents_json, consents_of_json
from nurture.leads.fields import STANDARD_FIELDS
from nurture.leads.validate import LeadValues

FIELD_NAMES = tuple(STANDARD_FIELDS)
# The columns a new lead is inserted with.
LEAD_COLUMNS = ("email", "email_domain", *FIELD_NAMES, "attributes")
# Where the lead comes from (its number in the other system, when it began there): applied after
# the lead is written (nurture.leads.origins), since they can conflict with other leads.
ORIGIN_COLUMNS = ("external_id", "created_at")
# Everything but the row number, in tuple order; last the consents the row gives
# (nurture.leads.consent_fields), recorded once its lead is written.
STAGED_COLUMNS = (*LEAD_COLUMNS, *ORIGIN_COLUMNS, "consents")
WIDTH = 1 + len(STAGED_COLUMNS)  # values per row: the row number, then STAGED_COLUMNS
ROW, EMAIL = 0, 1
FIRST_FIELD = 1 + STAGED_COLUMNS.index(FIELD_NAMES[0])  # FIELD_NAMES occupy [FIRST_FIELD, ATTRIBUTES)
ATTRIBUTES = FIRST_FIELD + len(FIELD_NAMES)
EXTERNAL_ID, CREATED_AT, CONSENTS = ATTRIBUTES + 1, ATTRIBUTES + 2, ATTRIBUTES + 3
NO_ORIGIN = (None, None)  # a row without origin columns
NO_CONSENTS = None  # a row without consent columns

# (row number, email, email_domain, *FIELD_NAMES, attributes as JSON text, external_id,
# created_at as ISO 8601 text, consents as JSON text); a blank cell is None.
StagedLead = tuple[Any, ...]


class Piece(NamedTuple):
    """Rows handed from the reading thread to the writing one.

    The values come flat, row after row, as a multi-row INSERT binds them: the reading thread,
    which has time to spare, lays them out, not the writing one, which has none.
    """

    values: tuple[Any, ...]  # WIDTH values per row
    rows: int
    closes_batch: bool  # the batch's last piece: the writer commits after it

    def leads(self) -> list[StagedLead]:
        values = self.values
        return [values[start : start + WIDTH] for start in range(0, len(values), WIDTH)]


def attributes_json(attributes: dict[str, Any]) -> str | None:
    """The custom attributes as stored (the same text bulk.json_value writes), None for none."""
    if not attributes:
        return None
    return json.dumps(attributes, ensure_ascii=False, separators=(",", ":"))


def staged(row: int, lead: LeadValues) -> StagedLead:
    """The tuple for a row checked by :func:`nurture.leads.validate.validate_record`; a row
    naming its lead by ``external_id`` alone has no address yet (:mod:`nurture.leads.named_rows`)."""
    fields = lead.fields
    return (
        row,
        lead.email or None,
        email_domain(lead.email) if lead.email else None,
        *(fields.get(name) for name in FIELD_NAMES),
        attributes_json(lead.attributes),
        lead.external_id,
        lead.created_at.isoformat() if lead.created_at is not None else None,
        consents_json(lead.consents),
    )


def lead_values(row: StagedLead) -> LeadValues:
    """What the row says about its lead, blanks left out (they never erase stored data)."""
    fields = {
        name: value
        for name, value in zip(FIELD_NAMES, row[FIRST_FIELD:ATTRIBUTES], strict=True)
        if value is not None
    }
    text, created = row[ATTRIBUTES], row[CREATED_AT]
    return LeadValues(
        row[EMAIL], fields, json.loads(text) if text else {}, row[EXTERNAL_ID],
        datetime.fromisoformat(created) if created else None, consents_of_json(row[CONSENTS]),
    )  # fmt: skip
