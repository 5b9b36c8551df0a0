"""The package layers of docs/architecture.md hold, and imports inside functions say why.

``lint-imports`` runs the contracts in pyproject.toml (``[tool.importlinter]``); running it here
puts them under the README's test command too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# In a process of its own: lint-imports configures logging, which would silence the tests' loggers.
LINT_IMPORTS = (
    "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
)


def test_every_import_contract_is_kept() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def imports_inside_functions(source: str) -> list[tuple[int, bool]]:
    """(line, has a ``# why`` comment) of each import inside a function, outside TYPE_CHECKING.

    The comment is the line above the import, or above the run of imports it belongs to.
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import | ast.ImportFrom) and id(inner) not in type_only:
                above = inner.lineno - 2
                while above >= 0 and lines[above].strip().startswith(("from ", "import ")):
                    above -= 1
                found.append((inner.lineno, above >= 0 and lines[above].strip().startswith("# why")))
    return found


def test_the_check_for_imports_inside_functions_finds_them() -> None:
    source = (
        "def f():\n"
        "    import json\n"
        "def g():\n"
        "    # why: a reason\n"
        "    from a import b\n"
        "    from a import c\n"
        "if TYPE_CHECKING:\n"
        "    def h():\n"
        "        import typing\n"
    )
    assert imports_inside_functions(source) == [(2, False), (5, True), (6, True)]


def test_imports_inside_functions_say_why() -> None:
    unexplained = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "nurture").rglob("*.py"))
        for line, explained in imports_inside_functions(path.read_text(encoding="utf-8"))
        if not explained
    ]
    assert unexplained == [], "imports inside functions need a one-line '# why' comment above them"
