"""Workspace discovery, settings from nurture.toml and NURTURE_*, and the one clock."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from nurture.cli import main
from nurture.clock import FixedClock, SystemClock, clock_from_env, parse_instant
from nurture.errors import NurtureError, SettingsError, WorkspaceError
from nurture.settings import load_settings, secret_key
from nurture.workspace import find_workspace


def make_ws(root: Path, toml: str = "") -> Path:
    (root / "campaigns").mkdir(parents=True)
    if toml:
        (root / "nurture.toml").write_text(toml, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T09:00:00Z", datetime(2026, 3, 2, 9, tzinfo=UTC)),
        ("2026-03-02T10:00:00+01:00", datetime(2026, 3, 2, 9, tzinfo=UTC)),
        ("2026-03-02T09:00", datetime(2026, 3, 2, 9, tzinfo=UTC)),
        ("2026-03-02", datetime(2026, 3, 2, tzinfo=UTC)),
    ],
)
def test_instants_parse_to_utc(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


def test_a_bad_instant_is_explained() -> None:
    with pytest.raises(NurtureError, match="not an ISO-8601"):
        parse_instant("next tuesday")


def test_nurture_now_pins_the_clock_and_the_system_clock_follows_freezegun() -> None:
    pinned = clock_from_env({"NURTURE_NOW": "2026-10-25T01:30:00Z"})
    assert isinstance(pinned, FixedClock) and pinned.now() == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    with freeze_time("2027-01-01T12:00:00Z"):
        assert SystemClock().now() == datetime(2027, 1, 1, 12, tzinfo=UTC)
    assert isinstance(clock_from_env({}), SystemClock)


def test_a_bad_nurture_now_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["--workspace", str(make_ws(tmp_path)), "db", "current"], env={"NURTURE_NOW": "soon"}
    )
    assert result.exit_code == 2 and "NURTURE_NOW" in result.output


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_ws(tmp_path, 'transport = "maildir:mail"\nhttp_port = 9000\n')
    monkeypatch.setenv("NURTURE_HTTP_PORT", "9100")
    settings = load_settings(root)
    assert settings.transport == "maildir:mail"
    assert settings.http_port == 9100


def test_a_misspelt_setting_suggests_the_right_one(tmp_path: Path) -> None:
    root = make_ws(tmp_path, 'databse_url = "sqlite:///x.db"\n')
    with pytest.raises(SettingsError, match="unknown setting 'databse_url'; did you mean 'database_url'"):
        load_settings(root)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("timezone = 'Europe/Atlantis'", "unknown time zone"),
        ("http_port = 'eighty'", "http_port"),
        ("transport = ", "not valid TOML"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(make_ws(tmp_path, toml + "\n"))


def test_the_generated_secret_is_private_and_stable(tmp_path: Path) -> None:
    root = make_ws(tmp_path)
    first = secret_key(load_settings(root), root)
    assert len(first) >= 32
    assert secret_key(load_settings(root), root) == first
    mode = stat.S_IMODE(os.stat(root / ".nurture" / "secret_key").st_mode)
    assert mode == 0o600


def test_workspace_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c = make_ws(tmp_path / "a"), make_ws(tmp_path / "b"), make_ws(tmp_path / "c")
    monkeypatch.chdir(c)
    assert find_workspace().root == c
    monkeypatch.setenv("NURTURE_WORKSPACE", str(b))
    assert find_workspace().root == b
    assert find_workspace(str(a)).root == a


def test_a_folder_without_a_program_is_not_a_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NURTURE_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WorkspaceError, match="nurture init"):
        find_workspace()


def test_relative_sqlite_paths_live_in_the_workspace(tmp_path: Path) -> None:
    root = make_ws(tmp_path)
    assert find_workspace(str(root)).database_url == f"sqlite:///{root.resolve()}/nurture.db"
