"""Leads: the people nurture writes to, their fields, import, profile and erasure."""
