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
from dataclasses import dataclass
from enum import StrEnum

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
        return _b64(hmac.digest(self._key, link_id.encode(), "sha256")[:12])

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


# Survey codes, typed from a paper receipt where a platform has no deep links (Zalo): twelve
# characters of Crockford's base32 (no I, L, O, U), shown as three groups of four: ten random ones
# (50 bits) and two check characters, the ten read as a number modulo 1,021 (a prime below 32² =
# 1,024), as an IBAN's check digits are. Because 1,021 is prime and larger than any difference of
# two characters, every single mistyped character and every swap of two neighbours changes the
# remainder: a typo is told from a wrong code, and a random text of twelve such characters passes
# once in about 1,000, so ordinary words are never taken for a guess.
#
# Codes printed before the check characters are ten characters (XXXXX-XXXXX) and are still read:
# the length tells them apart. They carry no check, so one found for no dossier counts as a wrong
# guess only when it mixes digits and letters, as 97.6% of them do; words ("hello world", "khong
# thich") and phone numbers ("09012 34567") never count.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_LENGTH = 10
_CHECK_MODULUS = 1021
_RANDOM_BITS = (1 << 50) - 1
assert len(CODE_ALPHABET) ** _RANDOM_LENGTH == _RANDOM_BITS + 1
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})
_TYPED_CODE = re.compile(
    r"^(?:(?P<a>[A-Za-z0-9]{4})[-\s]?(?P<b>[A-Za-z0-9]{4})[-\s]?(?P<c>[A-Za-z0-9]{4})"
    r"|(?P<old_a>[A-Za-z0-9]{5})[-\s]?(?P<old_b>[A-Za-z0-9]{5}))$"
)


class CodeKind(StrEnum):
    """What typed text in the form of a survey code is."""

    CHECKED = "checked"  # twelve characters whose check holds
    MISTYPED = "mistyped"  # twelve characters whose check fails: a typo, or words that happen to fit
    PRINTED_BEFORE_CHECK = "printed before check"  # ten characters, as codes were printed at first


@dataclass(frozen=True)
class TypedCode:
    """Text typed in the form of a survey code: `code` in its stored form, and what kind it is."""

    code: str
    kind: CodeKind
    digits_and_letters: bool = False

    @property
    def counts_when_wrong(self) -> bool:
        """Whether a miss counts towards slowing a chat down: only text that can be nothing but a
        code (its check holds, or a code printed before the check that mixes digits and letters)."""
        return self.kind == CodeKind.CHECKED or (
            self.kind == CodeKind.PRINTED_BEFORE_CHECK and self.digits_and_letters
        )


def _check(random_part: str) -> str:
    value = 0
    for char in random_part:
        value = value * len(CODE_ALPHABET) + CODE_ALPHABET.index(char)
    remainder = value % _CHECK_MODULUS
    return CODE_ALPHABET[remainder // len(CODE_ALPHABET)] + CODE_ALPHABET[remainder % len(CODE_ALPHABET)]


def new_survey_code() -> str:
    """A new survey code, as printed: XXXX-XXXX-XXXX, its last two characters the check."""
    # 32 ** 10 is 2 ** 50: fifty random bits (of 56 read at once) are the ten characters, five a
    # character, and the check is worked out as they are taken (the first taken is the most
    # significant for _check).
    value = int.from_bytes(secrets.token_bytes(7)) & _RANDOM_BITS
    chars = []
    checked = 0
    for _ in range(_RANDOM_LENGTH):
        digit = value & 31
        value >>= 5
        chars.append(CODE_ALPHABET[digit])
        checked = checked * 32 + digit
    remainder = checked % _CHECK_MODULUS
    chars += CODE_ALPHABET[remainder >> 5], CODE_ALPHABET[remainder & 31]
    whole = "".join(chars)
    return f"{whole[:4]}-{whole[4:8]}-{whole[8:]}"


def read_survey_code(typed: str) -> TypedCode | None:
    """Text typed in the form of a survey code, forgiving case, a space or dash between groups,
    and look-alike letters; None for text that cannot be one (so "xin chao ban" is not a code)."""
    match = _TYPED_CODE.match(typed.strip())
    if match is None:
        return None
    groups = [g for g in match.groups() if g is not None]
    compact = "".join(groups).upper().translate(_LOOKALIKES)
    if any(c not in CODE_ALPHABET for c in compact):
        return None
    if len(compact) == _RANDOM_LENGTH:
        as_typed = "".join(groups)
        mixed = any(c.isdigit() for c in as_typed) and any(c.isalpha() for c in as_typed)
        return TypedCode(f"{compact[:5]}-{compact[5:]}", CodeKind.PRINTED_BEFORE_CHECK, mixed)
    random_part, check = compact[:_RANDOM_LENGTH], compact[_RANDOM_LENGTH:]
    kind = CodeKind.CHECKED if _check(random_part) == check else CodeKind.MISTYPED
    return TypedCode(f"{compact[:4]}-{compact[4:8]}-{compact[8:]}", kind)


def normalized_code(typed: str) -> str | None:
    """A typed survey code in its stored form; None for text that cannot be one, and for twelve
    characters whose check fails (no dossier has such a code)."""
    code = read_survey_code(typed)
    return code.code if code is not None and code.kind != CodeKind.MISTYPED else None
