"""Survey links: the token printed as a QR code on a receipt. It is a random link id (looked up in
storage) followed by an HMAC tag over it with the server secret: it reveals nothing about the
dossier, a forged one is refused before any lookup, and guessing one means guessing 96 random
bits and a 96-bit tag."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

_PART = 16  # characters: 12 bytes in URL-safe base64
_TOKEN = re.compile(rf"^[A-Za-z0-9_-]{{{2 * _PART}}}$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class SurveyLinks:
    def __init__(self, secret: str, bot_username: str) -> None:
        if not secret:
            raise ValueError("the link secret is empty")
        self._key = hashlib.sha256(("survey-link:" + secret).encode()).digest()
        self.bot_username = bot_username

    @staticmethod
    def new_link_id() -> str:
        return _b64(secrets.token_bytes(12))

    def _tag(self, link_id: str) -> str:
        return _b64(hmac.new(self._key, link_id.encode(), hashlib.sha256).digest()[:12])

    def token(self, link_id: str) -> str:
        """The deep-link payload for a dossier: 32 characters of A-Za-z0-9_-."""
        return link_id + self._tag(link_id)

    def link_id(self, token: str) -> str | None:
        """The link id a genuine token carries; None for anything forged, cut or malformed."""
        if not _TOKEN.match(token):
            return None
        link_id, tag = token[:_PART], token[_PART:]
        return link_id if hmac.compare_digest(tag, self._tag(link_id)) else None

    def url(self, link_id: str) -> str:
        return f"https://t.me/{self.bot_username}?start={self.token(link_id)}"


# Survey codes, typed from a paper receipt where a platform has no deep links (Zalo): ten characters
# of Crockford's base32 (no I, L, O, U), 50 random bits, shown as two groups of five.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_LENGTH = 10
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def new_survey_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(_CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


_TYPED_CODE = re.compile(r"^([A-Za-z0-9]{5})[-\s]?([A-Za-z0-9]{5})$")


def normalized_code(typed: str) -> str | None:
    """A typed survey code in its stored form, forgiving case, a space or dash between the two
    groups, and look-alike letters; None if it cannot be one (so "xin chao ban" is not a code)."""
    match = _TYPED_CODE.match(typed.strip())
    if match is None:
        return None
    compact = (match.group(1) + match.group(2)).upper().translate(_LOOKALIKES)
    if any(c not in CODE_ALPHABET for c in compact):
        return None
    return f"{compact[:5]}-{compact[5:]}"
