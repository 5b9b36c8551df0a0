"""Campaign costs, from ``costs.yaml`` in the workspace: one entry per campaign and month.

```yaml
- {campaign: trial-nurture, month: 2026-03, amount: 1200}
- {campaign: webinar, month: 2026-03, amount: 800, currency: EUR}
```
The file sits beside ``campaigns/`` (not in it, where every file is a definition).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from nurture.errors import NurtureError
from nurture.reports.money import DEFAULT_CURRENCY
from nurture.reports.rows import Cost

COSTS_FILE = "costs.yaml"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class CostsError(NurtureError):
    """costs.yaml cannot be read as it stands."""


def read_costs(root: Path) -> list[Cost]:
    """The costs of the workspace at ``root``; none when it has no costs.yaml."""
    path = root / COSTS_FILE
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CostsError(f"{COSTS_FILE}: not YAML: {exc}") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise CostsError(f"{COSTS_FILE}: expected a list of {{campaign, month, amount}} entries")
    return [_cost(i, entry) for i, entry in enumerate(data, start=1)]


def _cost(number: int, entry: Any) -> Cost:
    where = f"{COSTS_FILE}: entry {number}"
    if not isinstance(entry, dict):
        raise CostsError(f"{where}: expected campaign, month and amount")
    unknown = set(entry) - {"campaign", "month", "amount", "currency"}
    if unknown:
        raise CostsError(f"{where}: unknown field {sorted(unknown)[0]!r} (campaign, month, amount, currency)")
    campaign, month, amount = entry.get("campaign"), str(entry.get("month", "")), entry.get("amount")
    currency = str(entry.get("currency", DEFAULT_CURRENCY))
    if not isinstance(campaign, str) or not campaign:
        raise CostsError(f"{where}: campaign is missing")
    if not _MONTH.match(month):
        raise CostsError(f"{where}: month {month!r} is not YYYY-MM")
    if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
        raise CostsError(f"{where}: amount {amount!r} is not a number of zero or more")
    if not _CURRENCY.match(currency):
        raise CostsError(f"{where}: currency {currency!r} is not a three-letter code such as EUR")
    return Cost(campaign, month, float(amount), currency)
