"""The DNS questions the checks ask, behind one small interface (dnspython in production, a stub
in tests: the tests never touch the network)."""

from __future__ import annotations

from typing import Protocol

import dns.exception
import dns.resolver

from nurture.errors import NurtureError

LOOKUP_SECONDS = 5.0


class DnsError(NurtureError):
    """A lookup that failed (timeout, server failure): not the same as "no such record"."""


class Resolver(Protocol):
    def txt(self, name: str) -> list[str]:
        """The TXT records at ``name`` (each record's strings joined); [] when there are none."""
        ...

    def addresses(self, name: str) -> list[str]:
        """The IPv4 and IPv6 addresses of ``name``; [] when there are none."""
        ...

    def mx(self, name: str) -> list[str]:
        """The mail exchangers of ``name`` (host names); [] when there are none."""
        ...


class DnsPythonResolver:
    """The system's resolvers, through dnspython."""

    def __init__(self, lifetime: float = LOOKUP_SECONDS) -> None:
        try:
            self._resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            raise DnsError("no DNS resolver is configured on this machine (/etc/resolv.conf)") from None
        self._resolver.lifetime = lifetime

    def _answer(self, name: str, kind: str) -> list[str]:
        try:
            answer = self._resolver.resolve(name, kind)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as exc:
            raise DnsError(f"cannot look up {kind} {name}: {exc.__class__.__name__}") from None
        if kind == "TXT":
            return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]
        if kind == "MX":
            return [str(r.exchange).rstrip(".") for r in answer]
        return [r.to_text() for r in answer]

    def txt(self, name: str) -> list[str]:
        return self._answer(name, "TXT")

    def addresses(self, name: str) -> list[str]:
        return self._answer(name, "A") + self._answer(name, "AAAA")

    def mx(self, name: str) -> list[str]:
        return self._answer(name, "MX")
