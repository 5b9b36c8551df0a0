"""``nurture init DIR``: a new workspace with a working example program."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from nurture.demo_data import write_leads_csv
from nurture.demo_program import PROGRAM_FOLDERS, demo_program_root
from nurture.errors import WorkspaceError
from nurture.settings import SETTINGS_FILE, secret_key
from nurture.store.engine import create_store_engine
from nurture.store.migrate import upgrade
from nurture.workspace import Workspace

DEMO_LEADS = 300

SETTINGS_TEMPLATE = """\
# nurture settings. Every key can also be set as an environment variable NURTURE_<KEY>,
# which wins over this file.

database_url = "sqlite:///nurture.db"    # or postgresql://user@host/dbname
transport = "maildir:outbox"              # or smtp://user:pass@relay:587?tls=starttls
from_address = "Taktwerk <hallo@taktwerk.example>"
base_url = "http://127.0.0.1:8025"        # public URL of the tracking and unsubscribe server
timezone = "Europe/Berlin"                # for leads without a time zone of their own
http_port = 8025
frequency_cap = 3                         # marketing e-mails per lead ...
frequency_window = "7d"                   # ... within this rolling window (0 turns the cap off)
# secret_key: signs every link; unset, a random key is kept in .nurture/secret_key
"""

GITIGNORE = "nurture.db*\noutbox/\n.nurture/\n"


def create_workspace(root: Path, *, with_database: bool = True) -> Workspace:
    """A new workspace in the empty (or missing) folder ``root``: demo program, settings, leads."""
    if root.exists() and any(root.iterdir()):
        raise WorkspaceError(f"{root} is not empty; choose a new folder")
    source = demo_program_root()
    root.mkdir(parents=True, exist_ok=True)
    for folder in PROGRAM_FOLDERS:
        if (source / folder).is_dir():
            shutil.copytree(source / folder, root / folder)
    (root / SETTINGS_FILE).write_text(SETTINGS_TEMPLATE, encoding="utf-8")
    (root / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    write_leads_csv(root / "leads.csv", DEMO_LEADS)
    workspace = Workspace(root)
    secret_key(workspace.settings, root)
    if with_database:
        engine = create_store_engine(workspace.database_url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
    return workspace


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--no-database", is_flag=True, help="Do not create the SQLite database.")
def init(directory: Path, no_database: bool) -> None:
    """Create a workspace in DIRECTORY with the demo program and sample leads."""
    root = directory.expanduser().resolve()
    create_workspace(root, with_database=not no_database)
    click.echo(f"created workspace {root}")
    if not no_database:
        click.echo("created the database nurture.db")
    click.echo("next:")
    click.echo(f"  cd {root}")
    click.echo("  nurture check                 # validate the program")
    click.echo("  nurture leads import leads.csv")
    click.echo("  nurture tick                  # run what is due now (or: nurture run)")
