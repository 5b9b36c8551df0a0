"""What the scoring and report benchmarks share: the program around the synthetic scoring model,
and a process's peak memory."""

from __future__ import annotations

import resource
from pathlib import Path

from nurture.scoring.synthetic import SYNTHETIC_MODEL_YAML

# One rep who takes every MQL (capacity beyond any run's size), so routing never defers a lead.
SLA_YAML = """\
---
kind: SLA
name: marketing-sales
mql: {when: "lead.score >= 40"}
route_to: dach
accept_within: 4h
---
kind: SalesTeam
key: dach
manager: {name: Petra Vogel, email: petra.vogel@example.com}
reps:
  - {id: anna, name: Anna, email: anna@sales.example, territories: [DE, AT, CH], capacity: 100000,
     working_hours: {timezone: Europe/Berlin, days: mon-fri, hours: "08:00-18:00"}}
"""
PROGRAM_YAML = SYNTHETIC_MODEL_YAML + SLA_YAML


def peak_mb() -> float:
    """This process's peak resident memory. VmHWM starts afresh with the program, while
    ru_maxrss carries over the parent's peak across fork and exec."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
