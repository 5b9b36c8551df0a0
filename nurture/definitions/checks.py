"""Checks across definitions: what pydantic cannot see from one document alone.

Step targets exist and ids are unique, every step can be reached, loops wait, templates exist and
compile, the SLA names a real team and recycle campaign, and there is exactly one SLA.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import partial

from nurture.definitions.campaign import Campaign
from nurture.definitions.conditions import Condition
from nurture.definitions.event_types import event_type_problems
from nurture.definitions.experiment_checks import holdout_problems, variant_problems
from nurture.definitions.flow import loops_without_wait, unreachable_runs
from nurture.definitions.form import Form
from nurture.definitions.localized import has_fallback, locale_steps
from nurture.definitions.predictive_check import predictive_problems
from nurture.definitions.problems import Problem, did_you_mean
from nurture.definitions.program import Loaded, Program
from nurture.definitions.sales_team import SalesTeam
from nurture.definitions.scoring import ScoringModel
from nurture.definitions.sla import SLA
from nurture.definitions.source import Document
from nurture.definitions.steps import BranchStep, GotoStep, SendStep, WaitStep, is_template_name
from nurture.definitions.template_checks import (
    TemplateChecker,
    locale_version_problems,
    localized_text_problems,
)
from nurture.definitions.transactional import promotional_uses
from nurture.errors import Location
from nurture.settings import origin_of


def cross_check(
    program: Program, recorded_event_types: Iterable[str] = (), *, default_locale: str = "en"
) -> list[Problem]:
    """Every problem that needs more than one document (or the templates) to see; event types
    recorded in the database count as known; ``default_locale`` is the workspace's ``locale``."""
    templates = TemplateChecker(program.templates_dir, program.root)
    problems = list(_program_shape(program))
    problems.extend(event_type_problems(program, recorded_event_types))
    problems.extend(predictive_problems(program))
    for document in program.unreadable:
        if document.data.get("kind") == "Campaign":
            problems.extend(_unreadable_campaign(document, templates))
    for item in program.loaded:
        definition = item.definition
        if isinstance(definition, Campaign):
            problems.extend(_campaign(item, definition, program, templates, default_locale))
        elif isinstance(definition, SLA):
            problems.extend(_sla(item, definition, program))
        elif isinstance(definition, SalesTeam):
            problems.extend(_team(item, definition))
        elif isinstance(definition, ScoringModel):
            problems.extend(_scoring(item, definition))
        elif isinstance(definition, Form):
            problems.extend(_form(item, definition))
    return problems


def _program_shape(program: Program) -> Iterator[Problem]:
    for kind in ("Campaign", "SalesTeam", "Form", "Topic"):
        first: dict[str, Loaded] = {}
        for item in program.of_kind(kind):
            key = item.definition.key
            if key in first:
                earlier = first[key].locate("key")
                yield Problem("error", item.locate("key"), f"{kind} key {key!r} is already used at {earlier}")
            else:
                first[key] = item
    slas = list(program.of_kind("SLA"))
    if not slas and not program.unreadable_keys("SLA"):
        yield Problem("error", Location("campaigns"), "the program needs one SLA (kind: SLA); none was found")
    for extra in slas[1:]:
        yield Problem(
            "error", extra.locate("kind"), f"only one SLA is allowed; the first is at {slas[0].locate()}"
        )
    models = list(program.of_kind("ScoringModel"))
    if not models and not program.unreadable_keys("ScoringModel"):
        yield Problem("note", Location("campaigns"), "no ScoringModel: leads are scored by score steps only")
    for extra in models[1:]:
        yield Problem(
            "error",
            extra.locate("kind"),
            f"only one ScoringModel is allowed; the first is at {models[0].locate()}",
        )


def _campaign(
    item: Loaded, campaign: Campaign, program: Program, templates: TemplateChecker, default_locale: str
) -> Iterator[Problem]:
    yield from _step_ids(item, campaign)
    yield from _step_flow(item, campaign)
    yield from _topic(item, campaign, program)
    yield from promotional_uses(item, campaign)
    sends = {step.step_id for step in campaign.send_steps}
    refs = sends | {step.send.template for step in campaign.send_steps} | set(templates.available())
    for condition in _campaign_conditions(campaign):
        yield from _references(condition, refs, sends)
    for index, step in enumerate(campaign.steps):
        if not isinstance(step, SendStep):
            continue
        at_template = item.locate("steps", index, "send", "template")
        yield from templates.check_email(
            step.send.template, at_template, marketing=campaign.mail_kind(step) == "marketing"
        )
        yield from locale_version_problems(templates, step.send.template, at_template)
        at_subject = partial(item.locate, "steps", index, "send", "subject")
        subject = step.send.subject
        yield from localized_text_problems(templates, subject, at_subject, "subject", default_locale)
        senders = step.send.from_
        if isinstance(senders, dict) and not has_fallback(senders, default_locale):
            wanted = " or ".join(repr(s) for s in locale_steps(default_locale))
            yield Problem(
                "error",
                item.locate("steps", index, "send", "from"),
                f"from has no sender for the workspace's locale {wanted} (the locale setting): "
                "leads in other languages would get none",
            )
        if step.send.layout is not None and not templates.exists(f"layouts/{step.send.layout}.html"):
            yield Problem(
                "error",
                item.locate("steps", index, "send", "layout"),
                f"layout {step.send.layout!r} not found (templates/layouts/{step.send.layout}.html)",
            )
        yield from variant_problems(item, index, step, templates)
    yield from holdout_problems(item, campaign)


def _topic(item: Loaded, campaign: Campaign, program: Program) -> Iterator[Problem]:
    """A campaign's topic must be one the unsubscribe page can offer (``marketing`` always is)."""
    topics = program.topics
    if campaign.topic in topics or campaign.topic in program.unreadable_keys("Topic"):
        return
    yield Problem(
        "error",
        item.locate("topic"),
        f"no topic {campaign.topic!r} (kind: Topic){did_you_mean(campaign.topic, topics)}",
    )


def _unreadable_campaign(document: Document, templates: TemplateChecker) -> Iterator[Problem]:
    """The templates of a campaign that failed validation, so their errors come in the same run."""
    steps = document.data.get("steps")
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        send = step.get("send") if isinstance(step, dict) else None
        if not isinstance(send, dict):
            continue
        template, subject = send.get("template"), send.get("subject")
        if isinstance(template, str) and is_template_name(template):
            yield from templates.check_email(template, document.locate(("steps", index, "send", "template")))
        texts = subject.values() if isinstance(subject, dict) else [subject]
        for text in texts:
            if isinstance(text, str):
                yield from templates.check_text(
                    text, document.locate(("steps", index, "send", "subject")), "subject"
                )


def _step_ids(item: Loaded, campaign: Campaign) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, step_id in enumerate(campaign.step_ids):
        if step_id in first:
            earlier = item.locate("steps", first[step_id])
            yield Problem(
                "error",
                item.locate("steps", index),
                f"step id {step_id!r} is already used by the step at line {earlier.line}",
            )
        else:
            first[step_id] = index
    ids = campaign.step_ids
    for index, step in enumerate(campaign.steps):
        targets: list[tuple[tuple[str | int, ...], str]] = []
        if isinstance(step, GotoStep):
            targets.append((("steps", index, "goto"), step.goto))
        elif isinstance(step, BranchStep):
            targets.append((("steps", index, "branch", "then"), step.branch.then))
            if step.branch.else_ is not None:
                targets.append((("steps", index, "branch", "else"), step.branch.else_))
        for path, target in targets:
            if target not in ids:
                yield Problem(
                    "error",
                    item.locate(*path),
                    f"no step with id {target!r} in this campaign{did_you_mean(target, ids)}",
                )


def _step_flow(item: Loaded, campaign: Campaign) -> Iterator[Problem]:
    for index in unreachable_runs(campaign):
        yield Problem(
            "warning",
            item.locate("steps", index),
            f"step {campaign.steps[index].step_id!r} can never be reached: it follows a goto or exit "
            "and no branch or goto leads to it",
        )
    for index in loops_without_wait(campaign):
        yield Problem(
            "error",
            item.locate("steps", index),
            f"step {campaign.steps[index].step_id!r} closes a loop with no wait in it; "
            "a lead would go round forever",
        )


def _campaign_conditions(campaign: Campaign) -> Iterator[Condition]:
    if campaign.entry.where is not None:
        yield campaign.entry.where
    yield from campaign.exit_when
    for step in campaign.steps:
        if isinstance(step, BranchStep):
            yield step.branch.if_
        elif isinstance(step, WaitStep) and step.until is not None:
            yield step.until


def _references(condition: Condition, refs: set[str], sends: set[str]) -> Iterator[Problem]:
    for helper, ref in condition.facts.references:
        if ref not in refs:
            yield Problem(
                "error",
                condition.location,
                f"{helper}({ref!r}): no send step or template {ref!r}{did_you_mean(ref, sends)}",
            )


def _routes(item: Loaded, sla: SLA, program: Program) -> Iterator[Problem]:
    """Every MQL can be routed: each named team exists, each rule can be reached, a default ends it."""
    teams = program.sales_teams
    single = isinstance(sla.route_to, str)
    rules = sla.routes
    if not rules:
        yield Problem("error", item.locate("route_to"), "route_to lists no team; MQLs would go nowhere")
        return
    for index, (when, team) in enumerate(rules):
        where = item.locate("route_to") if single else item.locate("route_to", index, "team")
        if team not in teams and team not in program.unreadable_keys("SalesTeam"):
            yield Problem("error", where, f"no sales team {team!r}{did_you_mean(team, teams)}")
        if when is None and index < len(rules) - 1:
            yield Problem(
                "error",
                item.locate("route_to", index),
                f"this rule has no `when`, so it takes every MQL and the {len(rules) - 1 - index} rule(s) "
                "after it are never used; put it last",
            )
        if when is not None and when.facts.uses_event:
            yield Problem("error", when.location, "routing is about the lead; `event` is not available there")
    if sla.default_team is None:
        yield Problem(
            "error",
            item.locate("route_to", len(rules) - 1),
            "route_to has no default: an MQL no `when` holds for would reach no team; end the list with "
            "a rule without `when`, e.g. {team: dach-sales}",
        )


def _sla(item: Loaded, sla: SLA, program: Program) -> Iterator[Problem]:
    yield from _routes(item, sla, program)
    if sla.mql.when.facts.uses_event:
        yield Problem(
            "error", sla.mql.when.location, "the MQL rule is about the lead; `event` is not available there"
        )
    if sla.recycle is not None:
        campaigns = program.campaigns
        key = sla.recycle.campaign
        if key in program.unreadable_keys("Campaign"):
            pass  # its own errors say what is wrong with it
        elif key not in campaigns:
            yield Problem(
                "error",
                item.locate("recycle", "campaign"),
                f"no campaign {key!r}{did_you_mean(key, campaigns)}",
            )
        elif campaigns[key].entry.on != "manual":
            yield Problem(
                "warning",
                item.locate("recycle", "campaign"),
                f"recycle campaign {key!r} is entered on {campaigns[key].entry.on}, "
                "so leads may also enter it without being recycled; use entry: {on: manual}",
            )


def _team(item: Loaded, team: SalesTeam) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    emails: dict[str, int] = {}
    for index, rep in enumerate(team.reps):
        if rep.id in seen:
            yield Problem(
                "error",
                item.locate("reps", index, "id"),
                f"rep id {rep.id!r} is already used in this team "
                f"(line {item.locate('reps', seen[rep.id]).line})",
            )
        seen.setdefault(rep.id, index)
        if rep.email in emails:
            yield Problem(
                "warning", item.locate("reps", index, "email"), f"{rep.email} is listed for two reps"
            )
        emails.setdefault(rep.email, index)
    if team.routing == "weighted" and not any(rep.weight for rep in team.reps):
        yield Problem(
            "error", item.locate("routing"), "weighted routing needs at least one rep with a weight above 0"
        )
    if all(rep.capacity == 0 for rep in team.reps):
        yield Problem("warning", item.locate("reps"), "every rep has capacity 0: no lead can be routed")


def _scoring(item: Loaded, model: ScoringModel) -> Iterator[Problem]:
    for fit in model.fit:
        if fit.when.facts.uses_event:
            yield Problem(
                "error", fit.when.location, "fit rules are about the lead; `event` is not available there"
            )


def _form(item: Loaded, form: Form) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    targets: dict[str, int] = {}
    for index, field in enumerate(form.fields):
        if field.name in seen:
            yield Problem(
                "error",
                item.locate("fields", index, "name"),
                f"field {field.name!r} is already in this form "
                f"(line {item.locate('fields', seen[field.name]).line})",
            )
        seen.setdefault(field.name, index)
        if field.maps_to in targets:
            yield Problem(
                "error",
                item.locate("fields", index, "maps_to"),
                f"{field.maps_to} is already filled by the field at line "
                f"{item.locate('fields', targets[field.maps_to]).line}",
            )
        targets.setdefault(field.maps_to, index)
    email = form.email_field
    if email is None:
        yield Problem(
            "error", item.locate("fields"), "a form needs a field with maps_to: email (type: email)"
        )
    elif not email.required:
        yield Problem(
            "error",
            item.locate("fields", form.fields.index(email), "required"),
            "the email field must be required: without an address there is no lead",
        )


def form_origin_problems(program: Program, allowed_origins: Sequence[str]) -> list[Problem]:
    """Forms whose thank-you page is not on one of the workspace's ``allowed_origins``: the
    server would refuse to send visitors there (no open redirect)."""
    problems: list[Problem] = []
    for item in program.of_kind("Form"):
        form = item.definition
        assert isinstance(form, Form)
        if origin_of(form.thank_you) not in allowed_origins:
            shown = ", ".join(allowed_origins) or "none set"
            problems.append(
                Problem(
                    "error",
                    item.locate("thank_you"),
                    f"thank_you {form.thank_you!r} is not on an allowed origin ({shown}); "
                    "add its origin to allowed_origins in nurture.toml",
                )
            )
    return problems
