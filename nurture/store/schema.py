"""The tables. Designed for millions of leads: every hot question has an index.

The hot questions: "what is due now" (partial indexes on due times of live rows only, so they stay
small however many leads have finished), "this lead's history" (lead id + time), and "does this
address exist / may we mail it" (unique e-mail, suppression hash).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from nurture.store.types import Id, Json, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "mql",
    "sal",
    "sql",
    "opportunity",
    "customer",
    "recycled",
    "disqualified",
)


def _where(condition: str) -> dict[str, Any]:
    """A partial-index predicate on both engines."""
    clause = text(condition)
    return {"sqlite_where": clause, "postgresql_where": clause}


def _active(column: str, value: str) -> dict[str, Any]:
    """Only live rows are indexed: the index stays small however many rows have finished."""
    return _where(f"{column} = '{value}'")


leads = Table(
    "leads",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),  # normalised: lower-case, trimmed
    Column("email_domain", String(255), nullable=False),
    Column("first_name", String(200)),
    Column("last_name", String(200)),
    Column("company", String(300)),
    Column("job_title", String(300)),
    Column("industry", String(200)),
    Column("company_size", Integer),
    Column("country", String(2)),
    Column("timezone", String(64)),
    Column("locale", String(35)),
    Column("lifecycle_stage", String(20), nullable=False, server_default="lead"),
    Column("attributes", Json, nullable=False, default=dict),
    Column("owner_rep_id", String(100)),
    # Score = fit + behaviour decayed from behavior_scored_at; `score` is the value as of the
    # last change, kept in the row so the MQL rule and reports can read it without the ledger.
    Column("fit_score", Float, nullable=False, server_default="0"),
    Column("behavior_score", Float, nullable=False, server_default="0"),
    Column("behavior_scored_at", UTCDateTime),
    Column("score", Float, nullable=False, server_default="0"),
    # The predictive score (0..1) of the stored predictive model, when one was trained.
    Column("conversion_probability", Float),
    # The lead's number in the system it came from (a CRM), unique in the workspace: imports and
    # the history import may match leads by it.
    Column("external_id", String(200), unique=True),
    Column("unsubscribed_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Only owned leads are indexed by owner and by domain ("does this company already have an
    # owner?"): most leads have none, and every index is paid for on each of a million imports.
    Index("ix_leads_owned_domain", "email_domain", "owner_rep_id", **_where("owner_rep_id IS NOT NULL")),
    Index("ix_leads_owner", "owner_rep_id", **_where("owner_rep_id IS NOT NULL")),
)

stage_changes = Table(
    "stage_changes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id", ondelete="CASCADE"), nullable=False),
    Column("from_stage", String(20)),
    Column("to_stage", String(20), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("actor", String(200), nullable=False),
    # The deal's value when sales moves a lead to opportunity or customer (revenue in the report).
    Column("amount", Float),
    Column("currency", String(3)),
    # Each lead's moves in time order from the index alone (journeys, backtests; migration 0012).
    Index("ix_stage_changes_lead_moves", "lead_id", "at", "id", "from_stage", "to_stage"),
    Index("ix_stage_changes_to_at", "to_stage", "at"),  # the funnel report
)

enrollments = Table(
    "enrollments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id", ondelete="CASCADE"), nullable=False),
    Column("campaign_key", String(100), nullable=False),
    Column("campaign_version", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # active | completed | exited
    Column("step_id", String(100)),  # the step the lead is at (next to run, or the wait it is in)
    Column("step_started_at", UTCDateTime),  # when that step began: waits are re-planned from here
    Column("due_at", UTCDateTime),  # when the engine should look at this enrollment again
    Column("claimed_until", UTCDateTime),  # a worker's lease, so replicas never run it twice at once
    Column("entered_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("exit_reason", String(500)),
    Index("ix_enrollments_due", "due_at", "id", **_active("status", "active")),
    Index(
        "uq_enrollments_one_active",
        "lead_id",
        "campaign_key",
        unique=True,
        **_active("status", "active"),
    ),
    Index("ix_enrollments_lead_entered", "lead_id", "entered_at"),
    Index("ix_enrollments_campaign_status", "campaign_key", "status"),
)

# The kinds of message a campaign's send step leaves (``messages.kind``): reports, breakers and
# pauses count both; only marketing ones count towards the frequency cap.
CAMPAIGN_MAIL = ("marketing", "transactional")

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id", ondelete="CASCADE")),
    Column("enrollment_id", Id, ForeignKey("enrollments.id", ondelete="CASCADE")),
    Column("handoff_id", Id, ForeignKey("handoffs.id", ondelete="CASCADE")),
    Column("campaign_key", String(100)),
    Column("step_id", String(100)),
    # marketing | transactional (a campaign's emails) | sales_notification | escalation | opt_in_confirmation
    Column("kind", String(32), nullable=False),
    Column("to_address", String(320), nullable=False),
    Column("subject", String(998)),  # rendered when the message is built for sending
    # Sales notifications are rendered when queued (html/text kept here); marketing emails are
    # rendered from their campaign step at sending time, so these stay empty for them.
    Column("html", Text),
    Column("text", Text),
    Column("message_id", String(255), nullable=False, unique=True),  # the Message-ID header
    # queued -> claimed -> sending -> sent, or back to queued (retry), failed, bounced, suppressed;
    # unknown: the relay may or may not have it (the sender died while it was on the wire, or the
    # connection ended after the final dot): never resent by itself; ``dropped`` once an operator
    # decided not to resend it.
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("claimed_until", UTCDateTime),
    # Written by each claim and checked by every later write of it: only the sender holding the
    # row's current claim records a verdict or gives it back.
    Column("claim_token", String(32)),
    # The envelope sender and the exact bytes handed to the relay, kept while the relay's verdict
    # is not known (``sending``, ``unknown``) so that a resend repeats them byte for byte.
    Column("attempted_sender", String(998)),
    Column("attempted_data", LargeBinary),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    # The variant of a send step this email is, chosen once when it is queued and never again;
    # ``split`` when the stable split chose it (the experiment), ``winner`` once a winner was set.
    Column("variant", String(100)),
    Column("variant_source", String(8)),
    # One send step is sent at most once per enrollment, enforced here and not only in code.
    UniqueConstraint("enrollment_id", "step_id"),
    Index("ix_messages_due", "next_attempt_at", "id", **_active("status", "queued")),
    # Recovery after a crash looks only at messages a sender had in hand.
    Index("ix_messages_in_hand", "claimed_until", **_where("status IN ('claimed', 'sending')")),
    # What `nurture outbox unknown` lists: a handful among millions.
    Index("ix_messages_unknown", "id", **_where("status = 'unknown'")),
    Index("ix_messages_lead_created", "lead_id", "created_at"),
    Index("ix_messages_campaign_step", "campaign_key", "step_id"),
)

# A send step's variant promoted to winner by `nurture experiments promote` (winner: in the YAML
# does the same); every lead queued from then on gets it.
variant_winners = Table(
    "variant_winners",
    metadata,
    Column("campaign_key", String(100), primary_key=True),
    Column("step_id", String(100), primary_key=True),
    Column("variant", String(100), nullable=False),
    Column("promoted_at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id", ondelete="CASCADE")),
    # Events for addresses not (yet) known are kept with the address and joined when the lead appears.
    Column("anonymous_email", String(320)),
    Column("type", String(64), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("message_id", Id, ForeignKey("messages.id", ondelete="SET NULL")),
    Column("campaign_key", String(100)),
    Column("step_id", String(100)),
    Column("url", Text),
    Column("machine_reason", String(64)),  # set when a privacy proxy or security scanner caused it
    Column("idempotency_key", String(200), unique=True),
    Column("properties", Json, nullable=False, default=dict),
    # Brought by `nurture history import`: a record of the past, which the engine never reacts to.
    Column("from_history", Boolean, nullable=False, server_default=text("false")),
    Index("ix_events_type_occurred", "type", "occurred_at"),
    Index("ix_events_message", "message_id"),
    Index("ix_events_anonymous", "anonymous_email", **_where("lead_id IS NULL")),
    # The report: sends and engagement per campaign step, and each lead's touches in time order,
    # read from the index alone (a million leads have tens of millions of events). The second
    # is also every lead's events in time order (rescore, the lead's history, merges).
    Index(
        "ix_events_step_figures",
        "campaign_key",
        "step_id",
        "type",
        "machine_reason",
        "message_id",
        "occurred_at",
    ),
    Index(
        "ix_events_lead_touches",
        "lead_id",
        "occurred_at",
        "id",
        "machine_reason",
        "type",
        "campaign_key",
        "step_id",
    ),
)

score_ledger = Table(
    "score_ledger",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id", ondelete="CASCADE"), nullable=False),
    Column("points", Float, nullable=False),
    Column("kind", String(16), nullable=False),  # fit | behavior | manual | recycle
    Column("rule", String(500), nullable=False),
    Column("event_id", Id, ForeignKey("events.id", ondelete="SET NULL")),
    Column("reason", String(500), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    # Each lead's lines in time order, read from the index alone: the rescore and the backtest
    # read every line of every lead (ten million at a million leads), and the caps a lead's day.
    Index("ix_score_ledger_lead_lines", "lead_id", "at", "id", "kind", "points", "rule"),
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id", ondelete="CASCADE"), nullable=False),
    Column("team_key", String(100), nullable=False),
    Column("rep_id", String(100)),  # null: the team's manager holds it
    # pending | accepted | rejected | reassigned | escalated | converted | disqualified
    Column("status", String(16), nullable=False),
    Column("assigned_at", UTCDateTime, nullable=False),
    Column("accept_due_at", UTCDateTime),
    Column("responded_at", UTCDateTime),
    Column("reason", String(500)),
    Column("actor", String(200)),
    Column("reassignments", Integer, nullable=False, server_default="0"),
    Column("previous_handoff_id", Id, ForeignKey("handoffs.id", ondelete="SET NULL")),
    Index("ix_handoffs_due", "accept_due_at", "id", **_active("status", "pending")),
    Index("ix_handoffs_rep_status", "rep_id", "status"),
    Index("ix_handoffs_lead_assigned", "lead_id", "assigned_at"),
)

suppressions = Table(
    "suppressions",
    metadata,
    # sha256 of the normalised address: erased people stay unmailable without keeping their address.
    Column("email_hash", String(64), primary_key=True),
    Column(
        "reason", String(32), nullable=False
    ),  # unsubscribe | hard_bounce | complaint | forgotten | manual
    Column("detail", String(500)),
    Column("created_at", UTCDateTime, nullable=False),
)

definition_versions = Table(
    "definition_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("key", String(100), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("body", Json, nullable=False),
    Column("source", String(500), nullable=False),
    Column("loaded_at", UTCDateTime, nullable=False),
    UniqueConstraint("kind", "key", "content_hash"),
)

# Predictive models trained by `nurture score train`: the fitted parameters as plain numbers (no
# pickles), what they were trained on and how well they ranked leads they had not seen.
predictive_models = Table(
    "predictive_models",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("version", String(40), nullable=False, unique=True),
    Column("trained_at", UTCDateTime, nullable=False),
    Column("window_from", UTCDateTime, nullable=False),
    Column("window_to", UTCDateTime, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("leads", Integer, nullable=False),
    Column("positives", Integer, nullable=False),
    Column("held_out_auc", Float),
    Column("parameters", Json, nullable=False),
)

# Positions of feeds the engine follows by keyset (e.g. the last lead id offered to lead_created
# campaigns), so a tick reads only what is new.
cursors = Table(
    "cursors",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("position", Id, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("event_count", Integer, nullable=False),
    Column("accepted", Boolean, nullable=False),
    # A retried batch (same Idempotency-Key) gets the first answer again; a different body under
    # the same key is refused rather than silently ignored.
    Column("body_sha256", String(64)),
    Column("result", Json),
)

# Where each rep stands in their team's routing: the round-robin turn they were last given a lead
# on, their credit under weighted routing (smooth weighted round robin), and how many leads they
# were routed in all. One row per (team, rep), created on the rep's first lead.
rep_routing = Table(
    "rep_routing",
    metadata,
    Column("team_key", String(100), primary_key=True),
    Column("rep_id", String(100), primary_key=True),
    Column("last_turn", Integer, nullable=False, server_default="0"),
    Column("credit", Integer, nullable=False, server_default="0"),
    Column("routed", Integer, nullable=False, server_default="0"),
    Column("last_routed_at", UTCDateTime),
)

# Webhooks to reps' chat or CRM, queued with the handoff and delivered with retries. The body and
# its signature are fixed when queued, so a retry sends exactly the same bytes.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("handoff_id", Id, ForeignKey("handoffs.id", ondelete="CASCADE")),
    Column("url", Text, nullable=False),
    Column("event", String(64), nullable=False),  # lead.routed | lead.reassigned | lead.escalated
    Column("body", Text, nullable=False),
    Column("signature", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # queued | delivered | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("claimed_until", UTCDateTime),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Index("ix_webhook_deliveries_due", "next_attempt_at", "id", **_active("status", "queued")),
)

# -- guards against a bad send ----------------------------------------------------------------------

# Sending paused by an operator or by a circuit breaker. ``campaign_key`` '*' pauses all marketing
# mail of the workspace. A pause is over when ``resumed_at`` is set; the row stays, with the figures
# that tripped it, and a breaker counts only what was sent after the last resume.
sending_pauses = Table(
    "sending_pauses",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("campaign_key", String(100), nullable=False),
    Column("reason", String(32), nullable=False),  # manual | hard_bounce_rate | complaint_rate
    Column("detail", String(500)),
    Column("figures", Json),
    Column("paused_by", String(200), nullable=False),
    Column("paused_at", UTCDateTime, nullable=False),
    Column("resumed_by", String(200)),
    Column("resumed_at", UTCDateTime),
    Index("uq_sending_pauses_one_open", "campaign_key", unique=True, **_where("resumed_at IS NULL")),
    Index("ix_sending_pauses_campaign_resumed", "campaign_key", "resumed_at"),
)

# What the outbox handed over, per campaign and minute: the denominators of the breakers, and the
# hard bounces the relay gave at once (those arriving later by mail are events).
send_tallies = Table(
    "send_tallies",
    metadata,
    Column("campaign_key", String(100), primary_key=True),
    Column("minute", UTCDateTime, primary_key=True),
    Column("sent", Integer, nullable=False, server_default="0"),
    Column("hard_bounces", Integer, nullable=False, server_default="0"),
    Index("ix_send_tallies_minute", "minute"),
)

# Who did what to the program and its people: deploys, pauses, erasures, imports, approvals.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject", String(400), nullable=False),
    Column("detail", Json, nullable=False, default=dict),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_action_subject", "action", "subject"),
)

# Consent per lead and subscription topic, every change kept (the latest row is the state):
# pending (asked, e.g. a double opt-in email sent), confirmed, withdrawn; with the proof.
consents = Table(
    "consents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id", ondelete="CASCADE"), nullable=False),
    Column("topic", String(100), nullable=False),
    Column("status", String(16), nullable=False),  # pending | confirmed | withdrawn | expired
    Column("at", UTCDateTime, nullable=False),
    # form, link (a confirmed opt-in), expiry, import file, cli, api
    Column("source", String(200), nullable=False),
    Column("text_version", String(100)),  # which wording of the consent text the person saw
    Column("ip", String(45)),
    Index("ix_consents_lead_topic", "lead_id", "topic", "at"),
    Index("ix_consents_ip_at", "ip", "at"),  # a form's double opt-in limit per IP address
)

# The consent records of erased people, kept by the hash of their address only: the proof that
# they consented (and when they withdrew, and when they were erased) outlives their data.
consent_proofs = Table(
    "consent_proofs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email_hash", String(64), nullable=False),
    Column("topic", String(100), nullable=False),
    Column("status", String(16), nullable=False),  # pending | confirmed | withdrawn
    Column("at", UTCDateTime, nullable=False),
    Column("source", String(200), nullable=False),
    Column("text_version", String(100)),
    Column("ip", String(45)),
    Index("ix_consent_proofs_email_hash", "email_hash", "at"),
)

# Addresses not to be mailed on one topic only (lists brought from a previous tool); the
# workspace-wide ones are ``suppressions``.
topic_suppressions = Table(
    "topic_suppressions",
    metadata,
    Column("email_hash", String(64), primary_key=True),
    Column("topic", String(100), primary_key=True),
    Column("reason", String(32), nullable=False),
    Column("detail", String(500)),
    Column("created_at", UTCDateTime, nullable=False),
)

# Campaign versions confirmed by `nurture plan --apply` although they enrol or send more than the
# plan limits: the daemon runs a held version only once it is here.
plan_approvals = Table(
    "plan_approvals",
    metadata,
    Column("campaign_key", String(100), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("approved_by", String(200), nullable=False),
    Column("approved_at", UTCDateTime, nullable=False),
    Column("figures", Json),
)
