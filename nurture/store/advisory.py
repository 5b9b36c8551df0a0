"""PostgreSQL advisory-lock keys: a 64-bit number for a name, the same in every process and version."""

from __future__ import annotations

import hashlib


def advisory_key(name: str) -> int:
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
