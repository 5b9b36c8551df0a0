"""Does a domain's SPF record allow an address to send for it? (RFC 7208, the parts mail needs.)

Supported: ``all``, ``ip4``, ``ip6``, ``a``, ``mx``, ``include`` and ``redirect``, with their
qualifiers and CIDR lengths, and the limit of 10 lookups. ``exists``, ``ptr`` and macros are not
evaluated: a record that needs them gives ``unknown`` rather than a guess.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from nurture.guards.authentication.dns import Resolver

MAX_LOOKUPS = 10
_RESULTS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


@dataclass(frozen=True)
class SpfVerdict:
    result: str  # pass | fail | softfail | neutral | none | permerror | unknown
    detail: str


class _TooManyLookups(Exception):
    pass


def spf_record(resolver: Resolver, domain: str) -> list[str]:
    """The SPF records of ``domain`` (more than one is itself an error)."""
    return [r for r in resolver.txt(domain) if r.lower().startswith("v=spf1") and r[6:7] in ("", " ")]


def check_host(resolver: Resolver, ip: str, domain: str) -> SpfVerdict:
    """The SPF result for mail from ``ip`` claiming ``domain``."""
    try:
        return _evaluate(resolver, ipaddress.ip_address(ip), domain, [0])
    except _TooManyLookups:
        return SpfVerdict("permerror", f"more than {MAX_LOOKUPS} DNS lookups")


def _count(lookups: list[int]) -> None:
    lookups[0] += 1
    if lookups[0] > MAX_LOOKUPS:
        raise _TooManyLookups


def _evaluate(
    resolver: Resolver, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, domain: str, lookups: list[int]
) -> SpfVerdict:
    records = spf_record(resolver, domain)
    if not records:
        return SpfVerdict("none", f"{domain} has no SPF record")
    if len(records) > 1:
        return SpfVerdict("permerror", f"{domain} has {len(records)} SPF records (one is allowed)")
    redirect = None
    for term in records[0].split()[1:]:
        if term.lower().startswith("redirect="):
            redirect = term.split("=", 1)[1]
            continue
        if "=" in term:
            continue  # exp= and unknown modifiers
        qualifier = term[0] if term[0] in _RESULTS else "+"
        mechanism = term[1:] if term[0] in _RESULTS else term
        name, _, argument = mechanism.partition(":")
        name = name.lower()
        matched = _matches(resolver, ip, domain, name, argument, mechanism, lookups)
        if matched is None:
            return SpfVerdict("unknown", f"{domain}: '{term}' is not evaluated here")
        if matched:
            return SpfVerdict(_RESULTS[qualifier], f"{domain}: matched '{term}'")
    if redirect:
        _count(lookups)
        return _evaluate(resolver, ip, redirect, lookups)
    return SpfVerdict("neutral", f"{domain}: nothing matched")


def _matches(
    resolver: Resolver,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    domain: str,
    name: str,
    argument: str,
    mechanism: str,
    lookups: list[int],
) -> bool | None:
    if name == "all":
        return True
    if name in ("ip4", "ip6"):
        try:
            return ip in ipaddress.ip_network(argument, strict=False)
        except ValueError:
            return False
    if name == "include":
        _count(lookups)
        inner = _evaluate(resolver, ip, argument, lookups)
        if inner.result in ("permerror", "unknown", "none"):
            return None if inner.result == "unknown" else False
        return inner.result == "pass"
    if name.split("/", 1)[0] in ("a", "mx"):
        kind, _, cidr = mechanism.partition("/")
        target = argument.split("/", 1)[0] if argument else domain
        v4 = int(cidr.split("//")[0]) if cidr and cidr.split("//")[0] else 32
        _count(lookups)
        hosts = [target] if kind.lower().startswith("a") else resolver.mx(target)
        for host in hosts:
            for address in resolver.addresses(host):
                network = ipaddress.ip_network(f"{address}/{v4 if ':' not in address else 128}", strict=False)
                if ip in network:
                    return True
        return False
    return None  # exists, ptr, macros
