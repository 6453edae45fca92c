"""The pseudonymous person key: a keyed hash of normalised identifiers, so people are counted once unseen.

The same person is written differently from one sheet to the next (`Aïcha  BENALI`, `aicha benali`, a phone as
`06 12-34-56-78` or `+212612345678`); normalising before hashing makes those one key. The hash is HMAC-SHA256
with a programme secret, so a key cannot be recomputed from a guessed name without the secret, and raw
identifiers are never stored by the analysis.
"""

import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from analysis.tables import PersonKeySecret

log = logging.getLogger("sera.analysis")

_SPACES = re.compile(r"\s+")
_PHONE = re.compile(r"^\+?[\d\s().\-/]{6,}$")
TATWEEL = "\u0640"
"""The Arabic elongation stroke (محـــمد): typography, never part of a name."""
SEPARATOR = "\x1f"
"""Between identifiers in the hashed text: a control character no normalised answer contains."""


def _visible(text: str) -> str:
    """The text without invisible format characters (direction marks, zero-width joiners) and tatweel, with
    every decimal digit as 0-9 (Arabic-Indic ١٩٩٠ is 1990)."""
    kept = (ch for ch in text if ch != TATWEEL and unicodedata.category(ch) != "Cf")
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in kept)


def _national(digits: str) -> str:
    """A Moroccan number in national form: `00212…` and `212…` (with or without the trunk 0) → `0…`."""
    if digits.startswith("00"):
        digits = digits[2:]
    if digits.startswith("212") and len(digits) == 12:
        return "0" + digits[3:]
    if digits.startswith("2120") and len(digits) == 13:
        return digits[3:]
    return digits


def normalise(value: Any) -> str:
    """One identifier as comparable text: trimmed, case-folded, accents and Arabic diacritics removed (an alef
    carrying a hamza or a madda is a bare alef), tatweel and invisible marks removed, digits as 0-9, spaces
    collapsed; a phone-like value keeps its digits only, in national form (`+212 6…`, `00212 6…` → `06…`).
    The README's "Person keys" lists what this merges and what it keeps apart; tests/analysis/test_identity.py
    checks exactly that list."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = _visible(str(value)).strip()
    if _PHONE.match(text) and sum(ch.isdigit() for ch in text) >= 6:
        return _national("".join(ch for ch in text if ch.isdigit()))
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def person_key(identifiers: Sequence[Any], secret: bytes) -> str | None:
    """HMAC-SHA256 (hex) of the normalised identifiers in form order; None when every identifier is empty."""
    parts = [normalise(value) for value in identifiers]
    if not any(parts):
        return None
    return hmac.new(secret, SEPARATOR.join(parts).encode("utf-8"), hashlib.sha256).hexdigest()


def pseudonym(value: Any, secret: bytes) -> str:
    """A pii answer that a measure reads, as `p:` and a keyed hash: comparable and countable, not readable."""
    digest = hmac.new(secret, normalise(value).encode("utf-8"), hashlib.sha256).hexdigest()
    return "p:" + digest[:40]


def secret_fingerprint(secret: bytes) -> str:
    """A value that changes when the secret changes (so keys must be recomputed) and reveals nothing of it."""
    return hmac.new(secret, b"sera person key fingerprint", hashlib.sha256).hexdigest()


def resolve_secret(session: Session, configured: str) -> bytes:
    """The secret to key person hashes with: SERA_PERSON_KEY_SECRET, or one generated once and kept in the database.

    A generated secret keeps development and demo databases working; production must set the variable, so the
    key survives a database rebuild and is not readable by whoever reads the database.
    """
    if configured:
        return configured.encode("utf-8")
    stored = session.exec(select(PersonKeySecret).where(PersonKeySecret.id == 1)).first()
    if stored is None:
        try:
            with session.begin_nested():
                session.add(PersonKeySecret(id=1, secret=secrets.token_hex(32)))
        except IntegrityError:
            pass  # another process created it first; read theirs
        stored = session.exec(select(PersonKeySecret).where(PersonKeySecret.id == 1)).one()
    log.warning(
        "SERA_PERSON_KEY_SECRET is not set: person keys use a secret generated once and kept in the database; "
        "production must set SERA_PERSON_KEY_SECRET"
    )
    return stored.secret.encode("utf-8")
