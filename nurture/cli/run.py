"""``nurture run``: the daemon (scheduler, sending, the HTTP server) until SIGTERM."""

from __future__ import annotations

import sys

import click

from nurture.cli.context import App, pass_app


@click.command()
@click.option("--host", metavar="ADDRESS", help="Address the HTTP server listens on (default: http_host).")
@click.option("--port", type=click.IntRange(1, 65535), help="HTTP port (default: the http_port setting).")
@click.option(
    "--log-format",
    type=click.Choice(["json", "text"]),
    default="json",
    show_default=True,
    help="One JSON object per line on stderr, or key=value lines.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="debug also logs job runs that found nothing to do.",
)
@click.option(
    "--show-jobs", is_flag=True, help="Print the job schedule (defaults + scheduler/jobs.yaml) and exit."
)
@pass_app
def run(
    app: App, host: str | None, port: int | None, log_format: str, log_level: str, show_jobs: bool
) -> None:
    """Run the service: recurring jobs (campaign steps, sending, segments, score decay, SLA timers,
    bounces, webhooks, reloads) and the HTTP server, until SIGTERM. SIGHUP reloads definitions."""
    # why: the daemon (scheduler, HTTP server) loads only for `nurture run`
    from nurture.daemon import DaemonOptions, configure_logging, load_schedule, run_daemon, settings_secrets

    workspace = app.workspace
    if show_jobs:
        for line in load_schedule(workspace).lines():
            click.echo(line)
        return
    configure_logging(
        "json" if log_format == "json" else "text", log_level, settings_secrets(workspace.settings)
    )
    sys.exit(run_daemon(workspace, DaemonOptions(host=host, port=port)))
