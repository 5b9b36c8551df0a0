"""E-mail syntax and normalisation."""

from __future__ import annotations

import pytest

from nurture.leads.addresses import InvalidAddress, normalise_email, suppression_hash


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Anna@Example.COM", "anna@example.com"),
        ("  j.mueller+nurture@rheinwerk.de ", "j.mueller+nurture@rheinwerk.de"),
        ("o'brien@firma.at", "o'brien@firma.at"),
        ("info@müller-bau.de", "info@xn--mller-bau-q9a.de"),
        ("x@sub.domain.co.uk", "x@sub.domain.co.uk"),
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
        "jürgen@firma.de",
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
