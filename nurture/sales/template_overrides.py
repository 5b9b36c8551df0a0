"""``nurture check`` for a workspace's versions of nurture's own templates.

A file under ``templates/sales/`` (emails to reps) or ``templates/pages/`` (the pages nurture
serves: unsubscribe, sales accept/reject, invalid links) replaces nurture's template of the same
name. At run time a broken one falls back to nurture's own template (a rep must hear of a lead,
a lead must be able to unsubscribe), so ``check`` is where the marketer learns of it: syntax
errors with their line, includes that cannot be found, and files whose name nurture never uses.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, TemplateError, TemplateNotFound
from jinja2.meta import find_referenced_templates

from nurture.definitions.problems import Problem, did_you_mean
from nurture.definitions.template_checks import compile_template
from nurture.errors import Location
from nurture.i18n import DEFAULT_TEMPLATES, own_environment

OWN_FOLDERS = {"sales": "sales email", "pages": "page"}
"""The folders of nurture's own templates a workspace may override, and what each holds."""


def own_template_problems(templates_dir: Path, root: Path) -> list[Problem]:
    """Every problem of the workspace's ``templates/sales/`` and ``templates/pages/`` files."""
    environment = own_environment(templates_dir, DEFAULT_TEMPLATES)
    problems: list[Problem] = []
    for folder_name, what in OWN_FOLDERS.items():
        folder = templates_dir / folder_name
        if not folder.is_dir():
            continue
        known = sorted(p.name for p in (DEFAULT_TEMPLATES / folder_name).iterdir() if p.is_file())
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            shown = _display(path, root)
            if path.name not in known:
                listed = f" (the {what} templates: {', '.join(known)})"
                problems.append(
                    Problem(
                        "warning",
                        Location(shown),
                        f"no {what} uses {path.name!r}" + (did_you_mean(path.name, known) or listed),
                    )
                )
                continue
            problems.extend(_compile(environment, path, f"{folder_name}/{path.name}", shown))
    return problems


def _compile(environment: Environment, path: Path, name: str, shown: str) -> list[Problem]:
    compiled = compile_template(environment, path, name, shown)
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
