"""Partner API keys: 32 characters from a CSPRNG, stored as SHA-256 only, compared in constant time.

The wire format is the contract's (`apiKey` in the body; its examples are 32 alphanumerics). A key
carries ~190 bits of entropy, so a plain SHA-256 (no salt, no slow hash) makes the stored value
useless to whoever reads the database. Keys are never logged: only `key_hint` (last 4) is shown.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

KEY_LENGTH = 32
_ALPHABET = string.ascii_letters + string.digits
# Compared when the partner is unknown, so that a miss costs the same as a wrong key.
_DUMMY_HASH = hashlib.sha256(b"guichet: no such partner").digest()


def generate_key() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(KEY_LENGTH))


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def hint(key: str) -> str:
    return key[-4:]


def matches(key: str, stored_hash: bytes | None) -> bool:
    """Constant-time check of a presented key; `stored_hash` None (unknown partner) is False."""
    expected = _DUMMY_HASH if stored_hash is None else stored_hash
    return hmac.compare_digest(hash_key(key), expected) and stored_hash is not None
