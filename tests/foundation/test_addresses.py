"""E-mail syntax and normalisation."""

from __future__ import annotations

import string

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nurture.leads.addresses import (
    ADDRESS,
    InvalidAddress,
    normalise_email,
    suppression_hash,
)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Anna@Example.COM", "anna@example.com"),
        ("  j.mueller+nurture@rheinwerk.de ", "j.mueller+nurture@rheinwerk.de"),
        ("o'brien@firma.at", "o'brien@firma.at"),
        ("info@müller-bau.de", "info@xn--mller-bau-q9a.de"),
        ("x@sub.domain.co.uk", "x@sub.domain.co.uk"),
        ("Jürgen@Firma.de", "jürgen@firma.de"),  # RFC 6531: sent with SMTPUTF8
        ("Ju\u0308rgen@firma.de", "jürgen@firma.de"),  # one spelling of ü, whichever was typed
        ("δοκιμή@παράδειγμα.δοκιμή", "δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp"),
    ],
)
def test_valid_addresses_normalise(raw: str, normalised: str) -> None:
    assert normalise_email(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not-an-email",
        "a@b",
        "a@@b.de",
        "a b@c.de",
        ".anna@firma.de",
        "anna.@firma.de",
        "an..na@firma.de",
        "anna@-firma.de",
        "anna@firma.d",
        "anna@firma.123",
        "anna@firma.de\r\nBcc: x@y.de",
        "anna@firma.test",
        "anna@intranet.local",
        "x" * 65 + "@firma.de",
        '"quoted"@firma.de',
    ],
)
def test_invalid_addresses_are_refused(raw: str) -> None:
    with pytest.raises(InvalidAddress):
        normalise_email(raw)


def test_the_suppression_hash_is_a_sha256_of_the_normalised_address() -> None:
    assert suppression_hash("a@b.de") == suppression_hash(normalise_email("A@B.DE"))
    assert len(suppression_hash("a@b.de")) == 64


ASCII_LOCAL = st.text(
    alphabet=string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-.", min_size=1, max_size=70
)
LABEL = st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12)


@settings(max_examples=400, deadline=None)
@example(local="0", labels=["00--0"], tld="de")  # hyphens in a label's third and fourth places
@given(
    local=ASCII_LOCAL,
    labels=st.lists(LABEL, min_size=1, max_size=3),
    tld=st.sampled_from(["de", "com", "xn--p1ai", "test", "museum", "x1"]),
)
def test_the_fast_pattern_accepts_only_what_the_validator_accepts_unchanged(
    local: str, labels: list[str], tld: str
) -> None:
    address = f"{local}@{'.'.join(labels)}.{tld}".lower()
    fast = bool(ADDRESS.match(address)) and len(local) <= 64
    try:
        valid = validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        assert not fast, address
        return
    if fast:
        assert f"{valid.local_part}@{valid.ascii_domain}".lower() == address
