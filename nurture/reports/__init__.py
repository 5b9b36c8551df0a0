"""Reports: the funnel, each campaign's figures and how well sales keeps the SLA."""
