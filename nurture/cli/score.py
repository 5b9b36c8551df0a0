"""``nurture score``: rescore every lead, backtest the score, suggest points."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TypeVar

import click

from nurture.cli.context import App, pass_app
from nurture.durations import parse_duration
from nurture.errors import NurtureError
from nurture.guards import current_actor, record_audit
from nurture.scoring.backtest import Backtest, evaluate
from nurture.scoring.rescore import MAX_MQLS, rescore
from nurture.scoring.snapshot_stream import read_samples
from nurture.scoring.snapshots import OUTCOMES, ModelRules, Question
from nurture.scoring.suggest import Suggestion, suggest_points, suggested_model
from nurture.scoring.version import model_version, mql_threshold
from nurture.store.engine import reading


class ScoringError(NurtureError):
    """A scoring command cannot run as asked."""


F = TypeVar("F", bound=Any)


def _outcome_options(command: F) -> F:
    for option in reversed(
        [
            click.option(
                "--outcome",
                type=click.Choice(OUTCOMES),
                default="sql",
                show_default=True,
                help="The stage that counts as converted (or any later one).",
            ),
            click.option(
                "--horizon",
                default="90d",
                show_default=True,
                help="How long after the snapshot the outcome may come.",
            ),
            click.option(
                "--at",
                "at",
                default="created+30d",
                show_default=True,
                help="The snapshot: created+DURATION for every lead alike, or mql (handed-over only).",
            ),
        ]
    ):
        command = option(command)
    return command


def _question(outcome: str, horizon: str, at: str) -> Question:
    try:
        return Question(outcome, parse_duration(horizon), at)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _model_rules(app: App) -> ModelRules:
    model = app.program.scoring_model
    if model is None:
        raise ScoringError("the program has no ScoringModel: there is no score to check")
    return ModelRules.of(model)


@click.group()
def score() -> None:
    """Check and tune the scoring model against what became of past leads."""


@score.command("evaluate")
@_outcome_options
@click.option("--bands", type=click.IntRange(2, 50), default=10, show_default=True)
@click.option("--target-rate", type=click.FloatRange(0, 1), default=0.3, show_default=True,
              help="Conversion rate the suggested MQL threshold must reach.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@pass_app
def evaluate_command(
    app: App, outcome: str, horizon: str, at: str, bands: int, target_rate: float, as_json: bool
) -> None:
    """Backtest: did leads with higher scores at the snapshot convert more often?"""
    question = _question(outcome, horizon, at)
    rules = _model_rules(app)
    now = app.clock.now()
    with reading(app.store).connect() as conn:
        found = read_samples(conn, question, rules, now)
    threshold = mql_threshold(app.program)
    result = evaluate(
        found.samples, threshold=threshold, bands=bands, target_rate=target_rate, left_out=found.left_out
    )
    if as_json:
        document = {"question": question.describe, **result.as_dict()}
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        _print_backtest(question, result)


def _print_backtest(question: Question, result: Backtest) -> None:
    out = click.echo
    left = ", ".join(f"{n} {why}" for why, n in result.left_out.items()) or "none"
    out(f"Backtest: {question.describe}")
    out(f"leads evaluated: {result.leads}, converted: {result.positives}; left out: {left}")
    if result.unobservable:
        out(f"not observable: {result.unobservable}")
    if result.too_little_data:
        out(result.too_little_data)
    if result.auc is not None:
        lo, hi = result.auc.interval
        out(f"AUC (observable range): {result.auc.value:.3f}  95% interval {lo:.3f}-{hi:.3f}"
            "  (0.5 = a coin toss, 1 = a perfect ranking)")  # fmt: skip
    if result.auc_all_leads is not None:
        out(
            f"AUC over all leads: {result.auc_all_leads.value:.3f} "
            "(flattered: leads kept from sales never convert)"
        )
    out(
        f"{'band':>17} {'leads':>7} {'conv.':>6} {'rate':>7} {'lift':>6} {'line':>7} "
        f"{'SAL acc.':>8}  rejected"
    )
    for band in result.bands:
        lift = "-" if band.lift is None else f"{band.lift:.2f}"
        line = "-" if band.predicted is None else f"{band.predicted:.1%}"
        rejected = ", ".join(f"{why} {n}" for why, n in sorted(band.rejected.items())) or "-"
        mark = "" if band.observable else "  (not observable)"
        out(f"{band.low:>8.1f}-{band.high:<8.1f} {band.leads:>7} {band.converted:>6} {band.rate:>7.1%} "
            f"{lift:>6} {line:>7} {band.accepted:>8}  {rejected}{mark}")  # fmt: skip
    if result.calibration is not None and result.calibration[1] > 0:
        a, b = result.calibration
        out(f"calibration line: P = 1 / (1 + exp(-({a:.3f} + {b:.4f} * score))): "
            f"{0.6931 / b:.1f} points double the odds")  # fmt: skip
    months = ", ".join(
        f"{m} {'-' if v is None else f'{v.value:.2f}'}" for m, v in result.auc_by_month.items()
    )
    if months:
        out(f"AUC by snapshot month: {months}")
    shown = "none" if result.suggested_threshold is None else f"{result.suggested_threshold:g}"
    force = "unknown (not a plain `lead.score >= N`)" if result.threshold is None else f"{result.threshold:g}"
    out(f"MQL threshold in force: {force}; suggested: {shown} ({result.reason})")


@score.command("suggest")
@_outcome_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@click.option("--write", "write_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the model with the suggested points as YAML (adopt it yourself).")  # fmt: skip
@pass_app
def suggest_command(
    app: App, outcome: str, horizon: str, at: str, as_json: bool, write_file: Path | None
) -> None:
    """Suggested points per rule from recorded outcomes, with 95% intervals."""
    question = _question(outcome, horizon, at)
    rules = _model_rules(app)
    with reading(app.store).connect() as conn:
        found = read_samples(conn, question, rules, app.clock.now())
    result = suggest_points(found.samples, rules)
    if write_file is not None:
        if result.too_little_data:
            raise ScoringError(f"nothing written: {result.too_little_data}")
        model = app.program.scoring_model
        assert model is not None
        write_file.write_text(suggested_model(model, result), encoding="utf-8")
    if as_json:
        click.echo(
            json.dumps({"question": question.describe, **result.as_dict()}, ensure_ascii=False, indent=2)
        )
    else:
        _print_suggestion(question, result)
    if write_file is not None:
        click.echo(f"wrote {write_file}", err=as_json)


def _print_suggestion(question: Question, result: Suggestion) -> None:
    out = click.echo
    out(
        f"Suggested points: {question.describe}; {result.leads} handed-over leads, "
        f"{result.positives} converted"
    )
    out(result.note)
    if result.too_little_data:
        out(result.too_little_data)
        return
    if result.points_to_double_odds is not None:
        out(f"scale: {result.points_to_double_odds:.1f} points double the odds of converting")
    for rule in result.rules:
        if rule.suggested is None or rule.interval is None:
            out(f"  {rule.points:>5} -> {'-':>5}  {'':>18}  {rule.rule} (no variation: cannot be judged)")
            continue
        lo, hi = rule.interval
        flag = "" if rule.separated_from_zero else "  (not told apart from 0)"
        out(f"  {rule.points:>5} -> {rule.suggested:>5}  [{lo:>7.1f}, {hi:>7.1f}]  {rule.rule}{flag}")


@score.command("rescore")
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
@click.option("--max-mqls", type=click.IntRange(0), default=MAX_MQLS, show_default=True,
              help="At most this many new MQLs in this run; the rest follow in later runs.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@click.option("--actor", metavar="NAME", help="Who does this, for the audit log (default: your user name).")
@pass_app
def rescore_command(app: App, dry_run: bool, max_mqls: int, as_json: bool, actor: str | None) -> None:
    """Apply the current scoring model to every lead (fit rules and recorded events)."""
    program = app.program
    if program.scoring_model is None:
        raise ScoringError("the program has no ScoringModel: there is nothing to rescore with")
    now = app.clock.now()

    def progress(done: int) -> None:
        click.echo(f"\r{done} leads rescored", nl=False, err=True)

    result = rescore(
        app.store, program, now, dry_run=dry_run, max_mqls=max_mqls,
        then=app.lifecycle.scores_rose, default_zone=app.lifecycle.sales.default_zone,
        progress=progress if sys.stderr.isatty() else None,
    )  # fmt: skip
    if not dry_run:
        # The rescore commits batch by batch, so its audit line follows once every batch is in.
        detail = {"leads": result.leads, "changed": result.changed, "new_mqls": result.new_mqls,
                  "deferred": result.deferred}  # fmt: skip
        subject = f"model:{model_version(program.scoring_model)}"
        with app.store.begin() as conn:
            record_audit(conn, current_actor(actor), "rescore", subject, detail, now)
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    document = result.as_dict()
    verb = "would change" if dry_run else "changed"
    click.echo(f"model {model_version(program.scoring_model)}: {result.leads} leads, {result.changed} {verb} "
               f"({result.lines} ledger lines)")  # fmt: skip
    crossing = "would become MQLs" if dry_run else "became MQLs"
    click.echo(
        f"{result.new_mqls} {crossing}; {result.deferred} left for a later run (at most {max_mqls} a run)"
    )
    for move in document["largest_moves"]:
        click.echo(f"  {move['email']}: {move['before']} -> {move['after']}")


@score.command("train")
@_outcome_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@pass_app
def train_command(app: App, outcome: str, horizon: str, at: str, as_json: bool) -> None:
    """Fit the predictive score (extra nurture[predict]) and refresh every lead's probability."""
    # why: the predictive score's modules load only for `score train`, keeping the CLI's start quick
    from nurture.predict.refresh import refresh_probabilities
    from nurture.predict.stored import save_model
    from nurture.predict.train import collect_examples, train
    from nurture.scoring.snapshots import read_histories

    question = _question(outcome, horizon, at)
    rules = _model_rules(app)
    now = app.clock.now()
    with reading(app.store).connect() as conn:
        examples = collect_examples(read_histories(conn), question, rules, now)
    model = train(examples, rules, question, now)
    with app.store.begin() as conn:
        version = save_model(conn, model)
    refreshed = refresh_probabilities(app.store, app.program, now)
    document = {
        "version": version, "outcome": model.outcome, "trained_at": model.trained_at.isoformat(),
        "window": [model.window_from.isoformat(), model.window_to.isoformat()], "leads": model.leads,
        "positives": model.positives, "held_out_auc": model.held_out_auc, "leads_refreshed": refreshed,
        "weights": dict(zip(model.features, (round(c, 4) for c in model.coef), strict=True)),
    }  # fmt: skip
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    held = "-" if model.held_out_auc is None else f"{model.held_out_auc:.3f}"
    window = f"{model.window_from:%Y-%m-%d} to {model.window_to:%Y-%m-%d}"
    click.echo(f"predictive model {version}: {question.describe}; trained on {model.leads} handed-over leads "
               f"({model.positives} converted), snapshots {window}")  # fmt: skip
    click.echo(f"held-out AUC (latest quarter of the leads, not seen in fitting): {held}")
    click.echo(f"lead.conversion_probability refreshed for {refreshed} leads")
