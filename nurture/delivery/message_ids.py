"""Message-ID headers for the outbox: unique, and in creation order.

The outbox keeps Message-IDs under a unique index. Random ids land anywhere in that index, so
every insert touches a cold page once the table is large; ids that start with the time and a
per-process sequence are appended at the index's end instead. The random tail keeps ids from
different processes (and from a clock that was moved back) apart.
"""

from __future__ import annotations

import itertools
import os
from datetime import datetime

_sequence = itertools.count()
_stamp: tuple[datetime | None, str] = (None, "")  # a batch shares one ``now``: format it once


def new_message_id(domain: str, now: datetime) -> str:
    """``<20260303T100000.00000001.1f2e3d4c5b6a7980@domain>``"""
    global _stamp
    if _stamp[0] != now:
        _stamp = (now, now.strftime("%Y%m%dT%H%M%S"))
    return f"<{_stamp[1]}.{next(_sequence):08x}.{os.urandom(8).hex()}@{domain}>"
