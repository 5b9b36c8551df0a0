"""Leads: the people nurture writes to, their fields, import and erasure."""
