"""Reports: the funnel, each campaign's figures, how well sales keeps the SLA, and one lead's profile."""
