"""The report in the terminal: rich tables of the figures in ``Report.as_json()``, nothing recomputed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    return str(value)


def _table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        # Lead data and reasons are text, never rich markup.
        table.add_row(*(escape(cell) if isinstance(cell, str) else number(cell) for cell in row))
    return table


def print_report(data: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    period = data["period"]
    console.print(
        f"Cohort: {period['leads']} leads {period['cohort']} from {period['since'] or 'the beginning'} "
        f"to {period['until'] or 'now'}, followed to {period['now']}",
        highlight=False,
    )
    console.print(
        _table(
            "Funnel (reached: this stage or a later one)",
            ("stage", "reached", "rate", "median days", "p90 days", "still open", "skipped", "lost"),
            (
                (
                    s["stage"],
                    s["reached"],
                    percent(s["rate"]),
                    s["median_days"],
                    s["p90_days"],
                    s["still_open"],
                    s["skipped"],
                    s["lost"],
                )
                for s in data["funnel"]
            ),
        )
    )
    if data["bottleneck"]:
        console.print(f"Bottleneck: most leads are lost after {data['bottleneck']}", highlight=False)
    f = data["flows"]
    reasons = ", ".join(f"{escape(r)} {n}" for r, n in f["rejected_by_reason"].items()) or "–"
    console.print(
        f"MQLs {f['mqls']}: accepted {f['accepted']}, rejected {f['rejected']} ({reasons}), breached "
        f"{f['breached']}, waiting {f['waiting']}; recycled {f['recycled']}, "
        f"re-qualified {f['requalified']}, "
        f"disqualified {f['disqualified']}",
        highlight=False,
    )
    v = data["velocity"]
    console.print(
        _table(
            "Velocity",
            ("leg", "clock", "leads", "median", "p90"),
            ((leg["leg"], leg["clock"], leg["leads"], leg["median"], leg["p90"]) for leg in v["legs"]),
        )
    )
    t = data["touches"]
    console.print(
        f"Touches before MQL ({t['mqls']} MQLs): median {number(t['median_emails'])} emails, "
        f"{number(t['median_engagements'])} engagements; "
        + ", ".join(f"{k}: {n}" for k, n in t["emails_distribution"].items()),
        highlight=False,
    )
    stuck = data["stuck"]["leads"]
    if stuck:
        console.print(
            _table(
                f"Stuck leads ({len(stuck)})",
                ("email", "stage", "owner", "days", "limit"),
                ((s["email"], s["stage"], s["owner"] or "–", s["days"], s["limit_days"]) for s in stuck[:20]),
            )
        )
    for campaign in data["campaigns"]:
        console.print(
            _table(
                f"{campaign['campaign']}: entered {campaign['entered']}, active {campaign['active']}, "
                f"completed {campaign['completed']}, exited {campaign['exited']}"
                + (f", held out {campaign['holdout']}" if campaign.get("holdout") else ""),
                (
                    "step",
                    "sent",
                    "opened",
                    "clicked",
                    "open rate",
                    "click rate",
                    "machine opens/clicks",
                    "unsubscribed",
                    "bounced",
                ),
                (
                    (
                        s["step"] + (" (transactional)" if s.get("kind") == "transactional" else ""),
                        s["sent"],
                        s["opened"],
                        s["clicked"],
                        percent(s["open_rate"]),
                        percent(s["click_rate"]),
                        f"{s['machine_opens']}/{s['machine_clicks']}",
                        s["unsubscribed"],
                        s["bounced"],
                    )
                    for s in campaign["steps"]
                ),
            )
        )
    a = data["attribution"]
    console.print(
        _table(
            f"Attribution ({a['model']})",
            ("campaign", "step", "MQLs", "SQLs", "customers", "revenue"),
            (
                (c["campaign"], c["step"], c["mqls"], c["sqls"], c["customers"], _money(c["revenue"]))
                for c in a["credits"]
            ),
        )
    )
    m = data["money"]
    console.print(
        f"Revenue {_money(m['revenue'])}, pipeline {_money(m['pipeline'])}, average deal "
        f"{_money(m['average_deal'])}",
        highlight=False,
    )
    if m["campaigns"]:
        console.print(
            _table(
                "Money per campaign",
                ("campaign", "cost", "MQLs", "customers", "revenue", "per MQL", "per customer", "ROI"),
                (
                    (
                        c["campaign"],
                        f"{number(c['cost'])} {c['currency']}",
                        c["mqls"],
                        c["customers"],
                        c["revenue"],
                        c["cost_per_mql"],
                        c["cost_per_customer"],
                        percent(c["roi"]),
                    )
                    for c in m["campaigns"]
                ),
            )
        )
    sla = data["sla"]
    console.print(
        f"SLA: {sla['handoffs']} handoffs, {sla['accepted_in_time']} accepted in time, "
        f"{sla['accepted_late']} "
        f"late, {sla['breaches']} breaches; median working hours to answer: "
        f"{number(sla['median_hours_to_answer'])}",
        highlight=False,
    )
    if sla["by_rep"]:
        console.print(
            _table(
                "Reps",
                (
                    "rep",
                    "handoffs",
                    "in time",
                    "late",
                    "breached",
                    "rejected",
                    "median hours",
                    "SALs",
                    "to SQL",
                    "to customer",
                ),
                (
                    (
                        r["rep"],
                        r["handoffs"],
                        r["accepted_in_time"],
                        r["accepted_late"],
                        r["breached"],
                        r["rejected"],
                        r["median_hours_to_answer"],
                        r["sals"],
                        percent(r["sal_to_sql"]),
                        percent(r["sal_to_customer"]),
                    )
                    for r in sla["by_rep"]
                ),
            )
        )
    if data["breakdown"]:
        b = data["breakdown"]
        console.print(
            _table(
                f"By {b['by']}",
                ("value", "leads", *(s["stage"] for s in data["funnel"][1:]), "lead -> mql days"),
                (
                    (
                        g["value"],
                        g["leads"],
                        *(percent(s["rate"]) for s in g["funnel"][1:]),
                        g["velocity"][0]["median"],
                    )
                    for g in b["groups"]
                ),
            )
        )

    for experiment in data.get("experiments", []):
        _print_experiment(experiment, console)


def interval(bounds: Sequence[float] | None) -> str:
    """A rate's interval in percent: ``[10.1 – 14.8 %]``."""
    return "–" if bounds is None else f"[{bounds[0] * 100:.1f} – {bounds[1] * 100:.1f} %]"


def points(value: float | None, bounds: Sequence[float] | None) -> str:
    """A difference of rates in percentage points, with its interval: ``+2.1 pt [-0.5, +4.7]``."""
    if value is None or bounds is None:
        return "–"
    return f"{value * 100:+.1f} pt [{bounds[0] * 100:+.1f}, {bounds[1] * 100:+.1f}]"


def experiment_headline(e: dict[str, Any]) -> str:
    """What an experiment concluded, in one line (the terminal and the page say the same)."""
    if e["kind"] == "variants":
        if e["verdict"] == "winner":
            result = f"winner: variant {e['winner']}"
        elif e["verdict"] == "no difference":
            result = f"no difference of {e['min_effect'] * 100:g} points or more"
        else:
            result = "collecting: the planned sample is not reached yet, so no verdict"
        promoted = f"; variant {e['promoted']} is sent to everyone" if e["promoted"] else ""
        return (
            f"{e['campaign']}/{e['step']}: {e['metric']} within {number(e['within_days'])} days; "
            f"{result}{promoted}"
        )
    lift = e["lift"][e["metric"]]
    if e["verdict"] == "winner":
        better = "the campaign lifts" if lift["better"] == "treated" else "held-out leads do better on"
        result = f"{better} {e['metric']}: {points(lift['difference'], lift['difference_interval'])}"
    elif e["verdict"] == "no difference":
        result = f"no lift of {e['min_effect'] * 100:g} points or more in {e['metric']}"
    else:
        result = "collecting: the planned sample is not reached yet, so no verdict"
    within = number(e["within_days"])
    return f"{e['campaign']}: holdout {e['share'] * 100:g} %, {e['metric']} within {within} days; {result}"


def _print_experiment(e: dict[str, Any], console: Console) -> None:
    if e["kind"] == "variants":
        console.print(
            _table(
                f"Experiment {experiment_headline(e)}",
                (
                    "variant",
                    "leads",
                    "sends",
                    "judged",
                    "planned",
                    "outcomes",
                    "rate",
                    "95 % interval",
                    f"vs control ({e['confidence'] * 100:g} %)",
                ),
                (
                    (
                        v["variant"] + (" (control)" if v["control"] else ""),
                        v["leads"],
                        v["sends"],
                        v["judged"],
                        v["planned"],
                        v["outcomes"],
                        percent(v["rate"]),
                        interval(v["rate_interval"]),
                        points(v["difference"], v["difference_interval"]),
                    )
                    for v in e["variants"]
                ),
            )
        )
        return
    stages = list(e["lift"])
    console.print(
        _table(
            f"Holdout {experiment_headline(e)}",
            (
                "group",
                "leads",
                "judged",
                "planned",
                "emails from it",
                "other mail",
                *(f"{stage} rate" for stage in stages),
            ),
            (
                (
                    g["group"].replace("_", " "),
                    g["leads"],
                    g["judged"],
                    g["planned"],
                    g["campaign_sends_per_lead"],
                    g["other_mail_per_lead"],
                    *(
                        f"{percent(g['outcomes'][s]['rate'])} {interval(g['outcomes'][s]['rate_interval'])}"
                        for s in stages
                    ),
                )
                for g in e["groups"]
            ),
        )
    )
    lifts = ", ".join(
        f"{stage} {points(d['difference'], d['difference_interval'])}" for stage, d in e["lift"].items()
    )
    console.print(f"Lift (treated minus held out, 95 % interval): {lifts}", highlight=False)


def _money(amounts: dict[str, float]) -> str:
    return ", ".join(f"{number(v)} {c}" for c, v in amounts.items()) or "–"
