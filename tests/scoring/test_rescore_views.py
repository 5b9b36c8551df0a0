"""The rescore reads each lead as the model's conditions see it: the light view with the fields
they read, or the whole lead when they read one the view converts, with the same outcome."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from nurture.definitions import compile_condition, load_program
from nurture.scoring import rescore as fast
from nurture.scoring.state import fields_for
from nurture.scoring.synthetic import SYNTHETIC_MODEL_YAML
from nurture.workspace import Workspace
from tests.scoring import straightforward_rescore as plain
from tests.scoring.test_rescore_replay import EDITS, SLA, load, outcome


def test_the_fields_read_besides_the_light_view_are_named_or_the_whole_lead_is_asked_for() -> None:
    def fields(*sources: str) -> tuple[str, ...] | None:
        return fields_for([compile_condition(source) for source in sources])

    assert fields("lead.score >= 40", "lead.country == 'DE'") == ()
    assert fields("lead.score >= 40", "lead.job_title is matching('(?i)head')", "lead.company_size > 50") == (
        "company_size", "job_title",
    )  # fmt: skip
    assert fields("lead.unsubscribed == false") is None  # the view makes it from a moment
    assert fields("lead.attributes.tier == 'gold'") is None
    assert fields("lead.created_at < now") is None


def test_a_model_reading_a_converted_field_rescores_on_the_whole_lead_as_the_plain_replay_does(
    store: Engine, workspace: Path
) -> None:
    ids, now = load(store)
    model = SYNTHETIC_MODEL_YAML
    for old, new in EDITS:
        model = model.replace(old, new)
    model = model.replace(
        "fit:\n",
        'fit:\n  - {when: "not lead.unsubscribed and lead.first_name", points: 4, reason: Reachable}\n',
    )
    (workspace / "campaigns" / "program.yaml").write_text(model + SLA, encoding="utf-8")
    program = load_program(Workspace(workspace))
    for batch in (ids[:150], ids[3::40]):
        expected = outcome(store, plain.rescore_batch, program, batch, now)
        assert outcome(store, fast._rescore_batch, program, batch, now) == expected
    assert any(rule.startswith("fit: not lead.unsubscribed") for _, _, _, rule, *_ in expected["written"])
