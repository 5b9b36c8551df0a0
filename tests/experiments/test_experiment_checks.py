"""`nurture check` on experiments: each mistake reported at its line, with the nearest name."""

from __future__ import annotations

from nurture.definitions import check_workspace, load_program
from nurture.definitions.steps import SendEmail, Variant
from nurture.definitions.versions import canonical_body
from tests.definitions.conftest import WorkspaceFactory, make_workspace  # noqa: F401

WELCOME = """\
kind: Campaign
key: trial
entry: {on: manual}
steps:
  - id: welcome
    send:
      template: hello
      subject: "Willkommen, {{ lead.first_name }}!"
      variants:
        - {id: a}
        - {id: b, subject: "{{ lead.first_name }}, Ihr Testzugang ist bereit"}
      decide_on: {metric: clicked, within: 3d}     # or sal / sql within a duration
"""


def errors(make: WorkspaceFactory, text: str) -> list[str]:
    report = check_workspace(make({"campaigns/trial.yaml": text}))
    return [str(p) for p in report.problems if p.severity == "error"]


def test_the_example_is_supported_as_written(make_workspace: WorkspaceFactory) -> None:  # noqa: F811
    program = load_program(make_workspace({"campaigns/trial.yaml": WELCOME}))
    send = program.campaign("trial").step("welcome").send  # type: ignore[union-attr]
    assert send.variant_ids == ["a", "b"]
    assert send.variant("b").subject == "{{ lead.first_name }}, Ihr Testzugang ist bereit"
    assert send.variant("a").subject == "Willkommen, {{ lead.first_name }}!"
    assert send.judged_on.metric == "clicked" and send.judged_on.within.days == 3


def test_a_variant_id_twice(make_workspace: WorkspaceFactory) -> None:  # noqa: F811
    text = WELCOME.replace("{id: b,", "{id: a,")
    assert errors(make_workspace, text) == [
        "campaigns/trial.yaml:11:16: variant id 'a' is already used by the variant at line 10"
    ]


def test_weights_must_be_positive(make_workspace: WorkspaceFactory) -> None:  # noqa: F811
    for weight in ("0", "-1", "x"):
        found = errors(make_workspace, WELCOME.replace("{id: a}", f"{{id: a, weight: {weight}}}"))
        assert len(found) == 1 and found[0].startswith("campaigns/trial.yaml:10:")
        assert "weight must be a number above 0" in found[0]


def test_an_unknown_metric_suggests_the_nearest(make_workspace: WorkspaceFactory) -> None:  # noqa: F811
    found = errors(make_workspace, WELCOME.replace("metric: clicked", "metric: clikced"))
    assert len(found) == 1 and found[0].startswith("campaigns/trial.yaml:12:")
    assert "unknown metric 'clikced'; did you mean 'clicked'?" in found[0]


def test_a_winner_that_is_not_a_variant(make_workspace: WorkspaceFactory) -> None:  # noqa: F811
    found = errors(make_workspace, WELCOME + "      winner: bb\n")
    assert found == [
        "campaigns/trial.yaml:13:15: winner 'bb' is not one of the variants (a, b); did you mean 'b'?"
    ]


def test_an_unknown_override_field_suggests_the_nearest(make_workspace: WorkspaceFactory) -> None:  # noqa: F811
    found = errors(make_workspace, WELCOME.replace("{id: b, subject:", "{id: b, subjcet:"))
    assert len(found) == 1 and found[0].startswith("campaigns/trial.yaml:11:")
    assert "unknown key 'subjcet'; did you mean 'subject'?" in found[0]


def test_a_variant_template_must_exist(make_workspace: WorkspaceFactory) -> None:  # noqa: F811
    found = errors(make_workspace, WELCOME.replace("{id: a}", "{id: a, template: helo}"))
    assert len(found) == 1 and found[0].startswith("campaigns/trial.yaml:10:") and "helo" in found[0]


def test_a_variant_overrides_every_send_field() -> None:
    # A field added to the send step (say a preheader) must be one a variant can set too.
    # What kind of mail the step is (marketing or transactional) is the step's, not a variant's.
    own = {"variants", "decide_on", "winner", "kind"}
    assert set(SendEmail.model_fields) - own <= set(Variant.model_fields)


HOLDOUT = """\
kind: Campaign
key: trial
entry: {on: manual}
holdout: 10%
steps:
  - id: welcome
    send: {template: hello, subject: "Hallo"}
"""


def test_a_holdout_is_a_percentage(make_workspace: WorkspaceFactory) -> None:  # noqa: F811
    assert errors(make_workspace, HOLDOUT) == []
    found = errors(make_workspace, HOLDOUT.replace("10%", "10"))
    assert len(found) == 1 and found[0].startswith("campaigns/trial.yaml:4:") and "e.g. 10%" in found[0]


def test_no_holdout_or_variants_on_mail_people_asked_for(make_workspace: WorkspaceFactory) -> None:  # noqa: F811
    held = HOLDOUT.replace("holdout: 10%", "holdout: 10%\nmail: transactional")
    assert held != HOLDOUT
    found = errors(make_workspace, held)
    assert any("a holdout cannot be used on transactional mail" in e for e in found), found
    tested = WELCOME.replace("      template: hello\n", "      template: hello\n      kind: transactional\n")
    assert tested != WELCOME
    found = errors(make_workspace, tested)
    assert any("with variants: testing versions of an email is marketing" in e for e in found), found


def test_a_campaign_without_experiments_keeps_its_version(make_workspace: WorkspaceFactory) -> None:  # noqa: F811
    # Written before experiments existed: its canonical body (so its version) has no experiment keys.
    program = load_program(make_workspace())
    body = canonical_body(program.campaign("recycle"))
    assert "holdout" not in body
    assert set(body["steps"][0]["send"]) == {"template", "subject", "from", "reply_to", "layout"}
    with_test = load_program(
        make_workspace({"campaigns/trial.yaml": WELCOME.replace("steps:", "holdout: 5%\nsteps:")})
    )
    body = canonical_body(with_test.campaign("trial"))
    assert body["holdout"]["share"] == "5%" and [v["id"] for v in body["steps"][0]["send"]["variants"]] == [
        "a",
        "b",
    ]


def test_decide_on_and_winner_need_variants(make_workspace: WorkspaceFactory) -> None:  # noqa: F811
    text = WELCOME.replace(
        '''      variants:
        - {id: a}
        - {id: b, subject: "{{ lead.first_name }}, Ihr Testzugang ist bereit"}
''',
        "      winner: a\n",
    )
    assert errors(make_workspace, text) == [
        "campaigns/trial.yaml:9:15: winner needs variants on this send step",
        "campaigns/trial.yaml:10:18: decide_on needs variants on this send step",
    ]
