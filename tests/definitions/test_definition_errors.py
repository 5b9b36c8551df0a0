"""Mistakes in one document are reported where they were written, with the nearest valid name."""

from __future__ import annotations

import textwrap

import pytest

from nurture.definitions import Campaign
from nurture.definitions.source import parse_documents
from nurture.definitions.validation import validate_document


def problems_of(text: str) -> list[str]:
    found: list[str] = []
    for document in parse_documents(textwrap.dedent(text), "c.yaml"):
        _, problems = validate_document(document)
        found.extend(str(p) for p in problems)
    return found


def campaign_with(steps: str, **extra: str) -> str:
    head = "kind: Campaign\nkey: t\nentry: {on: manual}\n" + "".join(f"{k}: {v}\n" for k, v in extra.items())
    return head + "steps:\n" + textwrap.indent(textwrap.dedent(steps), "  ")


def test_a_misspelt_step_kind_suggests_the_right_one() -> None:
    assert problems_of(campaign_with("- id: a\n  sned: {template: x, subject: y}\n")) == [
        "c.yaml:6:5: unknown step kind 'sned'; did you mean 'send'?"
    ]


def test_a_misspelt_key_suggests_the_nearest_valid_key() -> None:
    assert problems_of(campaign_with("- send: {tempalte: x, subject: y}\n")) == [
        "c.yaml:5:12: unknown key 'tempalte'; did you mean 'template'?"
    ]


def test_a_misspelt_top_level_key_is_located_at_the_key() -> None:
    assert problems_of("kind: Campaign\nkey: t\nentry: {on: manual}\nstep:\n  - wait: 2d\n") == [
        "c.yaml:4:1: unknown key 'step'; did you mean 'steps'?"
    ]


def test_a_step_doing_two_things_is_told_to_split() -> None:
    [problem] = problems_of(campaign_with("- wait: 2d\n  goto: a\n"))
    assert problem == (
        "c.yaml:6:5: a step does exactly one thing, but this one has 'wait' and 'goto': "
        "make them separate steps"
    )


def test_a_missing_key_names_the_mapping_it_is_missing_from() -> None:
    assert problems_of(campaign_with("- id: hi\n  send: {template: x}\n")) == [
        "c.yaml:6:11: missing required key 'subject' in step 'hi' send"
    ]


def test_an_unknown_kind_suggests_the_nearest_kind() -> None:
    [problem] = problems_of("kind: SalesTeem\nkey: x\n")
    assert problem.startswith("c.yaml:1:7: unknown kind 'SalesTeem'; did you mean 'SalesTeam'?")


def test_a_document_without_kind_says_which_kinds_exist() -> None:
    [problem] = problems_of("key: x\n")
    assert "missing `kind:`" in problem and "'Campaign'" in problem


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    [problem] = problems_of("- just\n- a list\n")
    assert problem.startswith("c.yaml:1:1: a definition is a mapping")


def test_a_wrong_choice_suggests_the_nearest_option() -> None:
    text = "kind: SalesTeam\nkey: x\nrouting: roundrobin\nmanager: {name: M, email: m@example.com}\n"
    text += "reps: [{id: a, name: A, email: a@example.com, working_hours: {timezone: Europe/Berlin}}]\n"
    assert problems_of(text) == [
        "c.yaml:3:10: routing: 'roundrobin' is not one of 'round_robin', 'least_loaded' or 'weighted'; "
        "did you mean 'round_robin'?"
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2x", "'2x' is not a duration"),
        ("0h", "a duration must be longer than zero"),
        ("{until: \"opened('a')\"}", "missing required key 'timeout'"),
        ("{until: 'lead.x', timeout: 2d}", "unknown lead field 'x'"),
    ],
)
def test_bad_waits_are_explained(value: str, message: str) -> None:
    [problem] = problems_of(campaign_with(f"- wait: {value}\n"))
    assert problem.startswith("c.yaml:5:") and message in problem


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ('{days: mon-fr, hours: "09:00-17:00"}', "'fr' in days 'mon-fr' is not a day"),
        ('{days: mon-fri, hours: "9-17"}', "hours '9-17' is not a time span"),
        ('{days: mon-fri, hours: "09:00-17:00", timezone: Europe/Berln}', "unknown time zone 'Europe/Berln'"),
    ],
)
def test_send_windows_are_validated(window: str, message: str) -> None:
    [problem] = problems_of(campaign_with("- wait: 1d\n", send_window=window))
    assert problem.startswith("c.yaml:4:") and message in problem


def test_entry_on_event_needs_a_type() -> None:
    [problem] = problems_of("kind: Campaign\nkey: t\nentry: {on: event}\nsteps: [{wait: 1d}]\n")
    assert (
        problem
        == "c.yaml:3:8: entry: on: event needs the event `type` it reacts to, e.g. type: webinar_registered"
    )


def test_a_segment_entry_needs_a_where() -> None:
    [problem] = problems_of("kind: Campaign\nkey: t\nentry: {on: segment}\nsteps: [{wait: 1d}]\n")
    assert "needs a `where`" in problem


def test_re_entry_is_never_or_a_duration() -> None:
    [problem] = problems_of(campaign_with("- wait: 1d\n", re_entry="sometimes"))
    assert "re_entry must be 'never' or a duration" in problem


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("{score: 5}", "cannot set lead field 'score' (it is computed)"),
        ("{lifecycle_stage: mqll}", "'mqll' is not a lifecycle stage"),
        ("{job_tite: CEO}", "did you mean 'job_title'?"),
        ("{country: XX}", "'XX' is not a country code"),
    ],
)
def test_set_steps_only_set_settable_fields_to_valid_values(fields: str, message: str) -> None:
    [problem] = problems_of(campaign_with(f"- set: {fields}\n"))
    assert message in problem


def test_set_steps_accept_custom_attributes_and_stages() -> None:
    text = campaign_with("- set: {lifecycle_stage: recycled, attributes.nurtured: 'yes', company_size: 50}\n")
    [document] = parse_documents(text, "c.yaml")
    campaign, problems = validate_document(document)
    assert problems == [] and isinstance(campaign, Campaign)
    assert campaign.steps[0].set == {
        "lifecycle_stage": "recycled",
        "attributes.nurtured": "yes",
        "company_size": 50,
    }  # type: ignore[union-attr]


def test_exit_takes_no_reason_a_text_or_a_mapping() -> None:
    text = campaign_with("- exit:\n- exit: done\n- exit: {reason: finished}\n")
    [document] = parse_documents(text, "c.yaml")
    campaign, problems = validate_document(document)
    assert problems == [] and isinstance(campaign, Campaign)
    assert [step.reason for step in campaign.steps] == ["exit step", "done", "finished"]  # type: ignore[union-attr]


def test_template_names_are_written_without_extension() -> None:
    [problem] = problems_of(campaign_with("- send: {template: trial/welcome.html, subject: x}\n"))
    assert "write the template name without its extension: 'trial/welcome'" in problem


def test_rep_fields_are_validated_where_written() -> None:
    text = """\
        kind: SalesTeam
        key: x
        manager: {name: M, email: not-an-address}
        reps:
          - {id: a, name: A, email: a@example.com, territories: [XX],
             working_hours: {timezone: Mars/Olympus}}
        """
    found = problems_of(text)
    assert found == [
        "c.yaml:3:27: manager.email: 'not-an-address' is not an e-mail address (expected name@domain)",
        "c.yaml:5:58: reps[0].territories[0]: 'XX' is not an ISO 3166 alpha-2 country code (e.g. DE, AT, CH)",
        "c.yaml:6:32: reps[0].working_hours.timezone: unknown time zone 'Mars/Olympus' "
        "(use an IANA name such as Europe/Berlin)",
    ]


def test_a_team_needs_a_manager() -> None:
    text = "kind: SalesTeam\nkey: x\n"
    text += "reps: [{id: a, name: A, email: a@example.com, working_hours: {timezone: UTC}}]\n"
    assert problems_of(text) == ["c.yaml:1:1: missing required key 'manager'"]
