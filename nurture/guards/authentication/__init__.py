"""Sender authentication checked before a send: DKIM, SPF, DMARC and their alignment."""

from nurture.guards.authentication.checks import Finding, check_deliverability, start_warnings
from nurture.guards.authentication.dns import DnsError, DnsPythonResolver, Resolver

__all__ = ["DnsError", "DnsPythonResolver", "Finding", "Resolver", "check_deliverability", "start_warnings"]
