"""Signed tokens: what a link or a bounce address carries, and what a forger cannot make."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nurture.tokens import InvalidToken, TokenSigner

from .conftest import SECRET

payloads = st.tuples(st.integers(min_value=0, max_value=2**40), st.text(max_size=200))


@given(payload=payloads)
def test_a_token_gives_back_its_payload(payload: tuple[int, str]) -> None:
    signer = TokenSigner(SECRET)
    assert signer.verify("click", signer.sign("click", payload)) == payload


def test_dict_payloads_come_back_as_dicts(signer: TokenSigner) -> None:
    token = signer.sign("sales-accept", {"handoff": 42, "rep": "anna"})
    assert signer.verify("sales-accept", token) == {"handoff": 42, "rep": "anna"}


def test_tokens_are_url_safe_and_short(signer: TokenSigner) -> None:
    token = signer.sign("open", (123456,))
    assert token.replace("-", "").replace("_", "").isalnum()
    assert "=" not in token
    assert len(token) < 40


def test_tokens_are_deterministic_across_signers_with_the_same_key() -> None:
    # Links in sent emails must keep working after a restart.
    assert TokenSigner(SECRET).sign("click", (1, "https://example.com")) == TokenSigner(SECRET).sign(
        "click", (1, "https://example.com")
    )


def test_a_token_for_one_purpose_is_refused_for_another(signer: TokenSigner) -> None:
    token = signer.sign("open", (7,))
    with pytest.raises(InvalidToken):
        signer.verify("unsubscribe", token)


def test_another_key_cannot_verify(signer: TokenSigner) -> None:
    token = TokenSigner(b"some-other-secret-key-000000").sign("click", (1, "https://example.com"))
    with pytest.raises(InvalidToken):
        signer.verify("click", token)


@settings(max_examples=300)
@given(position=st.integers(min_value=0), replacement=st.sampled_from("AZaz09-_"))
def test_any_changed_character_is_refused(position: int, replacement: str) -> None:
    signer = TokenSigner(SECRET)
    token = signer.sign("click", (99, "https://example.com/pricing"))
    index = position % len(token)
    changed = token[:index] + replacement + token[index + 1 :]
    if changed == token:
        return
    with pytest.raises(InvalidToken):
        signer.verify("click", changed)


@given(cut=st.integers(min_value=1, max_value=60))
def test_truncated_tokens_are_refused(cut: int) -> None:
    signer = TokenSigner(SECRET)
    token = signer.sign("click", (99, "https://example.com/pricing"))
    with pytest.raises(InvalidToken):
        signer.verify("click", token[: max(len(token) - cut, 0)])


@pytest.mark.parametrize(
    "garbage", ["", "a", "abc", "!!!!", "AAAA" * 10, "a b", "é" * 30, "x" * 4001, "Zm9v.YmFy"]
)
def test_garbage_is_refused(signer: TokenSigner, garbage: str) -> None:
    with pytest.raises(InvalidToken):
        signer.verify("click", garbage)


def test_tokens_with_an_expiry_expire(signer: TokenSigner) -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    token = signer.sign("sales-accept", (5,), expires_at=now + timedelta(hours=4))
    assert signer.verify("sales-accept", token, now=now) == (5,)
    with pytest.raises(InvalidToken, match="expired"):
        signer.verify("sales-accept", token, now=now + timedelta(hours=4, seconds=1))


def test_lowercase_tokens_survive_case_folding(signer: TokenSigner) -> None:
    token = signer.sign_lowercase("bounce", (314,))
    assert token == token.lower()
    assert signer.verify_lowercase("bounce", token.upper()) == (314,)
    with pytest.raises(InvalidToken):
        signer.verify_lowercase("open", token)


def test_the_key_is_not_shown(signer: TokenSigner) -> None:
    assert SECRET.decode() not in repr(signer)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenSigner(b"short")
