"""Recipient host groups (MX, with a stub resolver: no network) and the per-group throttle, on a
moved clock."""

from __future__ import annotations

import pytest

from nurture.delivery.mail_hosts import FAILED_TTL, MailHosts, registrable
from nurture.delivery.throttle import RECOVERY, HostLimit, Throttle
from nurture.delivery.transports import SendResult

MX = {
    "firma.de": [(10, "firma-de.mail.protection.outlook.com")],
    "werkzeug.at": [(10, "werkzeug-at.mail.protection.outlook.com")],
    "baeckerei.de": [(20, "mx01.hoster.de"), (10, "mx00.hoster.de")],
    "metzgerei.de": [(10, "mx02.hoster.de")],
    "startup.io": [(1, "aspmx.l.google.com"), (5, "alt1.aspmx.l.google.com")],
    "shop.co.uk": [(10, "mx.mailhost.co.uk")],
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class StubDns:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, domain: str) -> tuple[list[tuple[int, str]], float]:
        self.asked.append(domain)
        if domain not in MX:
            raise LookupError(f"no MX for {domain}")
        return MX[domain], 3600.0


def test_domains_behind_one_provider_or_hoster_share_a_group() -> None:
    dns = StubDns()
    hosts = MailHosts(dns, clock=Clock())
    domains = ["Firma.de", "werkzeug.at", "baeckerei.de", "metzgerei.de", "startup.io", "gmail.com"]
    groups = hosts.groups([*domains, "web.de", "t-online.de", "nomx.de", "shop.co.uk"])
    assert groups == {
        "firma.de": "microsoft",
        "werkzeug.at": "microsoft",
        "baeckerei.de": "hoster.de",  # the most preferred MX (mx00) decides
        "metzgerei.de": "hoster.de",
        "startup.io": "google",
        "gmail.com": "google",
        "web.de": "gmx-web.de",
        "t-online.de": "t-online",
        "nomx.de": "nomx.de",  # no MX: the domain is its own mail host
        "shop.co.uk": "mailhost.co.uk",
    }
    assert "gmail.com" not in dns.asked and "web.de" not in dns.asked  # known without DNS


def test_mx_answers_are_cached_for_their_ttl_and_failures_for_a_while() -> None:
    dns, clock = StubDns(), Clock()
    hosts = MailHosts(dns, clock=clock)
    hosts.group("firma.de")
    hosts.group("nomx.de")
    clock.now += FAILED_TTL - 1
    hosts.group("firma.de")
    hosts.group("nomx.de")
    assert dns.asked == ["firma.de", "nomx.de"]
    clock.now += 2  # the failure is asked again; the answer (TTL 3600 s) is still good
    hosts.group("firma.de")
    hosts.group("nomx.de")
    assert dns.asked == ["firma.de", "nomx.de", "nomx.de"]
    clock.now += 3600
    hosts.group("firma.de")
    assert dns.asked[-1] == "firma.de"


def test_without_mx_lookups_a_domain_is_its_own_group_unless_a_known_provider() -> None:
    hosts = MailHosts(None)
    assert hosts.groups(["firma.de", "GMX.net"]) == {"firma.de": "firma.de", "gmx.net": "gmx-web.de"}


@pytest.mark.parametrize(
    ("host", "expected"),
    [("mx01.eu.hoster.de", "hoster.de"), ("mx.mailhost.co.uk", "mailhost.co.uk"), ("hoster.de", "hoster.de")],
)
def test_registrable_domain_of_an_mx_host(host: str, expected: str) -> None:
    assert registrable(host) == expected


def deferral(code: int = 421, stage: str = "rcpt") -> SendResult:
    return SendResult.retry(f"{code} 4.7.0 try again later", code, stage)


def test_the_rate_limit_spaces_emails_per_group_and_groups_do_not_wait_for_each_other() -> None:
    clock = Clock()
    throttle = Throttle({"slow": HostLimit(2, 10), "default": HostLimit(100, 10)}, clock)
    for _ in range(2):  # a burst of one second's worth
        assert throttle.wait("slow") == 0
        throttle.begin("slow")
        throttle.end("slow", SendResult.ok())
    assert throttle.wait("slow") == pytest.approx(0.5)
    assert throttle.wait("other") == 0  # another group is not held up
    clock.now += 0.5
    assert throttle.wait("slow") == 0


def test_the_connection_limit_counts_emails_on_the_wire() -> None:
    throttle = Throttle({"default": HostLimit(1000, 2)}, Clock())
    throttle.begin("a")
    throttle.begin("a")
    assert throttle.wait("a") > 0
    throttle.end("a", SendResult.ok())
    assert throttle.wait("a") == 0


def test_a_deferral_halves_the_group_at_once_and_it_recovers_gradually() -> None:
    clock = Clock()
    throttle = Throttle({"microsoft": HostLimit(10, 8), "default": HostLimit(10, 8)}, clock)
    throttle.begin("microsoft")
    throttle.end("microsoft", deferral(421))
    assert (throttle.rate("microsoft"), throttle.connections("microsoft")) == (5, 4)
    assert (throttle.rate("google"), throttle.connections("google")) == (10, 8)  # only that host
    throttle.begin("microsoft")
    throttle.end("microsoft", deferral(451, "data"))  # the same burst: not halved again
    assert throttle.rate("microsoft") == 5
    clock.now += RECOVERY / 2
    assert throttle.rate("microsoft") == pytest.approx(7.5)
    throttle.begin("microsoft")
    throttle.end("microsoft", deferral(450))  # halved from where it had recovered to
    assert throttle.rate("microsoft") == pytest.approx(3.75)
    clock.now += RECOVERY
    assert (throttle.rate("microsoft"), throttle.connections("microsoft")) == (10, 8)
    state = {s.group: s for s in throttle.states()}["microsoft"]
    assert (state.refusals, state.in_flight) == (3, 0)


@pytest.mark.parametrize(
    "result",
    [
        SendResult.retry("cannot connect to the relay", stage="connect"),  # the relay, not the host
        SendResult.rejected(550, "no such user", "rcpt"),
        SendResult.ok(),
        None,  # never went
    ],
)
def test_only_a_temporary_refusal_of_the_email_slows_its_host(result: SendResult | None) -> None:
    throttle = Throttle({"default": HostLimit(10, 4)}, Clock())
    throttle.begin("a")
    throttle.end("a", result)
    assert throttle.rate("a") == 10
