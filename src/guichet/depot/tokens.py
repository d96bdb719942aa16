"""Client tokens: 32 characters from a CSPRNG, stored as SHA-256 only.

The reference generated them with `Math.random()` and kept them in clear; the wire format
(32 characters of `[a-zA-Z0-9]`, sent as `Token <t>` or `Bearer <t>`) is unchanged. A token
carries ~190 bits of entropy, so a plain SHA-256 (no salt, no slow hash) is enough to make the
stored value useless to whoever reads the database, and lets us find a client by an indexed
equality lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

TOKEN_LENGTH = 32
_ALPHABET = string.ascii_letters + string.digits


def generate_token() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_LENGTH))


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def matches(token: str, stored_hash: bytes) -> bool:
    """Constant-time comparison of a presented token with a stored hash."""
    return hmac.compare_digest(hash_token(token), stored_hash)


def token_from_header(authorization: str) -> str | None:
    """The reference's parsing: split on one space, the second part is the token.

    The scheme word is not checked (`Token`, `Bearer`, anything); no second part → None.
    """
    parts = authorization.split(" ")
    if len(parts) < 2 or not parts[1]:
        return None
    return parts[1]
