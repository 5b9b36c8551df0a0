"""The command line loads a command's module only when that command runs."""

from __future__ import annotations

import subprocess
import sys

import click

from nurture.cli import COMMANDS, main


def test_every_listed_command_loads_under_its_name() -> None:
    context = click.Context(main)
    names = main.list_commands(context)
    assert len(names) == len(COMMANDS)
    for name in names:
        command = main.get_command(context, name)
        assert isinstance(command, click.Command), name
        assert command.name == name


def test_everyday_commands_do_not_load_the_statistics() -> None:
    # A fresh interpreter: this test process has long imported numpy through other tests.
    probe = (
        "import sys, click\n"
        "from nurture.cli import main\n"
        "context = click.Context(main)\n"
        "for name in ('tick', 'leads', 'events', 'check', 'sales', 'run', 'serve'):\n"
        "    main.get_command(context, name)\n"
        "print(sorted(m for m in ('numpy', 'sklearn') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
