"""The definition examples of the product contract (SPEC.md), verbatim."""

CAMPAIGN = """\
kind: Campaign
key: trial-nurture
name: Trial nurture (DACH)
entry:                      # who enters, and when
  on: lead_created          # or: event (with type/where), segment (re-evaluated), manual (SLA recycle, CLI)
  where: "lead.country in ['DE', 'AT', 'CH'] and lead.lifecycle_stage == 'lead'"
re_entry: never             # or a duration after which a lead may enter again
exit_when:                  # checked before every step; a lead leaves as soon as one holds
  - "lead.lifecycle_stage in ['mql', 'sal', 'sql', 'opportunity', 'customer']"
send_window: {days: mon-fri, hours: "09:00-17:00", timezone: lead}   # lead's own zone, else the default
steps:
  - id: welcome
    send: {template: trial/welcome, subject: "Willkommen, {{ lead.first_name }}!"}
  - wait: 2d
  - id: opened-welcome
    branch: {if: "opened('welcome')", then: case-study, else: reminder}
  - id: reminder
    send: {template: trial/reminder, subject: "Schon ausprobiert, {{ lead.first_name }}?"}
  - wait: 3d
  - id: case-study
    send: {template: trial/case-study, subject: "Wie {{ lead.company }} Zeit spart"}
  - wait: {until: "clicked('case-study')", timeout: 5d}
  - id: last-call
    send: {template: trial/last-call, subject: "Noch Fragen?"}
"""

SCORING_MODEL = """\
kind: ScoringModel
name: default
behavior:                                  # points per engagement event
  - {event: email_open, points: 1, max_per_day: 3}
  - {event: email_click, points: 5}
  - {event: download, where: "event.asset_type == 'whitepaper'", points: 10}
  - {event: newsletter_subscribe, points: 5}
  - {event: page_view, where: "'/pricing' in event.url", points: 15}
  - {event: webinar_attended, points: 20}
  - {event: unsubscribe, points: -20}
fit:                                       # points for who the lead is, recomputed when the lead changes
  - {when: "lead.job_title is matching('(?i)head|vp|director|chief|leiter')", points: 15}
  - {when: "50 <= (lead.company_size or 0) <= 1000", points: 10}
  - {when: "lead.email_domain in free_mail_domains", points: -10}
decay: {half_life: 30d}                    # behaviour points fade; fit points do not
"""

SLA = """\
kind: SLA
name: marketing-sales
mql: {when: "lead.score >= 100"}            # agreed by marketing and sales
route_to: dach-sales                         # a SalesTeam
accept_within: 4h                            # counted in the rep's working hours
on_breach: reassign                          # or: escalate (to the team's manager)
max_reassignments: 2
recycle: {campaign: recycle-nurture, score: halve}   # what a rejected lead goes back to
"""

SALES_TEAM = """\
kind: SalesTeam
key: dach-sales
manager: {name: Petra Vogel, email: petra.vogel@example.com}
routing: round_robin                         # or: least_loaded, weighted
reps:
  - {id: anna, name: Anna Schmidt, email: anna.schmidt@example.com, territories: [DE], capacity: 30,
     working_hours: {timezone: Europe/Berlin, days: mon-fri, hours: "08:00-18:00"}}
  - {id: ben, name: Ben Keller, email: ben.keller@example.com, territories: [AT, CH, DE], capacity: 20,
     working_hours: {timezone: Europe/Zurich, days: mon-fri, hours: "08:00-17:00"}}
"""

ALL = "---\n".join((CAMPAIGN, SCORING_MODEL, SLA, SALES_TEAM))
