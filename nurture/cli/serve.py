"""``nurture serve``: only the HTTP server, until SIGTERM."""

from __future__ import annotations

import asyncio

import click

from nurture.cli.context import App, pass_app
from nurture.settings import base_url_not_https


@click.command()
@click.option("--host", metavar="ADDRESS", help="Address to listen on (default: the http_host setting).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: the http_port setting).")
@click.option("--access-log/--no-access-log", default=False, show_default=True, help="Log every request.")
@click.option(
    "--forwarded-allow-ips",
    metavar="IPS",
    help="Reverse proxies whose X-Forwarded-For is trusted (comma-separated; default: 127.0.0.1).",
)
@pass_app
def serve(
    app: App, host: str | None, port: int | None, access_log: bool, forwarded_allow_ips: str | None
) -> None:
    """Serve tracking links, unsubscribe, the event API and sales actions until SIGTERM."""
    # why: the HTTP server loads only for `nurture serve`
    from nurture.http import HttpContext, build_server, create_app, serve_until_stopped

    settings = app.workspace.settings
    context = HttpContext.from_workspace(
        app.workspace, engine=app.store, clock=app.clock, program=app.program
    )
    server = build_server(
        create_app(context),
        host or settings.http_host,
        port or settings.http_port,
        access_log=access_log,
        handle_signals=False,
        forwarded_allow_ips=forwarded_allow_ips,
        admin_bind=settings.metrics_bind,
    )
    click.echo(
        f"serving {settings.base_url} on {host or settings.http_host}:{port or settings.http_port}; "
        "SIGTERM or Ctrl+C stops it"
    )
    if settings.metrics_bind:
        click.echo(f"metrics: http://{settings.metrics_bind}/metrics (the admin listener)")
    insecure = base_url_not_https(settings.base_url)
    if insecure is not None:
        click.echo(f"warning: {insecure}", err=True)
    if context.ingest_key is None:
        click.echo("note: the event API (/api/events) is off until ingest_api_key is set")
    asyncio.run(serve_until_stopped(server))
    click.echo("stopped")
