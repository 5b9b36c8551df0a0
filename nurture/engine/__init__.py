"""The campaign engine: who enters which campaign, what each step does, and when.

:mod:`plan` decides (pure functions over a campaign, a lead and the time); :mod:`pacing` says when
a send may go out; :mod:`enrollments` and :mod:`entry` talk to the database; :mod:`tick` runs
everything due at one moment.
"""
