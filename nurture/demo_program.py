"""Where the demo program's files are: inside the installed package, or the repository root."""

from __future__ import annotations

from pathlib import Path

import nurture

PROGRAM_FOLDERS = ("campaigns", "templates", "scheduler")


def demo_program_root() -> Path:
    package = Path(nurture.__file__).resolve().parent
    for candidate in (package / "_demo", package.parent):
        if (candidate / "campaigns").is_dir():
            return candidate
    raise FileNotFoundError("the demo program is missing from this installation")
