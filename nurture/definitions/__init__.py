"""The definitions language: campaigns, the scoring model, the SLA and sales teams as YAML files.

Read a workspace with :func:`load_program` (raises :class:`InvalidProgram` listing every error) or
:func:`check_workspace` (returns the problems, as ``nurture check`` prints them). Conditions are
:class:`Condition` objects; the engine evaluates them with an :class:`EvaluationContext`.
"""

from nurture.definitions.campaign import Campaign, Entry
from nurture.definitions.conditions import (
    LEAD_FIELDS,
    Condition,
    Engagement,
    EvaluationContext,
    NoEngagement,
    compile_condition,
    lead_view,
)
from nurture.definitions.fields import SendWindow, WorkingHours
from nurture.definitions.free_mail import FREE_MAIL_DOMAINS
from nurture.definitions.kinds import KINDS, Definition
from nurture.definitions.load import CheckReport, check_workspace, load_program
from nurture.definitions.problems import ConditionError, DefinitionError, InvalidProgram, Problem
from nurture.definitions.program import Loaded, Program, UnknownDefinition
from nurture.definitions.sales_team import Manager, Rep, SalesTeam
from nurture.definitions.scoring import BehaviorRule, Decay, FitRule, ScoringModel
from nurture.definitions.sla import SLA, MqlRule, Recycle
from nurture.definitions.steps import (
    STEP_KINDS,
    BranchStep,
    ExitStep,
    GotoStep,
    ScoreStep,
    SendStep,
    SetStep,
    Step,
    WaitStep,
)
from nurture.definitions.versions import Placement, content_hash, place_after_edit, record_versions

__all__ = [
    "FREE_MAIL_DOMAINS",
    "KINDS",
    "LEAD_FIELDS",
    "SLA",
    "STEP_KINDS",
    "BehaviorRule",
    "BranchStep",
    "Campaign",
    "CheckReport",
    "Condition",
    "ConditionError",
    "Decay",
    "Definition",
    "DefinitionError",
    "Engagement",
    "Entry",
    "EvaluationContext",
    "ExitStep",
    "FitRule",
    "GotoStep",
    "InvalidProgram",
    "Loaded",
    "Manager",
    "MqlRule",
    "NoEngagement",
    "Placement",
    "Problem",
    "Program",
    "Recycle",
    "Rep",
    "SalesTeam",
    "ScoreStep",
    "ScoringModel",
    "SendStep",
    "SendWindow",
    "SetStep",
    "Step",
    "UnknownDefinition",
    "WaitStep",
    "WorkingHours",
    "check_workspace",
    "compile_condition",
    "content_hash",
    "lead_view",
    "load_program",
    "place_after_edit",
    "record_versions",
]
