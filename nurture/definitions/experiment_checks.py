"""Checks of a campaign's experiments that one field alone cannot make: variant ids used once, a
winner that is one of the variants, variant templates that exist, a fair outcome, and no holdout
on mail a person asked for."""

from __future__ import annotations

from collections.abc import Iterator

from nurture.definitions.campaign import Campaign
from nurture.definitions.problems import Problem, did_you_mean
from nurture.definitions.program import Loaded
from nurture.definitions.steps import SendStep
from nurture.definitions.template_checks import TemplateChecker

# Mail a person asked for and must get: leaving some of them out to measure a lift would break a
# promise. Written as the words the definitions use for it, wherever a campaign or step says so.


def variant_problems(
    item: Loaded, index: int, step: SendStep, templates: TemplateChecker
) -> Iterator[Problem]:
    send = step.send
    at = ("steps", index, "send")
    if not send.variants:
        for key in ("decide_on", "winner"):
            if getattr(send, key) is not None:
                yield Problem("error", item.locate(*at, key), f"{key} needs variants on this send step")
        return
    first: dict[str, int] = {}
    for number, variant in enumerate(send.variants):
        where = (*at, "variants", number)
        if variant.id in first:
            earlier = item.locate(*at, "variants", first[variant.id])
            yield Problem(
                "error",
                item.locate(*where, "id"),
                f"variant id {variant.id!r} is already used by the variant at line {earlier.line}",
            )
        first.setdefault(variant.id, number)
        if variant.template is not None:
            yield from templates.check_email(variant.template, item.locate(*where, "template"))
        if variant.subject is not None:
            yield from templates.check_text(variant.subject, item.locate(*where, "subject"), "subject")
        if variant.layout is not None and not templates.exists(f"layouts/{variant.layout}.html"):
            yield Problem(
                "error",
                item.locate(*where, "layout"),
                f"layout {variant.layout!r} not found (templates/layouts/{variant.layout}.html)",
            )
    if len(first) < 2:
        yield Problem(
            "warning", item.locate(*at, "variants"), "a test needs at least two variants to compare"
        )
    if send.winner is not None and send.winner not in first:
        yield Problem(
            "error",
            item.locate(*at, "winner"),
            f"winner {send.winner!r} is not one of the variants ({', '.join(first)})"
            f"{did_you_mean(send.winner, first)}",
        )
    if send.decide_on is not None and send.decide_on.metric == "mql":
        yield Problem(
            "warning",
            item.locate(*at, "decide_on", "metric"),
            "MQL is not a fair outcome for variants: opens and clicks earn score points, so the variant "
            "that is opened more reaches MQL sooner without bringing better leads; judge on sal or later",
        )


def holdout_problems(item: Loaded, campaign: Campaign) -> Iterator[Problem]:
    if campaign.holdout is None:
        return
    if campaign.holdout.share > 0.5:
        yield Problem(
            "warning",
            item.locate("holdout"),
            f"holdout {campaign.holdout.share:.0%}: more leads are held out than mailed; 5-20% is usual",
        )
    if campaign.holdout.metric == "mql":
        yield Problem(
            "warning",
            item.locate("holdout", "metric"),
            "MQL is not a fair outcome for a holdout: opens and clicks of this campaign's emails earn score "
            "points, so mailed leads reach MQL sooner whether or not they are better leads; judge on sal or "
            "later",
        )
