"""The SalesTeam kind: the reps who receive leads, where and when they work, and their manager."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nurture.definitions.fields import (
    CountryCode,
    DefinitionModel,
    EmailAddress,
    Key,
    LocaleTag,
    WorkingHours,
)


class Manager(DefinitionModel):
    name: str = Field(min_length=1, description="The manager's name.")
    email: EmailAddress = Field(description="Receives escalations.")
    id: Key | None = Field(
        default=None,
        description="The manager's id as a lead's owner after an escalation; unset: manager:<team>.",
    )
    working_hours: WorkingHours | None = Field(
        default=None,
        description="When the manager works: an escalated lead's deadline and reminders count in them "
        "(unset: mon-fri 09:00-17:00 in the workspace's time zone).",
    )
    locale: LocaleTag | None = Field(
        default=None, description="Language of the escalations; unset: the workspace's locale setting."
    )


class Rep(DefinitionModel):
    """A sales rep who can be handed leads."""

    id: Key = Field(description="The rep's id (a lead's owner), unique in the team.")
    name: str = Field(min_length=1, description="The rep's name.")
    email: EmailAddress = Field(description="Receives lead notifications.")
    locale: LocaleTag | None = Field(
        default=None,
        description="Language of the rep's notifications; unset: the workspace's locale setting.",
    )
    territories: tuple[CountryCode, ...] = Field(
        default=(), description="Countries (ISO alpha-2) the rep covers; empty means any."
    )
    capacity: int | None = Field(default=None, ge=0, description="Open leads the rep can hold at once.")
    weight: int = Field(default=1, ge=0, le=1000, description="Share of leads under routing: weighted.")
    working_hours: WorkingHours = Field(description="When the rep works; the SLA clock only runs then.")
    webhook: str | None = Field(default=None, description="Optional URL notified as well (chat or CRM).")
    token_generation: int = Field(
        default=0, ge=0, description="Raise by one to revoke the rep's sales API token (sales rep-token)."
    )


class SalesTeam(DefinitionModel):
    """A team of reps and how leads are shared among them."""

    kind: Literal["SalesTeam"] = Field(description="SalesTeam")
    key: Key = Field(description="The team's key, named by the SLA's route_to.")
    name: str | None = Field(default=None, description="A readable name.")
    webhook: str | None = Field(
        default=None,
        description="Optional URL told of every handoff of this team (chat or CRM), escalations included.",
    )
    webhook_format: Literal["json", "slack", "teams"] = Field(
        default="json",
        description="json (signed, nurture's own), slack (an incoming webhook's message with blocks) or "
        "teams (a Teams Workflows webhook's Adaptive Card); for the team's webhook.",
    )
    manager: Manager = Field(description="Receives escalations when the SLA says so.")
    routing: Literal["round_robin", "least_loaded", "weighted"] = Field(
        default="round_robin", description="round_robin, least_loaded (fewest open leads) or weighted."
    )
    reps: tuple[Rep, ...] = Field(min_length=1, description="The reps.")

    def rep(self, rep_id: str) -> Rep:
        """The rep with this id; KeyError when there is none."""
        for rep in self.reps:
            if rep.id == rep_id:
                return rep
        raise KeyError(rep_id)
