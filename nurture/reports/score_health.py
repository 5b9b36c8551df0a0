"""Score health: the report's section on whether the score still predicts what sales make of leads.

It is ``nurture score evaluate`` with its defaults (outcome SQL within 90 days of a snapshot 30
days after creation; see :mod:`nurture.scoring.backtest` for every definition): AUC on the range
sales could observe, lift per score band, the calibration of the band rates, and the MQL threshold
in force beside the one the outcomes suggest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy import Connection

from nurture.definitions import Program
from nurture.reports.predictive import predictive_html
from nurture.scoring.backtest import Backtest, evaluate
from nurture.scoring.handed_moves import HandedMoves
from nurture.scoring.snapshot_stream import read_samples
from nurture.scoring.snapshots import ModelRules, Question
from nurture.scoring.version import model_version, mql_threshold

QUESTION = Question()


def score_health(
    conn: Connection, program: Program, now: datetime, handed: HandedMoves | None = None
) -> Backtest | None:
    """The backtest behind the section; None when the program has no scoring model. ``handed``:
    the stage changes as the report's journeys give them (:mod:`nurture.scoring.handed_moves`);
    the caller stops taking them however this ends."""
    model = program.scoring_model
    if model is None:
        return None
    found = read_samples(conn, QUESTION, ModelRules.of(model), now, handed=handed)
    return evaluate(found.samples, threshold=mql_threshold(program), left_out=found.left_out)


def score_health_json(
    program: Program, health: Backtest | None, predictive: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The section as JSON; ``predictive``: :func:`nurture.reports.predictive.predictive_section`."""
    model = program.scoring_model
    if health is None or model is None:
        return None
    document = {"question": QUESTION.describe, "model_version": model_version(model), **health.as_dict()}
    document["predictive"] = predictive
    return document


def score_health_lines(health: Backtest | None) -> list[str]:
    """The section as plain text lines."""
    if health is None:
        return ["Score health: the program has no scoring model"]
    lines = [f"Score health ({QUESTION.describe}): {health.leads} leads, {health.positives} converted"]
    if health.auc is None:
        lines.append(f"  {health.too_little_data}")
    else:
        lo, hi = health.auc.interval
        lines.append(f"  AUC {health.auc.value:.3f} (95% {lo:.3f}-{hi:.3f}) on the observable range")
    for band in health.bands:
        lift = "-" if band.lift is None else f"{band.lift:.2f}x"
        note = "" if band.observable else " (not observable)"
        lines.append(
            f"  {band.low:>7.1f}-{band.high:<7.1f} {band.leads:>6} leads {band.rate:>6.1%} lift {lift}{note}"
        )
    force = "-" if health.threshold is None else f"{health.threshold:g}"
    shown = "-" if health.suggested_threshold is None else f"{health.suggested_threshold:g}"
    lines.append(f"  MQL threshold in force {force}, suggested {shown}: {health.reason}")
    return lines


def score_health_html(health: Backtest | None) -> Markup:
    """The section as HTML with a lift chart and a calibration chart (inline SVG, escaped text)."""
    if health is None:
        return Markup("")
    parts = [Markup("<section id='score-health'><h2>Score health</h2>")]
    parts.append(
        Markup("<p>{}: {} leads, {} converted.</p>").format(QUESTION.describe, health.leads, health.positives)
    )
    if health.auc is None:
        parts.append(Markup("<p>{}</p>").format(health.too_little_data))
    else:
        lo, hi = health.auc.interval
        parts.append(
            Markup(
                "<p>AUC <strong>{:.3f}</strong> (95% interval {:.3f} to {:.3f}) on the observable range.</p>"
            ).format(health.auc.value, lo, hi)
        )
    if health.unobservable:
        parts.append(Markup("<p class='note'>Not observable: {}.</p>").format(health.unobservable))
    parts.append(_lift_chart(health))
    parts.append(_calibration_chart(health))
    force = "–" if health.threshold is None else f"{health.threshold:g}"
    shown = "–" if health.suggested_threshold is None else f"{health.suggested_threshold:g}"
    parts.append(
        Markup("<p>MQL threshold in force: {}; suggested: {} ({}).</p>").format(force, shown, health.reason)
    )
    parts.append(Markup("</section>"))
    return Markup("").join(parts)


def _lift_chart(health: Backtest) -> Markup:
    """One bar per band, its height the lift; bands sales never saw drawn grey."""
    bands = health.bands
    if not bands:
        return Markup("")
    top = max((band.lift or 0.0) for band in bands) or 1.0
    width, height, gap = 40, 160, 8
    bars = []
    for i, band in enumerate(bands):
        h = (band.lift or 0.0) / top * (height - 20)
        x = i * (width + gap)
        colour = "#2b6cb0" if band.observable else "#a0aec0"
        bars.append(
            Markup(
                "<rect x='{}' y='{:.1f}' width='{}' height='{:.1f}' fill='{}'><title>{:g}-{:g}: {} leads, "
                "rate {:.1%}</title></rect><text x='{}' y='{}' font-size='9'>{:.0f}</text>"
            ).format(
                x,
                height - h,
                width,
                h,
                colour,
                band.low,
                band.high,
                band.leads,
                band.rate,
                x,
                height + 12,
                band.low,
            )
        )
    total = len(bands) * (width + gap)
    return Markup(
        "<figure><figcaption>Lift by score band</figcaption>"
        "<svg width='{}' height='{}' role='img'>{}</svg></figure>"
    ).format(total, height + 16, Markup("").join(bars))


def _calibration_chart(health: Backtest) -> Markup:
    """Observed rate (dot) against the calibration line's rate per band; on the diagonal is right."""
    points = [band for band in health.bands if band.observable and band.predicted is not None]
    if not points:
        return Markup("")
    size = 160
    dots = [
        Markup(
            "<circle cx='{:.1f}' cy='{:.1f}' r='4' fill='#2b6cb0'>"
            "<title>predicted {:.1%}, seen {:.1%}</title></circle>"
        ).format((band.predicted or 0.0) * size, size - band.rate * size, band.predicted or 0.0, band.rate)
        for band in points
    ]
    return Markup(
        "<figure><figcaption>Calibration: predicted against observed rate</figcaption>"
        "<svg width='{0}' height='{0}' role='img'>"
        "<line x1='0' y1='{0}' x2='{0}' y2='0' stroke='#cbd5e0'/>{1}</svg></figure>"
    ).format(size, Markup("").join(dots))


def with_score_health(page: str, health: Backtest | None, predictive: dict[str, Any] | None = None) -> str:
    """The report page with the section (and the predictive score's) added at the end of its body."""
    section = str(score_health_html(health)) + str(predictive_html(predictive))
    at = page.rfind("</body>")
    return page + section if at < 0 else page[:at] + section + page[at:]


__all__ = [
    "score_health",
    "score_health_html",
    "score_health_json",
    "score_health_lines",
    "with_score_health",
]
