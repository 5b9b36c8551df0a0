"""Audit nurture's installed runtime dependencies for known vulnerabilities with pip-audit.

The audit covers exactly what a production install runs: the package's own requirements (not the
dev extra) and theirs, with the extras they ask for, pinned at the versions installed in this venv.
pip-audit asks PyPI's vulnerability data about each one.

Outcomes, each said plainly on stderr:
- a known vulnerability: every finding listed, exit 1;
- the service cannot be reached: exit 1 (an audit that did not happen is not a pass);
- packages the service does not know (installed from a private index or a mirror with versions
  PyPI never had): listed as not audited, exit 0, or exit 1 with ``NURTURE_AUDIT_STRICT=1``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def runtime_closure(root: str) -> dict[str, str]:
    """``{name: installed version}`` of every package ``root`` needs at run time."""
    pinned: dict[str, str] = {}
    pending: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue  # a marker-guarded dependency for another platform
        key = canonicalize_name(dist.metadata["Name"])
        if key != canonicalize_name(root):
            pinned[key] = dist.version
        for line in dist.requires or []:
            requirement = Requirement(line)
            environments = [{"extra": extra} for extra in sorted(extras)] or [{"extra": ""}]
            if requirement.marker is not None and not any(
                requirement.marker.evaluate(env) for env in environments
            ):
                continue
            pending.append((requirement.name, frozenset(requirement.extras)))
    return pinned


def main() -> int:
    pinned = runtime_closure("nurture")
    with tempfile.TemporaryDirectory() as folder:
        requirements = Path(folder) / "runtime.txt"
        requirements.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pinned.items())))
        report = Path(folder) / "audit.json"
        done = subprocess.run(  # noqa: S603 - our own venv's pip-audit
            [
                str(Path(sys.executable).with_name("pip-audit")),
                "--requirement", str(requirements), "--no-deps", "--disable-pip",
                "--progress-spinner", "off", "--format", "json", "--output", str(report),
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        findings = json.loads(report.read_text()) if report.exists() and report.stat().st_size else None
    if findings is None:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        print(
            f"dependency audit FAILED: pip-audit could not query the vulnerability service "
            f"(exit {done.returncode}): {last}",
            file=sys.stderr,
        )
        return 1
    vulnerable = [d for d in findings["dependencies"] if d.get("vulns")]
    unknown = [d for d in findings["dependencies"] if d.get("skip_reason")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            found = f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixed})"
            print(f"VULNERABLE {found}", file=sys.stderr)
    if unknown:
        print(
            f"dependency audit: {len(unknown)} of {len(pinned)} runtime packages are unknown to the "
            "vulnerability service and were NOT audited (installed from a mirror or private index?):",
            file=sys.stderr,
        )
        for dep in unknown:
            print(f"  not audited: {dep['skip_reason']}", file=sys.stderr)
    audited = len(pinned) - len(unknown)
    print(f"dependency audit: {audited} runtime packages audited, {len(vulnerable)} vulnerable")
    if vulnerable:
        return 1
    if unknown and os.environ.get("NURTURE_AUDIT_STRICT") == "1":
        print("dependency audit FAILED: packages not audited (NURTURE_AUDIT_STRICT=1)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
