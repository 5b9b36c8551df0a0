"""The report's tables as CSV files for spreadsheets, written from ``Report.as_json()``."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def tables(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """File name -> rows; nested figures are flattened into columns."""
    found: dict[str, list[dict[str, Any]]] = {
        "funnel": data["funnel"],
        "flows": [{k: v for k, v in data["flows"].items() if k != "rejected_by_reason"}],
        "rejections": [{"reason": r, "leads": n} for r, n in data["flows"]["rejected_by_reason"].items()],
        "balance": data["balance"]["rows"],
        "velocity": data["velocity"]["legs"],
        "velocity_trend": data["velocity"]["trend"],
        "stuck": data["stuck"]["leads"],
        "touches": [
            {"emails_before_mql": k, "mqls": n} for k, n in data["touches"]["emails_distribution"].items()
        ],
        "steps": [step for campaign in data["campaigns"] for step in campaign["steps"]],
        "campaigns": [{k: v for k, v in c.items() if k != "steps"} for c in data["campaigns"]],
        "attribution": [
            {
                **{k: v for k, v in c.items() if k != "revenue"},
                **_revenue(c["revenue"]),
                "model": data["attribution"]["model"],
            }
            for c in data["attribution"]["credits"]
        ],
        "money": data["money"]["campaigns"],
        "reps": [{k: v for k, v in r.items() if k != "rejected_by_reason"} for r in data["sla"]["by_rep"]],
    }
    if data["breakdown"]:
        found["breakdown"] = [
            {"by": data["breakdown"]["by"], "value": g["value"], **s}
            for g in data["breakdown"]["groups"]
            for s in g["funnel"]
        ]
    return found


def _revenue(amounts: dict[str, float]) -> dict[str, float]:
    return {f"revenue_{currency}": amount for currency, amount in amounts.items()}


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (a reason starting with '=') is kept as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if isinstance(value, dict | list):
        return str(value)
    return value


def write_csv_files(data: dict[str, Any], folder: Path) -> Iterable[Path]:
    """One CSV file per table in ``folder`` (created if needed); yields each path written."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables(data).items():
        path = folder / f"{name}.csv"
        columns: dict[str, None] = {}
        for row in rows:
            columns.update(dict.fromkeys(row))
        with path.open("w", encoding="utf-8", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(columns))
            writer.writeheader()
            writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
        yield path
