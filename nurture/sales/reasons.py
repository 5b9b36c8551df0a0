"""The reason recorded with a rejection: one of the SLA's ``reject_reasons`` as written there, or
the rep's own words, with an optional note after it."""

from __future__ import annotations

from nurture.definitions import SLA

MAX_REASON = 500


def clean(text: str | None) -> str:
    """One line of at most :data:`MAX_REASON` characters."""
    return " ".join((text or "").split())[:MAX_REASON]


def reject_reason(sla: SLA | None, reason: str | None, note: str | None = None) -> str:
    """``reason`` spelt as the SLA lists it (matched without regard to case), then ``: note``.

    Empty when neither a reason nor a note is given (the action then refuses: a reason is required).
    """
    given, extra = clean(reason), clean(note)
    listed = {r.casefold(): r for r in (sla.reject_reasons if sla is not None else ())}
    given = listed.get(given.casefold(), given)
    if given and extra:
        return clean(f"{given}: {extra}")
    return given or extra
