"""The report as one self-contained HTML page (inline CSS and SVG charts, no scripts)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from nurture.reports.figures import Report
from nurture.templating import template_environment

_TEMPLATES = Path(__file__).resolve().parent / "templates"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def render_report_page(report: Report, generated: datetime) -> str:
    """The HTML page; every value from the database is escaped by the template environment."""
    environment = template_environment(_TEMPLATES)
    since = report.since.date().isoformat() if report.since else "the beginning"
    until = report.until.date().isoformat() if report.until else "now"
    funnel_max = max((stage.leads for stage in report.funnel), default=0)
    return environment.get_template("report.html").render(
        report=report,
        period=f"{since} to {until}",
        generated=generated.strftime("%Y-%m-%d %H:%M UTC"),
        funnel_max=funnel_max,
        percent=_percent,
    )
