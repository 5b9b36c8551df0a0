"""Reports: the cohort waterfall, velocity, stuck leads, touches, attribution, money, campaigns and
the SLA. ``queries`` reads the history as plain rows; each other module computes one figure from
them; ``report`` puts the figures together once for every surface (text, JSON, CSV, HTML)."""
