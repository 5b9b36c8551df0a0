"""The report as one self-contained HTML page (inline CSS and SVG charts, no scripts, no downloads),
drawn from ``Report.as_json()``."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from nurture.reports.charts import bars, lines
from nurture.reports.text import experiment_headline, interval, number, percent, points
from nurture.templating import template_environment

_TEMPLATES = Path(__file__).resolve().parent / "templates"


def render_report_page(data: dict[str, Any]) -> str:
    """The HTML page; every value from the database is escaped by the template environment."""
    environment = template_environment(_TEMPLATES)
    period = data["period"]
    funnel_chart = bars(
        [(s["stage"], s["reached"], f"{s['reached']} ({percent(s['rate'])})") for s in data["funnel"]],
        label="Cohort waterfall",
    )
    trend: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for row in data["velocity"]["trend"]:
        if row["median"] is not None and row["leg"] != "mql -> sal":
            trend[row["leg"]].append((row["month"], row["median"]))
    balance: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for row in data["balance"]["rows"]:
        balance[row["stage"]].append((row["period"], row["balance"]))
    credits = data["attribution"]["by_campaign"]
    attribution_chart = bars(
        [
            (c["campaign"], c["mqls"], f"{number(c['mqls'])} MQLs, {number(c['customers'])} customers")
            for c in credits
        ],
        label="Attribution per campaign",
    )
    return environment.get_template("report.html").render(
        data=data,
        period=f"{period['since'] or 'the beginning'} to {period['until'] or 'now'}",
        funnel_chart=funnel_chart,
        velocity_chart=lines(trend, label="Median days per leg, by month", unit="days"),
        balance_chart=lines(
            balance, label=f"Leads at each stage, per {data['balance']['every']}", unit="leads"
        ),
        attribution_chart=attribution_chart,
        audit=[{**entry, "detail": _detail(entry.get("detail"))} for entry in data.get("audit", [])],
        percent=percent,
        number=number,
        headline=experiment_headline,
        interval=interval,
        points=points,
    )


def _detail(detail: Any) -> str:
    """An audit line's figures as ``key: value`` pairs (nested ones as JSON), for a table cell."""
    if not isinstance(detail, dict):
        return "" if detail is None else str(detail)
    return ", ".join(
        f"{key}: {value if isinstance(value, str | int | float) else json.dumps(value, ensure_ascii=False)}"
        for key, value in detail.items()
    )
