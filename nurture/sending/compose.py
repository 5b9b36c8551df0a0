"""Turning an outbox row into the bytes of an email."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from nurture.definitions import Program, SendStep
from nurture.definitions.localized import pick_text, template_versions
from nurture.delivery import (
    Address,
    DkimSigner,
    Email,
    EmailRenderer,
    LinkTracker,
    bounce_token,
    build_message,
    email_context,
    verp_address,
)
from nurture.delivery.transports import OutgoingMessage
from nurture.render_limits import RenderLimits
from nurture.settings import Settings
from nurture.templating import template_environment
from nurture.tokens import TokenSigner

DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "default_templates"


@dataclass(frozen=True)
class Composed:
    message: OutgoingMessage
    subject: str


# Send steps x variants x locales a composer keeps the plans of; more than a program has.
_PLANS_KEPT = 1024


@dataclass(frozen=True, slots=True)
class _StepPlan:
    """What every email of one send step (variant, transactional or not) in one locale shares:
    nothing in it comes from a lead but the locale it is keyed by."""

    topic: str | None
    campaign: MappingProxyType[str, Any]
    step: MappingProxyType[str, Any]
    context: MappingProxyType[str, str]  # the layout and the locale the template is written in
    template: str
    subject: str  # the subject's template source
    sender: Address
    reply_to: Address | None
    extra_headers: MappingProxyType[str, str]


def template_lead(lead: dict[str, Any]) -> MappingProxyType[str, Any]:
    """The lead as templates see it: unknown fields are *undefined*, not ``None``, so a template
    must say what to write instead (``{{ lead.first_name | default('Hallo') }}``) and ``nurture
    check``/preview catch the ones that do not."""
    shown = {k: v for k, v in lead.items() if v is not None and k != "id"}
    shown["attributes"] = MappingProxyType(dict(lead.get("attributes") or {}))
    return MappingProxyType(shown)


class Composer:
    """Builds messages for one program and one set of settings; keep one and reuse it."""

    def __init__(
        self, program: Program, settings: Settings, signer: TokenSigner, *, locale: str | None = None
    ) -> None:
        """``locale`` renders every email in that locale instead of each lead's (preview, tests)."""
        self.program = program
        self.signer = signer
        search = (
            [program.templates_dir, DEFAULT_TEMPLATES]
            if DEFAULT_TEMPLATES.is_dir()
            else [program.templates_dir]
        )
        limits = RenderLimits(max_chars=settings.render_max_chars, seconds=settings.render_time_limit)
        self.renderer = EmailRenderer(template_environment(*search, limits=limits))
        self.tracker = LinkTracker(signer, settings.base_url)
        self.sender = Address.parse(settings.from_address)
        self.reply_to = Address.parse(settings.reply_to) if settings.reply_to else None
        self.dkim = DkimSigner.from_settings(settings, program.root, self.sender.domain)
        self.default_locale = settings.locale
        self.locale = locale
        self._plans: dict[tuple[str, str, str | None, bool, str | None], _StepPlan] = {}

    def marketing(
        self,
        message_id: int,
        header_id: str,
        lead: dict[str, Any],
        campaign_key: str,
        step_id: str,
        now: datetime,
        *,
        variant: str | None = None,
        transactional: bool | None = None,
        to: str | None = None,
    ) -> Composed:
        """A campaign's send step for one lead (as ``variant`` writes it, when the step has
        variants): rendered, tracked, with one-click unsubscribe for its topic; a transactional
        one without tracking and without List-Unsubscribe (``None``: as the step says; the sender
        passes what the email was queued as). ``to`` is the address it goes to, the lead's own
        when not given: the sender passes the one it checked against suppressions and consent."""
        if transactional is None:
            transactional = self._is_transactional(campaign_key, step_id)
        if to is None:
            to = lead["email"]
        email, sender = self._marketing_email(
            message_id, header_id, lead, campaign_key, step_id, now, variant,
            transactional=transactional, to=to,
        )  # fmt: skip
        return self._envelope(email, message_id, sender, to)

    def test_send(
        self,
        lead: dict[str, Any],
        campaign_key: str,
        step_id: str,
        to: str,
        now: datetime,
        variant: str | None = None,
    ) -> Composed:
        """A send step rendered for ``lead`` but addressed to ``to``, its subject marked ``[TEST]``.

        Its links and pixel carry no outbox row (message 0), so nothing opened or clicked in it is
        recorded against any lead.
        """
        header_id = f"<test.{int(now.timestamp())}@{self.sender.domain}>"
        transactional = self._is_transactional(campaign_key, step_id)
        email, sender = self._marketing_email(
            0, header_id, lead, campaign_key, step_id, now, variant, transactional=transactional
        )
        email = replace(email, to=Address.parse(to), subject=f"[TEST] {email.subject}")
        return self._envelope(email, 0, sender, Address.parse(to).email)

    def _is_transactional(self, campaign_key: str, step_id: str) -> bool:
        campaign = self.program.campaign(campaign_key)
        step = campaign.step(step_id)
        return isinstance(step, SendStep) and campaign.mail_kind(step) == "transactional"

    def _marketing_email(
        self,
        message_id: int,
        header_id: str,
        lead: dict[str, Any],
        campaign_key: str,
        step_id: str,
        now: datetime,
        variant: str | None,
        *,
        transactional: bool,
        to: str | None = None,
    ) -> tuple[Email, Address]:
        lead_locale = self.locale if self.locale is not None else lead.get("locale")
        plan = self._plan(campaign_key, step_id, variant, transactional, lead_locale)
        unsubscribe_url = self.tracker.unsubscribe_url(message_id, lead["id"], plan.topic)
        context = email_context(
            lead=template_lead(lead),
            campaign=plan.campaign,
            step=plan.step,
            unsubscribe_url=unsubscribe_url,
            now=now,
            **plan.context,
        )
        rendered = self.renderer.render(plan.template, plan.subject, context)
        if transactional:  # no open pixel, no rewritten links: nothing about reading it is recorded
            tracked = rendered
        else:
            tracked = self.tracker.track(rendered, message_id, unsubscribe_url=unsubscribe_url)
        email = Email(
            sender=plan.sender,
            # Built once, with the address it goes to: a message is composed per email sent.
            to=Address(to or lead["email"], _full_name(lead)),
            subject=tracked.subject,
            text=tracked.text,
            html=tracked.html,
            date=now,
            list_unsubscribe=None if transactional else unsubscribe_url,
            reply_to=plan.reply_to,
            message_id=header_id,
            bounce_token=bounce_token(self.signer, message_id),
            extra_headers=plan.extra_headers,
        )
        return email, plan.sender

    def _plan(
        self, campaign_key: str, step_id: str, variant: str | None, transactional: bool, locale: str | None
    ) -> _StepPlan:
        """What every email of a send step in one locale has in common, worked out once."""
        key = (campaign_key, step_id, variant, transactional, locale)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= _PLANS_KEPT:
                self._plans.clear()
            plan = self._plans[key] = self._make_plan(*key)
        return plan

    def _make_plan(
        self, campaign_key: str, step_id: str, variant: str | None, transactional: bool, locale: str | None
    ) -> _StepPlan:
        campaign = self.program.campaign(campaign_key)
        step = campaign.step(step_id)
        if not isinstance(step, SendStep):
            raise ValueError(f"step {step_id!r} of campaign {campaign_key!r} is not a send step")
        send = step.send.variant(variant)
        versions = template_versions(send.template, locale, self.default_locale)
        template = self.renderer.first_existing(name for name, _ in versions)
        written_in = dict(versions)[template] or self.default_locale
        context = {"layout": f"layouts/{send.layout}.html"} if send.layout else {}
        context["locale"] = written_in
        chosen = pick_text(send.from_, locale, self.default_locale) if send.from_ else None
        return _StepPlan(
            # A transactional email still offers the preference centre in its body when the
            # template links it, but names no topic and carries no one-click header: it belongs
            # to no list.
            topic=None if transactional else campaign.topic,
            campaign=MappingProxyType({"key": campaign.key, "name": campaign.title}),
            step=MappingProxyType({"id": step_id, "template": send.template, "variant": variant}),
            context=MappingProxyType(context),
            template=template,
            subject=pick_text(send.subject, locale, self.default_locale),
            sender=Address.parse(chosen) if chosen else self.sender,
            reply_to=Address.parse(send.reply_to) if send.reply_to else self.reply_to,
            extra_headers=MappingProxyType(
                {"X-Nurture-Campaign": f"{campaign_key}/{step_id}", "Content-Language": written_in}
            ),
        )

    def prebuilt(
        self,
        message_id: int,
        header_id: str,
        to_address: str,
        subject: str,
        html: str,
        text: str,
        now: datetime,
    ) -> Composed:
        """A message rendered when it was queued (sales notifications): sent as it is, untracked."""
        email = Email(
            sender=self.sender,
            to=Address.parse(to_address),
            subject=subject,
            text=text,
            html=html,
            date=now,
            reply_to=self.reply_to,
            message_id=header_id,
            bounce_token=bounce_token(self.signer, message_id),
        )
        return self._envelope(email, message_id, self.sender, Address.parse(to_address).email)

    def _envelope(self, email: Email, message_id: int, sender: Address, recipient: str) -> Composed:
        built = build_message(email, self.dkim)
        envelope_sender = verp_address(
            email.bounce_token or bounce_token(self.signer, message_id), sender.domain
        )
        return Composed(OutgoingMessage(envelope_sender, (recipient,), built.data, message_id), email.subject)


def _full_name(lead: dict[str, Any]) -> str:
    return " ".join(part for part in (lead.get("first_name"), lead.get("last_name")) if part)
