"""``nurture check --deliverability``: will the mail authenticate, and do the domains align?

What is checked, for the From domain of the workspace and of every step that sends from another:

* **DKIM** — with a key configured (``dkim_selector``, ``dkim_private_key_file``), the public key
  published at ``SELECTOR._domainkey.DOMAIN`` is the one that matches the private key. Nurture signs
  for the ``from_address`` domain only, so a step sending from another domain is refused here.
  RFC 8058 one-click unsubscribe needs a DKIM signature covering ``List-Unsubscribe`` and
  ``List-Unsubscribe-Post``: without a key, ``relay_signs_dkim = true`` must declare that the relay
  signs, or this is an error (sending is never refused for it: test relays stay usable).
* **SPF** — the bounce address (``bounces+TOKEN@`` the From domain) may be sent from the relay: the
  relay host's addresses are judged against the domain's SPF record.
* **DMARC** — a record exists at ``_dmarc.`` the From domain (or its organisational domain), and
  the From domain, the DKIM signing domain (``d=``), the bounce domain and the tracking domain
  (``base_url``) share one organisational domain (relaxed alignment, as DMARC's default).

The organisational domain is the last two labels of a name, three under the common two-label
public suffixes (``co.uk``, ``com.au``, ...): a close reading of the public suffix list, enough
for alignment between a company's own names.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import dkim.crypto

from nurture.definitions import Program, SendStep
from nurture.delivery.headers import Address
from nurture.guards.authentication.dns import DnsError, Resolver
from nurture.guards.authentication.spf import check_host, spf_record
from nurture.settings import Settings

Severity = Literal["error", "warning", "ok"]
_TWO_LABEL_SUFFIXES = frozenset(
    {
        "co.uk",
        "org.uk",
        "ac.uk",
        "gov.uk",
        "com.au",
        "net.au",
        "org.au",
        "co.nz",
        "co.jp",
        "co.at",
        "or.at",
        "com.br",
        "com.cn",
        "co.in",
        "co.za",
        "com.mx",
        "com.tr",
        "co.kr",
    }
)


@dataclass(frozen=True)
class Finding:
    severity: Severity
    check: str  # DKIM | SPF | DMARC | alignment | RFC 8058
    message: str

    def __str__(self) -> str:
        return f"deliverability: {self.severity}: {self.check}: {self.message}"


def organisational_domain(domain: str) -> str:
    labels = domain.lower().rstrip(".").split(".")
    keep = 3 if ".".join(labels[-2:]) in _TWO_LABEL_SUFFIXES else 2
    return ".".join(labels[-keep:])


def _domain(address: str) -> str:
    return Address.parse(address).domain.lower()


def signing_findings(settings: Settings) -> list[Finding]:
    """RFC 8058: who puts the DKIM signature over the List-Unsubscribe headers (no DNS needed)."""
    if settings.dkim_selector and settings.dkim_private_key_file:
        return [
            Finding("ok", "RFC 8058", "nurture signs List-Unsubscribe and List-Unsubscribe-Post with DKIM")
        ]
    if settings.relay_signs_dkim:
        return [Finding("ok", "RFC 8058", "the relay signs with DKIM (relay_signs_dkim = true)")]
    return [
        Finding(
            "error",
            "RFC 8058",
            "one-click unsubscribe needs a DKIM signature over List-Unsubscribe and List-Unsubscribe-Post: "
            "set dkim_selector and dkim_private_key_file, or relay_signs_dkim = true when the relay signs",
        )
    ]


def start_warnings(settings: Settings) -> list[str]:
    """What the daemon warns about at start without asking DNS."""
    return [f.message for f in signing_findings(settings) if f.severity == "error"]


def check_deliverability(
    settings: Settings, program: Program | None, resolver: Resolver, workspace_root: Path
) -> list[Finding]:
    """Every finding, errors first within each check."""
    domain = _domain(settings.from_address)
    findings = signing_findings(settings)
    findings += _dkim(settings, domain, resolver, workspace_root)
    findings += _other_senders(settings, program, domain)
    findings += _spf(settings, domain, resolver)
    findings += _dmarc(settings, domain, resolver)
    return findings


def _lookup(resolver: Resolver, name: str, check: str, findings: list[Finding]) -> list[str] | None:
    try:
        return resolver.txt(name)
    except DnsError as exc:
        findings.append(Finding("warning", check, str(exc)))
        return None


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            tags[name.strip().lower()] = "".join(value.split())
    return tags


def _dkim(settings: Settings, domain: str, resolver: Resolver, root: Path) -> list[Finding]:
    selector = settings.dkim_selector
    if not selector:
        return []
    name = f"{selector}._domainkey.{domain}"
    findings: list[Finding] = []
    records = _lookup(resolver, name, "DKIM", findings)
    if records is None:
        return findings
    keys = [_tags(r) for r in records if "p=" in r.replace(" ", "")]
    if not keys:
        return [Finding("error", "DKIM", f"no DKIM key is published at {name}")]
    published = keys[0].get("p", "")
    if not published:
        return [Finding("error", "DKIM", f"the key at {name} is revoked (empty p=)")]
    if not settings.dkim_private_key_file:
        return [Finding("ok", "DKIM", f"a key is published at {name} (the relay holds the private key)")]
    path = Path(settings.dkim_private_key_file).expanduser()
    path = path if path.is_absolute() else root / path
    try:
        private = dkim.crypto.parse_pem_private_key(path.read_bytes())
        public = dkim.crypto.parse_public_key(base64.b64decode(published))
    except (OSError, ValueError, dkim.crypto.UnparsableKeyError) as exc:
        return [Finding("error", "DKIM", f"cannot compare the keys of {name}: {exc}")]
    same = (private["modulus"], private["publicExponent"]) == (public["modulus"], public["publicExponent"])
    if not same:
        return [
            Finding(
                "error",
                "DKIM",
                f"the key published at {name} does not match dkim_private_key_file: receivers will "
                "reject the signature (publish the public key of this private key, or use a new selector)",
            )
        ]
    return [Finding("ok", "DKIM", f"the key published at {name} matches dkim_private_key_file")]


def _other_senders(settings: Settings, program: Program | None, domain: str) -> list[Finding]:
    """Steps that send from another domain than the one DKIM signs for."""
    if program is None:
        return []
    findings = []
    for campaign in program.campaigns.values():
        for step in campaign.steps:
            if not isinstance(step, SendStep) or not step.send.from_:
                continue
            senders = step.send.from_
            others = {_domain(s) for s in ([senders] if isinstance(senders, str) else senders.values())}
            others.discard(domain)
            if not others:
                continue
            other = ", ".join(sorted(others))
            where = f"campaign {campaign.key} step {step.step_id} sends from {other}"
            if settings.dkim_selector and settings.dkim_private_key_file:
                findings.append(
                    Finding(
                        "error",
                        "alignment",
                        f"{where}, but nurture signs DKIM for {domain} only: "
                        f"From {other} is not aligned with d={domain} (send it from {domain})",
                    )
                )
            else:
                findings.append(
                    Finding("warning", "alignment", f"{where}: make sure the relay signs with d={other}")
                )
    return findings


def _spf(settings: Settings, domain: str, resolver: Resolver) -> list[Finding]:
    findings: list[Finding] = []
    try:
        records = spf_record(resolver, domain)
    except DnsError as exc:
        return [Finding("warning", "SPF", str(exc))]
    if not records:
        return [Finding("error", "SPF", f"{domain} (the bounce address's domain) has no SPF record")]
    if len(records) > 1:
        return [
            Finding("error", "SPF", f"{domain} has {len(records)} SPF records; receivers ignore them all")
        ]
    url = urlsplit(settings.transport)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        return [
            Finding(
                "ok",
                "SPF",
                f"{domain} has an SPF record (the transport sends nothing out: relay not checked)",
            )
        ]
    host = url.hostname
    try:
        addresses = [host] if _is_ip(host) else resolver.addresses(host)
    except DnsError as exc:
        return [Finding("warning", "SPF", str(exc))]
    public = [a for a in addresses if not _internal(a)]
    if not public:
        return [
            Finding(
                "warning",
                "SPF",
                f"the relay {host} has no public address; SPF is judged for the "
                "address it sends from, which cannot be seen from here",
            )
        ]
    for address in public:
        verdict = check_host(resolver, address, domain)
        if verdict.result == "pass":
            findings.append(Finding("ok", "SPF", f"{domain} allows the relay {host} ({address})"))
        elif verdict.result == "unknown":
            findings.append(
                Finding("warning", "SPF", f"cannot judge the relay {host} ({address}): {verdict.detail}")
            )
        else:
            refused = f"{domain} does not allow the relay {host} ({address})"
            findings.append(Finding("error", "SPF", f"{refused}: {verdict.result}, {verdict.detail}"))
    return findings


_INTERNAL = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10")
)


def _internal(address: str) -> bool:
    """Loopback and private-network addresses: a relay there sends out from another address."""
    ip = ipaddress.ip_address(address)
    return ip.is_loopback or any(ip in network for network in _INTERNAL)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _dmarc(settings: Settings, domain: str, resolver: Resolver) -> list[Finding]:
    findings: list[Finding] = []
    org = organisational_domain(domain)
    record = None
    names = list(dict.fromkeys((f"_dmarc.{domain}", f"_dmarc.{org}")))
    for name in names:
        records = _lookup(resolver, name, "DMARC", findings)
        if records is None:
            return findings
        found = [r for r in records if r.lower().replace(" ", "").startswith("v=dmarc1")]
        if found:
            record = (name, _tags(found[0]))
            break
    if record is None:
        findings.append(Finding("error", "DMARC", f"no DMARC record at {' or '.join(names)}"))
    else:
        name, tags = record
        policy = tags.get("p", "none")
        findings.append(Finding("ok", "DMARC", f"{name}: p={policy}"))
        if tags.get("adkim") == "s" or tags.get("aspf") == "s":
            strict = "the domains below must be identical, not only share an organisational domain"
            findings.append(Finding("warning", "DMARC", f"{name} asks for strict alignment: {strict}"))
    signing = domain if (settings.dkim_selector and settings.dkim_private_key_file) else None
    pairs = [("the bounce address", domain)]
    if signing:
        pairs.append(("DKIM d=", signing))
    tracking = urlsplit(settings.base_url).hostname or ""
    if tracking and not _is_ip(tracking) and tracking != "localhost":
        pairs.append(("the tracking domain (base_url)", tracking))
    else:
        reachable = "links and the unsubscribe page must be reachable by recipients"
        findings.append(
            Finding(
                "warning", "alignment", f"base_url {settings.base_url} is not a public domain: {reachable}"
            )
        )
    for label, other in pairs:
        if organisational_domain(other) != org:
            findings.append(
                Finding("error", "alignment", f"From {domain} is not aligned with {label} {other}")
            )
        else:
            findings.append(Finding("ok", "alignment", f"From {domain} is aligned with {label} {other}"))
    return findings
