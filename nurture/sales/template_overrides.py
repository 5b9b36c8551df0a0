"""``nurture check`` for a workspace's own sales emails (``templates/sales/*``).

A file there replaces nurture's template of the same name for the notifications reps get. At send
time a broken override falls back to nurture's own template (a rep must hear of a lead even then),
so ``check`` is where the marketer learns of it: syntax errors with their line, includes that
cannot be found, and files whose name no sales email uses.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, TemplateError, TemplateNotFound
from jinja2.meta import find_referenced_templates

from nurture.definitions.problems import Problem, did_you_mean
from nurture.definitions.template_checks import compile_template
from nurture.errors import Location
from nurture.sales.context import DEFAULT_TEMPLATES
from nurture.templating import template_environment


def sales_override_problems(templates_dir: Path, root: Path) -> list[Problem]:
    """Every problem of the workspace's ``templates/sales/`` files (none when there are none)."""
    folder = templates_dir / "sales"
    if not folder.is_dir():
        return []
    known = sorted(p.name for p in (DEFAULT_TEMPLATES / "sales").iterdir() if p.is_file())
    environment = template_environment(templates_dir, DEFAULT_TEMPLATES)
    problems: list[Problem] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        shown = _display(path, root)
        if path.name not in known:
            problems.append(
                Problem(
                    "warning",
                    Location(shown),
                    f"no sales email uses {path.name!r}"
                    + (did_you_mean(path.name, known) or f" (the sales templates: {', '.join(known)})"),
                )
            )
            continue
        problems.extend(_compile(environment, path, shown))
    return problems


def _compile(environment: Environment, path: Path, shown: str) -> list[Problem]:
    compiled = compile_template(environment, path, f"sales/{path.name}", shown)
    if isinstance(compiled, Problem):
        return [compiled]
    _, tree = compiled
    problems = []
    for referenced in find_referenced_templates(tree):
        if referenced is None:
            continue
        try:
            environment.get_template(referenced)
        except TemplateNotFound:
            problems.append(Problem("error", Location(shown), f"template {referenced!r} not found"))
        except TemplateError as exc:
            problems.append(Problem("error", Location(shown), f"{referenced}: {exc.message}"))
    return problems


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
