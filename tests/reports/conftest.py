from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.sales.desk import Desk, write_workspace


@pytest.fixture
def desk(workspace: Path, store: Engine) -> Desk:
    """The sales test program (scoring, SLA, a team with working hours) on this test's database."""
    write_workspace(workspace)
    with (workspace / "nurture.toml").open("a", encoding="utf-8") as toml:
        toml.write('timezone = "Europe/Berlin"\nfrom_address = "Taktwerk <hallo@taktwerk.example>"\n')
    return Desk(workspace, store)
