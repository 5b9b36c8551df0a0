"""What follows a change to a lead: points, the MQL rule, routing, the rep's notice, the webhook,
the end of nurture campaigns, in one order (:mod:`nurture.lifecycle.chain`).

The process that owns the settings (a CLI command, the daemon, the HTTP app) makes one
:class:`Lifecycle` per program and hands it to whoever changes leads; they know it only as a
:class:`nurture.facts.WhatFollows`.
"""

from nurture.lifecycle.chain import Lifecycle
from nurture.sales.context import SalesSetup

__all__ = ["Lifecycle", "SalesSetup"]
