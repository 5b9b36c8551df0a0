"""The kinds of definition a workspace holds, as one union discriminated by ``kind``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from nurture.definitions.campaign import Campaign
from nurture.definitions.form import Form
from nurture.definitions.sales_team import SalesTeam
from nurture.definitions.scoring import ScoringModel
from nurture.definitions.sla import SLA
from nurture.definitions.topic import Topic

KINDS: tuple[str, ...] = ("Campaign", "ScoringModel", "SLA", "SalesTeam", "Form", "Topic")

Definition = Annotated[Campaign | ScoringModel | SLA | SalesTeam | Form | Topic, Field(discriminator="kind")]

DEFINITION_ADAPTER: TypeAdapter[Campaign | ScoringModel | SLA | SalesTeam | Form | Topic] = TypeAdapter(
    Definition
)


def definition_key(definition: Campaign | ScoringModel | SLA | SalesTeam | Form | Topic) -> str:
    """The name a definition is known by within its kind (a campaign's key, the SLA's name...)."""
    return definition.key
