"""Sender authentication checked against a stub resolver (never the network)."""

from __future__ import annotations

import base64
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nurture.definitions import load_program
from nurture.guards.authentication import DnsError, Finding, check_deliverability, start_warnings
from nurture.guards.authentication.checks import organisational_domain
from nurture.guards.authentication.spf import check_host
from nurture.settings import Settings
from nurture.workspace import Workspace
from tests.certificates import openssl
from tests.program import TRIAL, write_program

RELAY_IP = "198.51.100.25"


@dataclass
class StubResolver:
    """DNS as a dictionary: TXT, A/AAAA and MX answers by name; ``failing`` names time out."""

    txt_records: dict[str, list[str]] = field(default_factory=dict)
    hosts: dict[str, list[str]] = field(default_factory=dict)
    exchangers: dict[str, list[str]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)

    def _ask(self, name: str) -> None:
        self.asked.append(name)
        if name in self.failing:
            raise DnsError(f"cannot look up {name}: Timeout")

    def txt(self, name: str) -> list[str]:
        self._ask(name)
        return self.txt_records.get(name, [])

    def addresses(self, name: str) -> list[str]:
        self._ask(name)
        return self.hosts.get(name, [])

    def mx(self, name: str) -> list[str]:
        self._ask(name)
        return self.exchangers.get(name, [])


@dataclass(frozen=True)
class KeyPair:
    private_file: Path
    public_record: str


@pytest.fixture(scope="session")
def key_pairs(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeyPair, KeyPair]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make DKIM keys")
    pairs = []
    for name in ("current", "other"):
        folder = tmp_path_factory.mktemp(f"dkim-{name}")
        openssl("genrsa", "-traditional", "-out", "dkim.key", "1024", cwd=folder)
        openssl("rsa", "-in", "dkim.key", "-pubout", "-outform", "DER", "-out", "dkim.pub", cwd=folder)
        public = base64.b64encode((folder / "dkim.pub").read_bytes()).decode()
        pairs.append(KeyPair(folder / "dkim.key", f"v=DKIM1; k=rsa; p={public}"))
    return pairs[0], pairs[1]


def _dns(public_record: str) -> StubResolver:
    return StubResolver(
        txt_records={
            "nl2026._domainkey.taktwerk.example": [public_record],
            "taktwerk.example": ["v=spf1 include:_spf.relay.example ~all", "google-site-verification=x"],
            "_spf.relay.example": ["v=spf1 ip4:198.51.100.0/24 -all"],
            "_dmarc.taktwerk.example": ["v=DMARC1; p=quarantine; rua=mailto:dmarc@taktwerk.example"],
        },
        hosts={"relay.example": [RELAY_IP]},
    )


def _settings(key: KeyPair, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "from_address": "Taktwerk <hallo@taktwerk.example>",
        "transport": "smtp://user:secret@relay.example:587",
        "base_url": "https://links.taktwerk.example",
        "dkim_selector": "nl2026",
        "dkim_private_key_file": str(key.private_file),
        **overrides,
    }
    return Settings(**values)


def _errors(findings: list[Finding]) -> list[str]:
    return [f"{f.check}: {f.message}" for f in findings if f.severity == "error"]


def test_a_well_set_up_sender_passes_every_check(key_pairs: tuple[KeyPair, KeyPair], tmp_path: Path) -> None:
    key, _ = key_pairs
    findings = check_deliverability(_settings(key), None, _dns(key.public_record), tmp_path)
    assert _errors(findings) == []
    messages = [f.message for f in findings]
    assert "the key published at nl2026._domainkey.taktwerk.example matches dkim_private_key_file" in messages
    assert f"taktwerk.example allows the relay relay.example ({RELAY_IP})" in messages
    assert (
        "From taktwerk.example is aligned with the tracking domain (base_url) links.taktwerk.example"
        in messages
    )


def test_a_dkim_key_mismatch_is_an_error(key_pairs: tuple[KeyPair, KeyPair], tmp_path: Path) -> None:
    key, other = key_pairs
    findings = check_deliverability(_settings(key), None, _dns(other.public_record), tmp_path)
    (error,) = _errors(findings)
    assert error.startswith("DKIM: the key published at nl2026._domainkey.taktwerk.example does not match")


def test_a_misaligned_from_and_tracking_domain_are_errors(
    key_pairs: tuple[KeyPair, KeyPair], tmp_path: Path
) -> None:
    key, _ = key_pairs
    root = tmp_path / "ws"
    (root / "templates").mkdir(parents=True)
    write_program(
        root,
        TRIAL.replace(
            'subject: "Fallstudie"', 'subject: "Fallstudie", from: "News <news@other-brand.example>"'
        ),
    )
    program = load_program(Workspace(root))
    settings = _settings(key, base_url="https://t.clicktracker.example")
    errors = _errors(check_deliverability(settings, program, _dns(key.public_record), root))
    assert (
        "alignment: campaign trial step case-study sends from other-brand.example, but nurture signs "
        "DKIM for taktwerk.example only: From other-brand.example is not aligned with "
        "d=taktwerk.example (send it from taktwerk.example)"
    ) in errors
    assert (
        "alignment: From taktwerk.example is not aligned with the tracking domain (base_url) "
        "t.clicktracker.example"
    ) in errors


def test_spf_that_does_not_allow_the_relay_and_a_missing_dmarc_are_errors(
    key_pairs: tuple[KeyPair, KeyPair], tmp_path: Path
) -> None:
    key, _ = key_pairs
    dns = _dns(key.public_record)
    dns.txt_records["_spf.relay.example"] = ["v=spf1 ip4:203.0.113.0/24 -all"]
    del dns.txt_records["_dmarc.taktwerk.example"]
    errors = _errors(check_deliverability(_settings(key), None, dns, tmp_path))
    assert any(
        e.startswith(f"SPF: taktwerk.example does not allow the relay relay.example ({RELAY_IP}): softfail")
        for e in errors
    )
    assert "DMARC: no DMARC record at _dmarc.taktwerk.example" in errors


def test_without_a_signature_over_list_unsubscribe_one_click_is_an_error_unless_the_relay_signs(
    key_pairs: tuple[KeyPair, KeyPair], tmp_path: Path
) -> None:
    key, _ = key_pairs
    unsigned = _settings(key, dkim_selector=None, dkim_private_key_file=None)
    errors = _errors(check_deliverability(unsigned, None, _dns(key.public_record), tmp_path))
    assert any(e.startswith("RFC 8058: one-click unsubscribe needs a DKIM signature") for e in errors)
    assert start_warnings(unsigned)  # the daemon warns at start; it never refuses to send
    relay_signs = _settings(key, dkim_selector=None, dkim_private_key_file=None, relay_signs_dkim=True)
    assert _errors(check_deliverability(relay_signs, None, _dns(key.public_record), tmp_path)) == []
    assert start_warnings(relay_signs) == []


def test_a_dns_failure_is_a_warning_not_a_verdict(key_pairs: tuple[KeyPair, KeyPair], tmp_path: Path) -> None:
    key, _ = key_pairs
    dns = _dns(key.public_record)
    dns.failing.add("_dmarc.taktwerk.example")
    findings = check_deliverability(_settings(key), None, dns, tmp_path)
    assert _errors(findings) == []
    assert any(f.severity == "warning" and "Timeout" in f.message for f in findings)


@pytest.mark.parametrize(
    ("record", "ip", "result"),
    [
        ("v=spf1 ip4:192.0.2.0/24 -all", "192.0.2.10", "pass"),
        ("v=spf1 ip4:192.0.2.0/24 -all", "192.0.3.10", "fail"),
        ("v=spf1 ip4:192.0.2.0/24 ~all", "192.0.3.10", "softfail"),
        ("v=spf1 ip6:2001:db8::/32 -all", "2001:db8::1", "pass"),
        ("v=spf1 a -all", "192.0.2.80", "pass"),
        ("v=spf1 a:www.example.com/24 -all", "192.0.2.99", "pass"),
        ("v=spf1 mx -all", "192.0.2.25", "pass"),
        ("v=spf1 mx -all", "192.0.2.26", "fail"),
        ("v=spf1 redirect=_spf.example.com", "198.51.100.7", "pass"),
        ("v=spf1 exists:%{i}.bl.example -all", "192.0.2.1", "unknown"),
        ("v=spf1 ?all", "192.0.2.1", "neutral"),
        ("v=spf1 -ip4:192.0.2.1 +all", "192.0.2.1", "fail"),
    ],
)
def test_spf_verdicts(record: str, ip: str, result: str) -> None:
    dns = StubResolver(
        txt_records={"example.com": [record], "_spf.example.com": ["v=spf1 ip4:198.51.100.0/24 -all"]},
        hosts={
            "example.com": ["192.0.2.80"],
            "www.example.com": ["192.0.2.1"],
            "mx.example.com": ["192.0.2.25"],
        },
        exchangers={"example.com": ["mx.example.com"]},
    )
    assert check_host(dns, ip, "example.com").result == result


def test_spf_stops_after_ten_lookups() -> None:
    records = {f"d{i}.example": [f"v=spf1 include:d{i + 1}.example -all"] for i in range(12)}
    assert check_host(StubResolver(txt_records=records), "192.0.2.1", "d0.example").result == "permerror"


@pytest.mark.parametrize(
    ("domain", "organisational"),
    [("taktwerk.example", "taktwerk.example"), ("links.taktwerk.example", "taktwerk.example"),
     ("mail.shop.co.uk", "shop.co.uk"), ("shop.co.uk", "shop.co.uk")],
)  # fmt: skip
def test_organisational_domains(domain: str, organisational: str) -> None:
    assert organisational_domain(domain) == organisational


def signing_workspace(workspace: Path, key: KeyPair) -> None:
    """The program, sending through a relay on the network and signing with ``key``."""
    write_program(workspace)
    with (workspace / "nurture.toml").open("a", encoding="utf-8") as settings:
        settings.write(
            'from_address = "Taktwerk <hallo@taktwerk.example>"\ntransport = "smtp://relay.example:587"\n'
            f'base_url = "https://links.taktwerk.example"\ndkim_selector = "nl2026"\n'
            f'dkim_private_key_file = "{key.private_file}"\n'
        )


def test_check_deliverability_on_the_command_line(
    cli: Any, workspace: Path, key_pairs: tuple[KeyPair, KeyPair], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, other = key_pairs
    signing_workspace(workspace, key)
    import nurture.cli.check as check_command

    monkeypatch.setattr(check_command, "resolver", lambda: _dns(other.public_record))  # DNS is the seam
    result = cli("check", "--deliverability")
    assert result.exit_code == 1
    assert (
        "deliverability: error: DKIM: the key published at nl2026._domainkey.taktwerk.example does not"
        in result.output
    )
    monkeypatch.setattr(check_command, "resolver", lambda: _dns(key.public_record))
    assert cli("check", "--deliverability").exit_code == 0


def test_check_json_carries_the_deliverability_findings_and_counts_their_errors(
    cli: Any, workspace: Path, key_pairs: tuple[KeyPair, KeyPair], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, other = key_pairs
    signing_workspace(workspace, key)
    import nurture.cli.check as check_command

    monkeypatch.setattr(check_command, "resolver", lambda: _dns(other.public_record))  # DNS is the seam
    result = cli("check", "--json", "--deliverability")
    assert result.exit_code == 1, result.output
    document = json.loads(result.output)
    assert document["ok"] is False and document["errors"] == 0  # the definitions themselves are fine
    assert all(set(f) == {"severity", "check", "message"} for f in document["deliverability"])
    dkim = [f for f in document["deliverability"] if f["check"] == "DKIM"]
    assert dkim[0]["severity"] == "error"
    assert dkim[0]["message"].startswith("the key published at nl2026._domainkey.taktwerk.example does not")

    monkeypatch.setattr(check_command, "resolver", lambda: _dns(key.public_record))
    result = cli("check", "--json", "--deliverability")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["ok"] is True and document["deliverability"]
    assert {f["severity"] for f in document["deliverability"]} == {"ok"}
    quiet = json.loads(cli("check", "--json", "--deliverability", "--quiet").output)
    assert quiet["ok"] is True and quiet["deliverability"] == []  # --quiet keeps errors only
    assert "deliverability" not in json.loads(cli("check", "--json").output)  # not looked up unless asked
