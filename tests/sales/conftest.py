from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.sales.desk import Desk, write_workspace


@pytest.fixture
def desk(workspace: Path, store: Engine) -> Desk:
    write_workspace(workspace)
    with (workspace / "nurture.toml").open("a", encoding="utf-8") as toml:
        toml.write(
            'timezone = "Europe/Berlin"\nbase_url = "https://nurture.example"\n'
            'from_address = "Taktwerk <hallo@taktwerk.example>"\n'
        )
    return Desk(workspace, store)
