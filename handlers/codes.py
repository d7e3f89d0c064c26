"""What a code or a name may hold, wherever one enters the bot (the command line, a directory file,
the intake API): one rule, so that two codes that look the same are the same code.

A dossier code is printed on a receipt and typed again, by a person or by the one-stop software:
it is made of characters a person can see and type (letters, digits, punctuation, symbols, in any
script), with no spaces. Refused: control characters (a newline would make a code two lines),
invisible and format characters (zero-width spaces and joiners, the byte order mark, the soft
hyphen, tags: "HS-1" and "HS-\u200b1" would look alike and be two dossiers), bidirectional controls
(an override shows "HS-1\u202e2-SH" in another order than it holds), private-use and unassigned
characters, spaces of every kind (an ordinary and a no-break space look the same), and an accent
with no letter before it.

Codes and names are stored in Unicode's composed form (NFC): Vietnamese keyboards send "ồ" either
as one character or as "o" with two combining accents, which look the same and must compare equal.
NFC only joins what is canonically the same text, so nothing a person sees changes; NFKC, which
would also fold full-width or superscript characters into plain ones, changes what was written and
is not used.

A name shown to citizens (a procedure's) is one line: the same characters refused, except that
spaces of any kind are allowed and runs of them become one ordinary space."""

from __future__ import annotations

import unicodedata

# Characters: the intake API's limit, kept for every way a code enters, so that a dossier added on
# the command line or from a file can be updated by the one-stop software under the same code.
# Real codes ("000.00.17.H29-230815-0012") run to about 30.
MAX_CODE_LENGTH = 64
MAX_NAME_LENGTH = 300  # characters: the longest procedure names run to about 250

# Unicode general categories, by their first letter: letters, marks, numbers, punctuation,
# symbols may be written; "C" (control, format, surrogate, private use, unassigned) and "Z"
# (separators: spaces, line and paragraph separators) may not, except spaces between words of a name.
_WRITTEN = frozenset("LMNPS")
_KINDS = {
    "Cc": "a control character",
    "Co": "a private-use character",
    "Cn": "an unassigned character",
    "Cs": "a lone surrogate",
}


class TextRefused(ValueError):
    """A code or name holding a character it may not; the message names the character."""


def checked_code(value: str, what: str = "dossier code") -> str:
    """The code in its stored form: trimmed, composed (NFC); raises TextRefused naming the first
    character a code may not hold (see the module's docstring)."""
    code = unicodedata.normalize("NFC", value.strip())
    if not code:
        raise TextRefused(f"the {what} is empty: give the code printed on the receipt")
    if len(code) > MAX_CODE_LENGTH:
        raise TextRefused(f"the {what} is {len(code)} characters long, over {MAX_CODE_LENGTH}")
    # str.isprintable() is False exactly for the categories C and Z but the ASCII space: with no
    # space either, every character is one a code may hold; the loop below names the one that is not.
    if code.isprintable() and " " not in code and not _is_mark(code[0]):
        return code
    for position, char in enumerate(code, 1):
        if unicodedata.category(char)[0] not in _WRITTEN or (position == 1 and _is_mark(char)):
            raise TextRefused(_refusal(what, code, char, position, "a code holds only letters, digits and "
                                       "punctuation a person can see and type, without spaces"))  # fmt: skip
    return code


def checked_name(value: str, what: str) -> str:
    """A name shown to people (a procedure's) as stored: composed (NFC), one line, its spaces single
    ordinary ones; raises TextRefused naming the first character a name may not hold."""
    name = unicodedata.normalize("NFC", value)
    if name.isprintable():  # no category C or Z but the ASCII space (see checked_code): the usual case
        name = " ".join(name.split())
    else:
        for position, char in enumerate(name, 1):
            category = unicodedata.category(char)
            if category[0] not in _WRITTEN and category != "Zs":
                raise TextRefused(_refusal(what, name, char, position, "a name is one line of visible text"))
        name = " ".join(_spaced(name))
    if not name:
        raise TextRefused(f"the {what} is empty")
    if _is_mark(name[0]):
        raise TextRefused(_refusal(what, name, name[0], 1, "an accent needs a letter before it"))
    if len(name) > MAX_NAME_LENGTH:
        raise TextRefused(f"the {what} is {len(name)} characters long, over {MAX_NAME_LENGTH}")
    return name


def _spaced(name: str) -> list[str]:
    """The name's words: split at any run of spaces (ordinary, no-break, thin...)."""
    return "".join(" " if unicodedata.category(c) == "Zs" else c for c in name).split()


def _is_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("M")


def _refusal(what: str, value: str, char: str, position: int, rule: str) -> str:
    return f"the {what} {value!r} holds {describe(char)} at character {position}: {rule}"


def describe(char: str) -> str:
    """A character as a person can look it up: its code point and name ("U+200B ZERO WIDTH SPACE")."""
    name = unicodedata.name(char, "") or _KINDS.get(unicodedata.category(char), "a character with no name")
    return f"U+{ord(char):04X} {name}"


def typed_code(value: str) -> str:
    """A code typed to look a dossier up, in the form codes are stored in (trimmed, NFC): one typed
    with separate accents finds the dossier. Nothing is refused: a code that cannot be is not found."""
    return unicodedata.normalize("NFC", value.strip())
