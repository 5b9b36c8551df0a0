"""Which mail host receives a recipient's email, grouped the way mailbox providers count senders.

A provider limits what it takes from one sender across all the domains it hosts: thousands of
DACH companies receive their mail through Microsoft 365, Google Workspace or IONOS, so the
recipient's domain alone is the wrong key. The key here is the *host group*:

* a known provider (Google, Microsoft, GMX/Web.de, T-Online, Yahoo/AOL, Apple, IONOS, freenet),
  recognised by the recipient's domain (``gmail.com``, ``web.de``) without asking DNS, or by the
  names of the domain's MX hosts (``firma.de`` -> ``firma-de.mail.protection.outlook.com`` ->
  ``microsoft``);
* otherwise the registrable domain of the domain's most preferred MX host (``mx1.hoster.de`` ->
  ``hoster.de``), so the customers of one hosting company share a group;
* a domain without MX records (or whose lookup failed) is its own mail host (RFC 5321 5.1).

MX answers are cached for their TTL (at least a minute, at most a day); failures for
:data:`FAILED_TTL`. Lookups run on a few threads of their own, never on the event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

# (preference, host) pairs and how long the answer may be kept (seconds); LookupError: no MX.
MxLookup = Callable[[str], tuple[list[tuple[int, str]], float]]

MIN_TTL = 60.0
MAX_TTL = 86_400.0
FAILED_TTL = 300.0
LOOKUP_THREADS = 8


@dataclass(frozen=True)
class Provider:
    """A mailbox provider: the MX host names and the mailbox domains that are its own."""

    name: str
    mx_suffixes: tuple[str, ...]
    domains: tuple[str, ...] = ()


PROVIDERS = (
    Provider("google", ("google.com", "googlemail.com"), ("gmail.com", "googlemail.com")),
    Provider(
        "microsoft",
        ("outlook.com", "hotmail.com", "outlook.de"),
        ("outlook.com", "outlook.de", "hotmail.com", "hotmail.de", "live.com", "live.de", "msn.com"),
    ),
    Provider(
        "gmx-web.de",
        ("gmx.net", "gmx.de", "web.de", "mail.com"),
        ("gmx.de", "gmx.net", "gmx.at", "gmx.ch", "web.de", "mail.com"),
    ),
    Provider("t-online", ("t-online.de",), ("t-online.de", "magenta.de")),
    Provider(
        "yahoo", ("yahoodns.net", "yahoo.com", "aol.com"), ("yahoo.com", "yahoo.de", "aol.com", "aol.de")
    ),
    Provider("apple", ("icloud.com", "me.com"), ("icloud.com", "me.com", "mac.com")),
    Provider(
        "ionos", ("kundenserver.de", "ionos.de", "ionos.com", "1and1.com", "perfora.net"), ("online.de",)
    ),
    Provider("freenet", ("freenet.de",), ("freenet.de",)),
)

# Second-level labels under which registrations sit one level deeper (co.uk, com.au, or.at, ...):
# enough of the public suffix list for grouping MX hosts; a miss only makes a group finer.
_SECOND_LEVEL = {"co", "com", "net", "org", "or", "ac", "gv", "gov", "edu", "ltd", "plc", "ne", "go"}


def registrable(host: str) -> str:
    """The registrable part of a host name, e.g. ``hoster.de`` of ``mx01.eu.hoster.de``."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _provider_by_mx(host: str) -> str | None:
    for provider in PROVIDERS:
        for suffix in provider.mx_suffixes:
            if host == suffix or host.endswith("." + suffix):
                return provider.name
    return None


_BY_DOMAIN = {domain: provider.name for provider in PROVIDERS for domain in provider.domains}


def dns_mx_lookup(lifetime: float = 3.0) -> MxLookup:
    """MX lookups through the system's resolver (dnspython)."""
    # why: dnspython loads the system's resolver configuration; only a sender needs it
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver()
    resolver.lifetime = lifetime

    def lookup(domain: str) -> tuple[list[tuple[int, str]], float]:
        try:
            answer = resolver.resolve(domain, "MX")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers) as exc:
            raise LookupError(f"no MX for {domain}: {exc}") from None
        except dns.exception.DNSException as exc:
            raise LookupError(f"MX lookup for {domain} failed: {exc}") from None
        ttl = float(answer.rrset.ttl) if answer.rrset is not None else MIN_TTL
        hosts = [(int(r.preference), str(r.exchange).rstrip(".").lower()) for r in answer]
        return hosts, ttl

    return lookup


class MailHosts:
    """Recipient domain -> host group, with MX answers cached for their TTL."""

    def __init__(self, lookup: MxLookup | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.lookup = lookup  # None: no DNS, known provider domains and the domain itself only
        self.clock = clock
        self._cache: dict[str, tuple[str, float]] = {}  # domain -> (group, expires)
        self._lock = threading.Lock()

    def group(self, domain: str) -> str:
        """The host group of one recipient domain (may ask DNS: call off the event loop)."""
        return self.groups([domain])[domain.lower()]

    def groups(self, domains: Iterable[str]) -> dict[str, str]:
        """The host group of each domain (lower-cased keys); uncached MX lookups run in parallel."""
        now = self.clock()
        found: dict[str, str] = {}
        missing: list[str] = []
        with self._lock:
            for domain in {d.lower().rstrip(".") for d in domains}:
                known = _BY_DOMAIN.get(domain)
                cached = self._cache.get(domain)
                if known is not None or self.lookup is None:
                    found[domain] = known or domain
                elif cached is not None and cached[1] > now:
                    found[domain] = cached[0]
                else:
                    missing.append(domain)
        if missing:
            with ThreadPoolExecutor(min(LOOKUP_THREADS, len(missing)), "nurture-mx") as pool:
                answers = list(pool.map(self._resolve, missing))
            with self._lock:
                for domain, (group, ttl) in zip(missing, answers, strict=True):
                    self._cache[domain] = (group, now + ttl)
                    found[domain] = group
        return found

    def _resolve(self, domain: str) -> tuple[str, float]:
        assert self.lookup is not None
        try:
            hosts, ttl = self.lookup(domain)
        except LookupError:
            return domain, FAILED_TTL
        if not hosts:
            return domain, FAILED_TTL
        ttl = min(max(ttl, MIN_TTL), MAX_TTL)
        for _, host in sorted(hosts):
            provider = _provider_by_mx(host)
            if provider is not None:
                return provider, ttl
        return registrable(min(hosts)[1]), ttl
