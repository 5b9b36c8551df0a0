"""Where a transactional email is promotional, as far as the definitions show.

Transactional mail passes unsubscribes, the frequency cap and missing marketing consent, so it
must be what the lead asked for. ``nurture check`` refuses it where the program itself says it is
not (a campaign entered by segment, a holdout, variants): each rule is one clause of
:func:`promotional_uses`, the one place such rules live.
"""

from __future__ import annotations

from collections.abc import Iterator

from nurture.definitions.campaign import Campaign
from nurture.definitions.problems import Problem
from nurture.definitions.program import Loaded
from nurture.definitions.steps import SendStep


def transactional_places(campaign: Campaign) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Where each transactional send of the campaign is declared (the step's ``kind``, else the
    campaign's ``mail``), with its step id."""
    for index, step in enumerate(campaign.steps):
        if isinstance(step, SendStep) and campaign.mail_kind(step) == "transactional":
            path: tuple[str | int, ...] = (
                ("steps", index, "send", "kind") if step.send.kind is not None else ("mail",)
            )
            yield path, step.step_id


def promotional_uses(item: Loaded, campaign: Campaign) -> Iterator[Problem]:
    """An error for each transactional email the program shows to be promotional."""
    places = list(transactional_places(campaign))
    if not places:
        return
    if campaign.entry.on == "segment":
        # Mail to a selection of leads is sent because we chose them, not because they asked.
        for path in dict.fromkeys(path for path, _ in places):
            steps = ", ".join(repr(step_id) for p, step_id in places if p == path)
            yield Problem(
                "error",
                item.locate(*path),
                f"transactional mail ({steps}) in a campaign entered by segment: mail to a selection "
                "of leads is marketing; make it marketing, or enter the campaign on the lead's own event",
            )
    if campaign.holdout is not None:
        # Every recipient asked for it: holding some of them out to measure it withholds it.
        yield Problem(
            "error",
            item.locate("holdout"),
            "a holdout cannot be used on transactional mail: every recipient asked for it and must get it",
        )
    for index, step in enumerate(campaign.steps):
        if (
            isinstance(step, SendStep)
            and step.send.variants
            and campaign.mail_kind(step) == "transactional"
        ):
            # Testing which version sells better is what advertising does.
            yield Problem(
                "error",
                item.locate("steps", index, "send", "variants"),
                f"transactional mail ({step.step_id!r}) with variants: testing versions of an email is "
                "marketing; make it marketing, or send one version",
            )
