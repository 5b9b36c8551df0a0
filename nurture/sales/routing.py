"""Who gets a lead: the company's existing owner, else a rep for the lead's country, shared fairly.

The choice itself is pure (:class:`TeamStanding` over the team definition and each rep's standing);
the standing is loaded under the team's lock and written back in the same transaction, so two MQLs
at the same instant never both take a rep's last free slot. On PostgreSQL the lock is a
transaction-scoped advisory lock per team; SQLite's write transaction is exclusive already.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select

from nurture.definitions import FREE_MAIL_DOMAINS, Rep, SalesTeam
from nurture.store import bulk
from nurture.store.schema import handoffs, leads, rep_routing

# Handoffs that take a slot of a rep's capacity: offered and not yet answered, or accepted and
# still being worked. Converted, rejected, reassigned and escalated ones are done.
OPEN_STATUSES = ("pending", "accepted")
_FREE_MAIL = frozenset(FREE_MAIL_DOMAINS)


@dataclass
class RepStanding:
    open: int = 0  # open handoffs now
    last_turn: int = 0  # the team's turn number when the rep last got a lead (0: never)
    credit: int = 0  # smooth weighted round robin
    routed: int = 0  # leads ever routed to the rep


@dataclass
class TeamStanding:
    """Every rep's load and turn in one team; :meth:`take` picks a rep and books the lead."""

    team: SalesTeam
    reps: dict[str, RepStanding]
    turn: int = 0
    changed: set[str] = field(default_factory=set)

    def standing(self, rep_id: str) -> RepStanding:
        return self.reps.setdefault(rep_id, RepStanding())

    def has_room(self, rep: Rep) -> bool:
        return rep.capacity is None or self.standing(rep.id).open < rep.capacity

    def take(
        self, country: str | None, account_owner: str | None = None, exclude: Collection[str] = ()
    ) -> Rep | None:
        """The rep who gets the next lead (booked against their capacity), or None for the manager.

        The company's owner keeps the account while they have room; otherwise reps covering the
        lead's country come first, then reps who cover any country, and the team's routing picks
        among those with room.
        """
        available = [r for r in self.team.reps if r.id not in exclude and self.has_room(r)]
        owner = next((r for r in available if r.id == account_owner), None)
        if owner is not None:
            self._book(owner)
            return owner
        code = (country or "").upper()
        pool = [r for r in available if code and code in r.territories]
        pool = pool or [r for r in available if not r.territories]
        if self.team.routing == "weighted":
            pool = [r for r in pool if r.weight > 0]
        if not pool:
            return None
        chosen = self._choose(pool)
        self._book(chosen)
        return chosen

    def _choose(self, pool: list[Rep]) -> Rep:
        order = {rep.id: index for index, rep in enumerate(self.team.reps)}
        if self.team.routing == "least_loaded":
            return min(
                pool, key=lambda r: (self.standing(r.id).open, self.standing(r.id).last_turn, order[r.id])
            )
        if self.team.routing == "weighted":
            # Smooth weighted round robin: shares follow the weights and a heavy rep's leads are
            # spread out instead of arriving in a run; a rep who joins later starts level.
            total = sum(r.weight for r in pool)
            for rep in pool:
                self.standing(rep.id).credit += rep.weight
                self.changed.add(rep.id)
            chosen = max(pool, key=lambda r: (self.standing(r.id).credit, -order[r.id]))
            self.standing(chosen.id).credit -= total
            return chosen
        # Round robin: whoever got a lead longest ago (filters such as territory skip reps, and the
        # skipped ones are next in line once they fit).
        return min(pool, key=lambda r: (self.standing(r.id).last_turn, order[r.id]))

    def _book(self, rep: Rep) -> None:
        standing = self.standing(rep.id)
        self.turn += 1
        standing.last_turn = self.turn
        standing.open += 1
        standing.routed += 1
        self.changed.add(rep.id)

    def release(self, rep_id: str | None) -> None:
        """A rep's open handoff ended (reassigned away, rejected, converted)."""
        if rep_id is not None and rep_id in self.reps and self.reps[rep_id].open > 0:
            self.reps[rep_id].open -= 1


def lock_team(conn: Connection, team_key: str) -> None:
    """Serialise routing for one team until the transaction ends (PostgreSQL; SQLite already is)."""
    if conn.dialect.name == "postgresql":
        digest = hashlib.sha256(f"nurture:routing:{team_key}".encode()).digest()
        bulk.execute(
            conn,
            "SELECT pg_advisory_xact_lock(:key)",
            {"key": int.from_bytes(digest[:8], "big", signed=True)},
        )


def load_standing(conn: Connection, team: SalesTeam) -> TeamStanding:
    """The team's standing as committed; call under :func:`lock_team`."""
    standing = TeamStanding(team, {})
    r = rep_routing.c
    for rep_id, last_turn, credit, routed in conn.execute(
        select(r.rep_id, r.last_turn, r.credit, r.routed).where(r.team_key == team.key)
    ):
        standing.reps[rep_id] = RepStanding(0, int(last_turn), int(credit), int(routed))
        standing.turn = max(standing.turn, int(last_turn))
    h = handoffs.c
    query = (
        select(h.rep_id, func.count())
        .where(h.team_key == team.key, h.status.in_(OPEN_STATUSES), h.rep_id.is_not(None))
        .group_by(h.rep_id)
    )
    for rep_id, count in conn.execute(query):
        standing.standing(rep_id).open = int(count)
    return standing


def save_standing(conn: Connection, standing: TeamStanding, now: datetime) -> None:
    """Write back the reps whose turn or credit changed."""
    rows = [
        {
            "team": standing.team.key,
            "rep": rep_id,
            "turn": standing.reps[rep_id].last_turn,
            "credit": standing.reps[rep_id].credit,
            "routed": standing.reps[rep_id].routed,
            "at": bulk.instant(conn, now),
        }
        for rep_id in sorted(standing.changed)
    ]
    bulk.executemany(
        conn,
        "INSERT INTO rep_routing (team_key, rep_id, last_turn, credit, routed, last_routed_at) "
        "VALUES (:team, :rep, :turn, :credit, :routed, :at) ON CONFLICT (team_key, rep_id) DO UPDATE SET "
        "last_turn = excluded.last_turn, credit = excluded.credit, routed = excluded.routed, "
        "last_routed_at = excluded.last_routed_at",
        rows,
    )
    standing.changed.clear()


def account_owner(conn: Connection, lead_id: int, email_domain: str | None) -> str | None:
    """The rep who already owns a lead at the same company (by e-mail domain, not free-mail)."""
    if not email_domain or email_domain in _FREE_MAIL:
        return None
    l_ = leads.c
    owner = conn.scalar(
        select(l_.owner_rep_id)
        .where(l_.email_domain == email_domain, l_.owner_rep_id.is_not(None), l_.id != lead_id)
        .order_by(l_.updated_at.desc())
        .limit(1)
    )
    return str(owner) if owner is not None else None
