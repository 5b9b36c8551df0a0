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
    if data.get("experiments"):
        found["experiments"] = list(_experiment_rows(data["experiments"]))
    return found


def _experiment_rows(experiments: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """One row per variant, and per holdout group and stage; intervals as low and high columns."""
    for e in experiments:
        head = {key: e.get(key) for key in ("kind", "campaign", "step", "metric", "verdict", "winner")}
        if e["kind"] == "variants":
            for v in e["variants"]:
                counts = {key: v[key] for key in ("leads", "judged", "planned", "sample", "outcomes", "rate")}
                yield {
                    **head, "group": v["variant"], "stage": e["metric"], **counts,
                    **_bounds("rate", v["rate_interval"]), "difference": v["difference"],
                    **_bounds("difference", v["difference_interval"]),
                }  # fmt: skip
            continue
        for g in e["groups"]:
            counts = {key: g[key] for key in ("leads", "judged", "planned", "sample")}
            for stage, o in g["outcomes"].items():
                lift = e["lift"][stage] if g["group"] == "treated" else {}
                yield {
                    **head, "group": g["group"], "stage": stage, **counts, "outcomes": o["count"],
                    "rate": o["rate"], **_bounds("rate", o["rate_interval"]),
                    "difference": lift.get("difference"),
                    **_bounds("difference", lift.get("difference_interval")),
                    "other_mail_per_lead": g["other_mail_per_lead"],
                }  # fmt: skip


def _bounds(name: str, interval: list[float] | None) -> dict[str, float | None]:
    low, high = interval or (None, None)
    return {f"{name}_low": low, f"{name}_high": high}


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
