"""Subscription topics are definitions; every campaign's topic must be one of them."""

from __future__ import annotations

from nurture.definitions import check_workspace, load_program
from nurture.definitions.problems import Problem
from nurture.definitions.topic import in_language

from .conftest import WorkspaceFactory

NEWSLETTER = (
    "kind: Topic\nkey: newsletter\n"
    "name: {de: Newsletter, en: Newsletter}\n"
    "description: {de: Einmal im Monat das Neueste., en: The latest news once a month.}\n"
)


def errors(problems: tuple[Problem, ...]) -> list[str]:
    return [str(p) for p in problems if p.severity == "error"]


def campaign(topic_line: str) -> str:
    return f"kind: Campaign\nkey: news\nentry: {{on: manual}}\n{topic_line}steps:\n  - wait: 1d\n"


def test_a_campaign_names_a_defined_topic_and_leads_see_its_name_in_their_language(
    make_workspace: WorkspaceFactory,
) -> None:
    files = {"campaigns/topics.yaml": NEWSLETTER, "campaigns/news.yaml": campaign("topic: newsletter\n")}
    program = load_program(make_workspace(files))
    topic = program.topics["newsletter"]
    assert program.campaign("news").topic == "newsletter"
    assert (topic.name_in("de-AT"), topic.description_in("en")) == (
        "Newsletter",
        "The latest news once a month.",
    )
    # Every program has the marketing topic, the topic of campaigns that name none.
    assert program.topics["marketing"].name_in("de") == "Marketing emails"  # pages word it per language
    assert program.campaign("recycle").topic == "marketing"


def test_an_unknown_topic_is_an_error_at_its_place_with_the_nearest_name(
    make_workspace: WorkspaceFactory,
) -> None:
    files = {"campaigns/topics.yaml": NEWSLETTER, "campaigns/news.yaml": campaign("topic: newsleter\n")}
    report = check_workspace(make_workspace(files))
    assert errors(report.problems) == [
        "campaigns/news.yaml:4:8: no topic 'newsleter' (kind: Topic); did you mean 'newsletter'?"
    ]


def test_a_topic_needs_a_name_and_its_key_once(make_workspace: WorkspaceFactory) -> None:
    files = {
        "campaigns/topics.yaml": NEWSLETTER
        + "---\n"
        + NEWSLETTER
        + "---\nkind: Topic\nkey: events\nname: {de: ''}\n",
    }
    report = check_workspace(make_workspace(files))
    found = errors(report.problems)
    assert (
        "campaigns/topics.yaml:7:6: Topic key 'newsletter' is already used at campaigns/topics.yaml:2:6"
        in found
    )
    assert any(p.startswith("campaigns/topics.yaml:13:7:") and "the de text is empty" in p for p in found)


def test_a_text_in_the_readers_language_falls_back_to_english() -> None:
    texts = {"de": "Neuigkeiten", "en": "News"}
    assert [in_language(texts, lang) for lang in ("de", "de-CH", "fr", "EN")] == [
        "Neuigkeiten",
        "Neuigkeiten",
        "News",
        "News",
    ]
    assert in_language({"": "Webinare"}, "de") == "Webinare"
