"""What follows a change to a lead, in one order, inside the caller's transaction.

Every entry point states a plain fact and this chain runs what follows from it:

1. **points**: recorded events earn behaviour points; changed fields are rescored for fit
   (:mod:`nurture.scoring`). Decay fades stored scores; a negative score fading can rise. Where a
   predictive model was trained, the changed leads' ``conversion_probability`` is brought up to
   date here too, so the MQL rule never reads a stale one (:class:`LeadPredictions`).
2. **MQL rule**: leads whose score rose (and are not with sales yet) are checked against the SLA's
   MQL rule; those it holds for become MQLs, with the stage change recorded (:func:`qualify`).
3. **route**: each new MQL is handed to a rep of the SLA's team, or the team's manager (:func:`route`).
4. **notify the rep** and **queue the webhook**: the handoff queues the recipient's email and the
   team's and rep's webhooks (:func:`nurture.sales.handoffs.hand_over`).
5. **nurture campaigns end**: every active enrollment whose campaign's ``exit_when`` holds for the
   lead's new stage ends (:func:`end_exited_enrollments`). A sales answer (accept, reject,
   convert, disqualify) enters the chain here, through :meth:`Lifecycle.stage_changed`.

A lead's changes are committed together with the event, import, step or answer that caused them,
or not at all. The chain reads no settings or keys from disk: the settings, signer and webhook key
come in a :class:`SalesSetup` built once by the process (CLI command, daemon, HTTP app); the
templates are those of the program version the chain was made for; ``now`` comes with every fact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from nurture.definitions import Program
from nurture.engagement.record import join_anonymous_events
from nurture.engine.exits import end_exited_enrollments
from nurture.facts import RecordedEvent
from nurture.lifecycle.history import PastFacts
from nurture.predict.refresh import LeadPredictions
from nurture.sales.context import SalesContext, SalesSetup
from nurture.sales.mql import qualify, route
from nurture.scoring.decay import decay_scores
from nurture.scoring.events import on_events_recorded
from nurture.scoring.leads import on_leads_changed
from nurture.scoring.rescore import combine_behaviour, rescore_leads, scored_now
from nurture.scoring.state import MQL_ELIGIBLE, ScoredLead, load_scored_leads
from nurture.settings import Settings


class Lifecycle:
    """What follows a change to a lead, for one program (a :class:`nurture.facts.WhatFollows`).

    Cheap to make once its :class:`SalesSetup` exists: a daemon that reloads its program makes a
    new one for the new program with the same setup.
    """

    def __init__(self, program: Program, setup: SalesSetup) -> None:
        self._program = program
        self.sales = SalesContext(program, setup)
        self._predictions = LeadPredictions(program)
        sla = self.sales.sla
        self._mql_rule_reads_probability = sla is not None and "conversion_probability" in sla.mql.when.source

    @classmethod
    def of(cls, program: Program, settings: Settings) -> Lifecycle:
        """The chain for a program, its setup read from the workspace now (once, at a process start)."""
        return cls(program, SalesSetup.of(settings, program.root))

    @property
    def program(self) -> Program:
        return self._program

    def past(self) -> PastFacts:
        """What follows history brought from another tool: points only (:mod:`.history`)."""
        return PastFacts(self._program, self.sales.default_zone)

    # -- the facts ----------------------------------------------------------------------------------

    def events_recorded(self, conn: Connection, events: Sequence[RecordedEvent], now: datetime) -> None:
        """Engagement events of known leads were stored: behaviour points, then the chain."""
        rose = on_events_recorded(conn, self._program, events, now, default_zone=self.sales.default_zone)
        self.scores_rose(conn, self._with_predictions(conn, [e.lead_id for e in events], rose, now), now)

    def leads_changed(self, conn: Connection, lead_ids: Sequence[int], now: datetime) -> None:
        """Fields of these leads changed or points were added: fit points, then the chain."""
        rose = on_leads_changed(conn, self._program, lead_ids, now)
        self.scores_rose(conn, self._with_predictions(conn, lead_ids, rose, now), now)

    def leads_imported(
        self, conn: Connection, created: Sequence[int], changed: Sequence[int], now: datetime
    ) -> None:
        """A lead-import batch was written (a :data:`nurture.leads.report.BatchHook`): events kept
        under the leads' addresses join them and are scored, then every lead's fit."""
        touched = sorted({*created, *changed})
        if touched:
            join_anonymous_events(conn, self, touched, now)
            self.leads_changed(conn, touched, now)

    def leads_merged(self, conn: Connection, keep_id: int, other_id: int, now: datetime) -> None:
        """Two records of one person became one (a :data:`nurture.leads.combine.MergeHook`, run
        while both rows exist): the kept lead's score is recomputed over both histories, then the
        chain (MQL rule, routing) and the exits of its campaigns."""
        before = combine_behaviour(conn, self._program, keep_id, other_id, now)
        rescore_leads(
            conn, self._program, [keep_id], now, then=self.scores_rose, default_zone=self.sales.default_zone
        )
        lead, score = scored_now(conn, self._program, keep_id, now)
        # The other record's points count now: the MQL rule may hold (for a lead not yet with
        # sales: one that is, or took the other record's handoff, is not handed over again).
        if score > before and lead.stage in MQL_ELIGIBLE:
            self.scores_rose(conn, [(lead, score)], now)
        self.stage_changed(conn, [keep_id], now)

    def decay_scores(self, conn: Connection, now: datetime, *, limit: int = 5_000, after_id: int = 0) -> int:
        """Fade up to ``limit`` stored scores (ids above ``after_id``), then the chain for those that
        rose; the last id handled, or 0 when the pass is complete."""
        rose: list[tuple[ScoredLead, float]] = []
        last = decay_scores(conn, self._program, now, limit=limit, after_id=after_id, rose=rose)
        self.scores_rose(conn, rose, now)
        return last

    def scores_rose(
        self, conn: Connection, candidates: Sequence[tuple[ScoredLead, float]], now: datetime
    ) -> int:
        """These leads' scores rose (lead, score now): the MQL rule, routing, and campaigns end.
        Returns how many became MQLs."""
        if not candidates:
            return 0
        new_mqls = qualify(conn, self.sales, candidates, now)
        if not new_mqls:
            return 0
        route(conn, self.sales, new_mqls, now)
        self.stage_changed(conn, [mql.lead_id for mql in new_mqls], now)
        return len(new_mqls)

    def stage_changed(self, conn: Connection, lead_ids: Sequence[int], now: datetime) -> None:
        """These leads moved stage: their prediction follows, and the nurture campaigns whose
        ``exit_when`` now holds end."""
        self._predictions.refresh(conn, lead_ids, now)
        end_exited_enrollments(conn, self._program, lead_ids, now)

    def _with_predictions(
        self,
        conn: Connection,
        lead_ids: Sequence[int],
        rose: list[tuple[ScoredLead, float]],
        now: datetime,
    ) -> list[tuple[ScoredLead, float]]:
        """Refresh the changed leads' probabilities; a lead whose probability rose is a candidate
        for an MQL rule that reads it, even when its score did not rise."""
        changed = self._predictions.refresh(conn, lead_ids, now)
        if not changed:
            return rose
        for lead, _ in rose:
            if lead.id in changed:
                lead.lead["conversion_probability"] = changed[lead.id][1]
        if not self._mql_rule_reads_probability:
            return rose
        already = {lead.id for lead, _ in rose}
        risen = [
            lead_id
            for lead_id, (before, after) in changed.items()
            if lead_id not in already and (before is None or after > before)
        ]
        if not risen:
            return rose
        model = self._program.scoring_model
        half_life = model.decay.half_life if model is not None and model.decay else None
        more = list(rose)
        for lead in load_scored_leads(conn, risen, lock=True).values():
            if lead.stage in MQL_ELIGIBLE:
                lead.lead["conversion_probability"] = changed[lead.id][1]
                more.append((lead, lead.fit + lead.behavior_at(lead.as_of(now), half_life)))
        return more
