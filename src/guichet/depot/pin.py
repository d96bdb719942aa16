"""PIN codes of the e-mail habilitation: 6 digits from a CSPRNG, kept as a salted scrypt hash.

Six digits are only a million values: a plain or salted fast hash would give any reader of the
database every PIN in a second. scrypt (16 MiB, ~50 ms per hash) makes that a matter of hours
per PIN while a PIN lives 24 hours and allows 10 attempts; the online guessing cap is what
really protects it (see habilitations.check_pin). The comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PIN_DIGITS = 6
DEMO_PIN = "000000"

_SALT_BYTES = 16
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}


def generate() -> str:
    """Six digits, leading zeros included, from the operating system's CSPRNG."""
    return f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"


def _derive(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, **_SCRYPT)


def hash_pin(pin: str) -> bytes:
    """The stored form: salt followed by the scrypt digest."""
    salt = secrets.token_bytes(_SALT_BYTES)
    return salt + _derive(pin, salt)


def matches(candidate: str, stored: bytes) -> bool:
    """Whether `candidate` is the PIN behind `stored` (constant-time comparison)."""
    salt, digest = stored[:_SALT_BYTES], stored[_SALT_BYTES:]
    return hmac.compare_digest(_derive(candidate, salt), digest)
