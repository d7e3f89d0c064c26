"""Buttons as typed classes, in the spirit of aiogram's CallbackData: each kind of button declares a
unique prefix and typed fields, packs itself into the data the button carries and unpacks it again.
Each class is declared beside the handler that answers it; `handlers/dispatch.py` routes them all
from one table. Short commands typed where there are no buttons ("giao 12") become the same classes.

The packed form is the prefix followed by the fields joined by ".": `s12.rating.ok`, `c7.to.3`,
`cases.page.2`. These are the formats the bot sent before buttons were classes, so buttons already
in people's chats (and options remembered for typed numbers) still read as the same buttons."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Literal, Self, dataclass_transform

MAX_DATA_BYTES = 64  # Telegram's limit for a button's callback data, in UTF-8 bytes
# The largest integer SQLite stores (a signed 64-bit one): an id beyond it names no row, and binding
# it raises OverflowError, so a number past it is read as no button at all.
MAX_ID = 2**63 - 1
SEPARATOR = "."


class ButtonError(ValueError):
    """A button that cannot be packed, or a button class that cannot be declared."""


@dataclass(frozen=True)
class _Field:
    """How one field of a button is written and read."""

    name: str
    kind: type[int] | type[str] | type[StrEnum] | tuple[str, ...]  # a tuple: the values a Literal allows
    optional: bool

    def holds(self, value: object) -> bool:
        """Whether pack() may write the value: one that reads back as itself."""
        if self.kind is int:
            return type(value) is int and 0 <= value <= MAX_ID
        if isinstance(self.kind, tuple):
            return value in self.kind
        return isinstance(value, self.kind)

    def read(self, part: str) -> object:
        """The value a field's text stands for; ValueError for anything the field cannot hold."""
        if not part:
            raise ValueError("empty field")
        if self.kind is int:
            # Only what pack() writes: ASCII digits, no sign, no leading zero ("²" and "٣" are digits too).
            if not (part.isascii() and part.isdigit()) or (part != "0" and part.startswith("0")):
                raise ValueError(f"not a number: {part!r}")
            if len(part) > len(str(MAX_ID)) or int(part) > MAX_ID:
                raise ValueError(f"beyond the ids storage holds: {part[:30]!r}")
            return int(part)
        if isinstance(self.kind, tuple):
            if part not in self.kind:
                raise ValueError(f"not one of {self.kind}: {part!r}")
            return part
        if isinstance(self.kind, type) and issubclass(self.kind, StrEnum):
            return self.kind(part)
        return part


def _field_of(name: str, hint: Any, owner: str) -> _Field:
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) != 1 or len(typing.get_args(hint)) != 2:
            raise ButtonError(f"{owner}.{name}: a field is one type, or one type or None")
        hint, optional = members[0], True
    if typing.get_origin(hint) is Literal:
        values = typing.get_args(hint)
        if not all(isinstance(v, str) for v in values):
            raise ButtonError(f"{owner}.{name}: a Literal field takes strings only")
        return _Field(name, tuple(values), optional)
    if hint is int or hint is str or (isinstance(hint, type) and issubclass(hint, StrEnum)):
        return _Field(name, hint, optional)
    raise ButtonError(f"{owner}.{name}: a field is an int, a str, a StrEnum or a Literal of strings")


@dataclass_transform(frozen_default=True)
class Button:
    """A kind of button: `class ChooseLanguage(Button, prefix="lang."): language: Language`. The
    class becomes a frozen dataclass; its prefix is checked against every other button's when it
    is declared, so no data can be read as two different buttons."""

    prefix: ClassVar[str]
    layout: ClassVar[tuple[_Field, ...]]
    declared: ClassVar[dict[str, type[Button]]] = {}  # every button class, by prefix

    def __init_subclass__(cls, *, prefix: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)
        hints = typing.get_type_hints(cls)
        cls.prefix = prefix
        cls.layout = tuple(
            _field_of(f.name, hints[f.name], cls.__name__) for f in dataclasses.fields(typing.cast(Any, cls))
        )
        if any(f.optional for f in cls.layout[:-1]):
            raise ButtonError(f"{cls.__name__}: only the last field may be optional")
        if not prefix:
            raise ButtonError(f"{cls.__name__}: a button needs a prefix")
        for other in Button.declared.values():
            if _confusable(cls, other):
                raise ButtonError(
                    f"{cls.__name__}: prefix {prefix!r} clashes with {other.__name__}'s {other.prefix!r}"
                )
        Button.declared[prefix] = cls

    def pack(self) -> str:
        """The data the button carries. Raises ButtonError for a value that would not read back (of
        another type, below zero, empty, holding the separator) and for data over Telegram's 64 bytes."""
        name = type(self).__name__
        parts = []
        for field in self.layout:
            value = getattr(self, field.name)
            if value is None and field.optional:
                continue
            if not field.holds(value):
                raise ButtonError(f"{name}.{field.name}={value!r}: the field does not hold such a value")
            part = str(value)  # a StrEnum member is its value
            if not part or SEPARATOR in part:
                raise ButtonError(
                    f"{name}.{field.name}={value!r}: a field may not be empty or hold {SEPARATOR!r}"
                )
            parts.append(part)
        data = self.prefix + SEPARATOR.join(parts)
        size = len(data.encode())
        if size > MAX_DATA_BYTES:
            raise ButtonError(f"{name} packs into {size} bytes, over Telegram's {MAX_DATA_BYTES}: {data!r}")
        return data

    @classmethod
    def unpack(cls, data: str) -> Self | None:
        """The button of this kind the data stands for; None for data of another kind of button,
        malformed or forged."""
        if not data.startswith(cls.prefix):
            return None
        rest = data[len(cls.prefix) :]
        parts = rest.split(SEPARATOR) if rest else []
        required = sum(1 for f in cls.layout if not f.optional)
        if not required <= len(parts) <= len(cls.layout):
            return None
        try:
            values = {field.name: field.read(part) for field, part in zip(cls.layout, parts, strict=False)}
            return cls(**values)
        except (ValueError, TypeError):
            return None


def read_button(data: str) -> Button | None:
    """The button, of whichever kind, the data stands for; None for anything no button packs into."""
    matching = [prefix for prefix in Button.declared if data.startswith(prefix)]
    # The longest prefix: "cases.page.2" is a page of cases, not a case ("c").
    return Button.declared[max(matching, key=len)].unpack(data) if matching else None


def _confusable(one: type[Button], other: type[Button]) -> bool:
    """Whether data of one kind of button could be read as the other. Prefixes must differ, and
    where one starts the other ("c" and "cases.page.") the shorter must go on with a number and the
    longer with something that is not a digit."""
    if one.prefix == other.prefix:
        return True
    shorter, longer = sorted((one, other), key=lambda b: len(b.prefix))
    if not longer.prefix.startswith(shorter.prefix):
        return False
    if not shorter.layout:
        return False  # its data is the prefix alone
    goes_on = longer.prefix[len(shorter.prefix)]
    return shorter.layout[0].kind is not int or goes_on.isdigit()
