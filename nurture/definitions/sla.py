"""The SLA kind: the agreement between marketing and sales on MQLs, routing and follow-up."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nurture.definitions.conditions import Condition
from nurture.definitions.fields import DefinitionModel, Duration, Key


class MqlRule(DefinitionModel):
    when: Condition = Field(description="When a lead becomes marketing-qualified, e.g. lead.score >= 100.")


class RouteRule(DefinitionModel):
    when: Condition | None = Field(
        default=None, description="Which MQLs this team gets, e.g. lead.country == 'CH'; none: the rest."
    )
    team: Key = Field(description="The key of the SalesTeam that receives them.")


class Recycle(DefinitionModel):
    campaign: Key = Field(description="The campaign a rejected lead is enrolled in (usually on: manual).")
    score: Literal["keep", "halve", "reset"] = Field(
        default="keep", description="What happens to the lead's score: keep, halve or reset."
    )


class SLA(DefinitionModel):
    """What makes an MQL, who gets it, how fast they must accept it, and what happens otherwise."""

    kind: Literal["SLA"] = Field(description="SLA")
    name: Key = Field(description="The SLA's name, e.g. marketing-sales.")
    mql: MqlRule = Field(description="The MQL rule agreed by marketing and sales.")
    route_to: Key | tuple[RouteRule, ...] = Field(
        description="The SalesTeam that receives MQLs, or a list of {when, team} rules: the first that "
        "holds wins, and the last, without `when`, takes the rest."
    )
    accept_within: Duration = Field(description="Time a rep has to accept, counted in their working hours.")
    on_breach: Literal["reassign", "escalate"] = Field(
        default="reassign", description="reassign to the next rep, or escalate to the team's manager."
    )
    max_reassignments: int = Field(
        default=2, ge=0, le=50, description="After this many reassignments the lead is escalated."
    )
    reject_reasons: tuple[str, ...] = Field(
        default=(),
        description="The reasons a rep picks from when rejecting (links and API); free text is allowed too.",
    )
    remind_before: Duration | None = Field(
        default=None,
        description="Remind the holder this long (working time) before the deadline to accept, e.g. 2h.",
    )
    digest_at: str | None = Field(
        default=None,
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="A daily digest of open and overdue handoffs to each rep and manager at this time in "
        'their zone on their working days, e.g. "08:00" (email, and the team\'s webhook); unset: none.',
    )
    recycle: Recycle | None = Field(default=None, description="Where a rejected lead goes.")
    stale_after: dict[Literal["lead", "mql", "sal", "sql", "opportunity"], Duration] = Field(
        default_factory=dict,
        description="How long a lead may sit at a stage before the report lists it as stuck, per stage "
        "(e.g. {mql: 1d, sal: 14d}); other stages: three times the usual time there.",
    )

    @property
    def key(self) -> str:
        return self.name

    @property
    def routes(self) -> tuple[tuple[Condition | None, str], ...]:
        """``(when, team)`` in order; a single ``route_to`` key is one rule without ``when``."""
        if isinstance(self.route_to, str):
            return ((None, self.route_to),)
        return tuple((rule.when, rule.team) for rule in self.route_to)

    @property
    def default_team(self) -> str | None:
        """The team of the last rule when it has no ``when`` (the rest go there), else None."""
        when, team = self.routes[-1] if self.routes else (None, None)
        return team if when is None else None
