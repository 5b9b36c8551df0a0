"""The README names every setting and every HTTP endpoint, the latter with its authentication."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine
from starlette.routing import Route

from nurture.clock import FixedClock
from nurture.http.app import create_app
from nurture.http.context import HttpContext
from nurture.settings import Settings
from nurture.tokens import TokenSigner

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n#", start + len(title))
    return README[start : end if end != -1 else None]


def test_every_setting_is_in_the_settings_table() -> None:
    table = section("| setting (`nurture.toml`")
    documented = set(
        re.findall(
            r"`([a-z_]+)`", "\n".join(line.split("|")[1] for line in table.splitlines()[2:] if "|" in line)
        )
    )
    assert set(Settings.model_fields) - documented == set()


def test_every_http_endpoint_is_listed_with_its_authentication() -> None:
    context = HttpContext(
        engine=create_engine("sqlite://"),
        signer=TokenSigner(b"readme-test-secret-0123456789"),
        base_url="https://track.example",
        clock=FixedClock(datetime(2026, 3, 2, tzinfo=UTC)),
        lifecycle=None,
        ingest_key=None,
    )
    app = create_app(context)
    rows = {
        line.split("|")[1]: line.split("|")[3].strip()
        for line in section("### HTTP endpoints").splitlines()
        if line.startswith("| `")
    }
    for route in app.routes:
        assert isinstance(route, Route)
        matching = [r for r in rows if f" {route.path}`" in r]
        assert matching, f"{route.path} is not in the README's endpoint table"
        for method in sorted((route.methods or set()) - {"HEAD"}):
            assert any(method in r for r in matching), f"{method} {route.path}"
        assert all(rows[r] for r in matching), f"{route.path}: say how it is authenticated"
