"""The ``nurture`` command line."""

from __future__ import annotations

import importlib
import sys

import click

from nurture import __version__
from nurture.cli.context import App
from nurture.clock import clock_from_env
from nurture.errors import NurtureError


class NurtureGroup(click.Group):
    """Turns nurture's own errors into one clear line and exit code 1, never a traceback, and loads
    a command's module only when that command runs, so `nurture tick` never pays for the statistics
    (numpy) that `nurture report` needs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_lazy_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = _lazy_commands().get(cmd_name)
        if where is not None and cmd_name not in self.commands:
            module_name, attribute = where
            module = importlib.import_module(f"nurture.cli.{module_name}")
            self.add_command(getattr(module, attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except NurtureError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(1)


@click.group(cls=NurtureGroup)
@click.version_option(__version__, prog_name="nurture")
@click.option(
    "--workspace",
    "-w",
    metavar="DIR",
    envvar="NURTURE_WORKSPACE",
    help="The workspace folder (default: the current folder).",
)
@click.pass_context
def main(ctx: click.Context, workspace: str | None) -> None:
    """nurture: declarative nurture campaigns, lead scoring and sales handoff."""
    try:
        clock = clock_from_env()
    except NurtureError as exc:
        raise click.UsageError(f"NURTURE_NOW: {exc}") from None
    app = App(workspace_option=workspace, clock=clock)
    ctx.obj = app
    ctx.call_on_close(app.close)


# Each command lives in its own module, named here by "module:attribute" so `main` stays small; the
# command's name is the attribute with dashes.
COMMANDS = (
    "init:init",
    "db:db",
    "leads:leads",
    "events:events",
    "history:history",
    "check:check",
    "check:schema",
    "engine:tick",
    "preview:preview",
    "send_test:send_test",
    "simulate:simulate",
    "report:report",
    "sales:sales",
    "serve:serve",
    "run:run",
    "demo:demo",
    "score:score",
    "pausing:pause",
    "pausing:resume",
    "campaigns:campaigns",
    "plan:plan",
    "suppressions:suppressions",
    "consent:consent",
    "forms:forms",
    "audit:audit",
    "outbox:outbox",
    "enroll:enroll",
    "experiments:experiments",
)


def _lazy_commands() -> dict[str, tuple[str, str]]:
    commands = {}
    for entry in COMMANDS:
        module_name, _, attribute = entry.partition(":")
        commands[attribute.replace("_", "-")] = (module_name, attribute)
    return commands
