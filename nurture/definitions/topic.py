"""The Topic kind: a subscription topic, what a lead may leave on its own (a newsletter, event
invitations) without leaving every email.

Each marketing campaign belongs to one topic (its ``topic:``, else ``marketing``). The unsubscribe
page lists the topics by the name written here, in the reader's language, so a lead can leave one
of them or all. ``marketing`` exists in every program; a ``Topic`` with that key only names it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from nurture.definitions.fields import DefinitionModel, Key, invalid

# The topic of a campaign that names none: consent and topic suppressions are kept per topic, and
# most programs need only this one.
DEFAULT_TOPIC = "marketing"

_LANGUAGE_TAG = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


def _localized(value: Any) -> dict[str, str]:
    """A text, or a text per language (``{de: ..., en: ...}``); kept as a mapping either way."""
    if isinstance(value, str):
        if not value.strip():
            raise invalid("text", "the text is empty")
        return {"": value}
    if isinstance(value, Mapping) and value:
        texts: dict[str, str] = {}
        for language, text in value.items():
            if not isinstance(language, str) or not _valid_language(language):
                raise invalid("text", f"{language!r} is not a language such as de or en")
            if not isinstance(text, str) or not text.strip():
                raise invalid("text", f"the {language} text is empty")
            texts[language.lower()] = text
        return texts
    raise invalid("text", "write a text, or a text per language: {de: Newsletter, en: Newsletter}")


def _valid_language(tag: str) -> bool:
    return re.fullmatch(_LANGUAGE_TAG, tag) is not None


Localized = Annotated[
    dict[str, str],
    BeforeValidator(_localized),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}},
            ],
            "description": "A text, or a text per language: {de: Newsletter, en: Newsletter}.",
        }
    ),
]


def in_language(texts: Mapping[str, str], language: str) -> str:
    """The text for ``language`` (``de-AT`` falls back to ``de``), else English, else the first."""
    wanted = language.lower()
    for candidate in (wanted, wanted.split("-")[0], "", "en"):
        if candidate in texts:
            return texts[candidate]
    return next(iter(texts.values()))


class Topic(DefinitionModel):
    """A subscription topic a lead can leave on its own."""

    kind: Literal["Topic"] = Field(description="Topic")
    key: Key = Field(description="The topic's key, named by a campaign's `topic:`.")
    name: Localized = Field(description="What leads see on the unsubscribe page, per language.")
    description: Localized | None = Field(
        default=None, description="One sentence under the name on the unsubscribe page, per language."
    )

    def name_in(self, language: str) -> str:
        return in_language(self.name, language)

    def description_in(self, language: str) -> str | None:
        return in_language(self.description, language) if self.description else None


# ``marketing`` when no Topic names it. Pages show it in the reader's language from nurture's own
# catalogue (``pages/unsubscribe.html``); these English texts are what everything else shows.
BUILT_IN_TOPIC = Topic.model_validate(
    {
        "kind": "Topic",
        "key": DEFAULT_TOPIC,
        "name": "Marketing emails",
        "description": "Offers, news and tips about our products.",
    }
)
