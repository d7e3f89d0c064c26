"""The one way YAML from people is read: question sets and directory files sent in the chat or named
on the command line, and the config. A small file must never become a large amount of work, so the
reader refuses what makes it one:

- anchors and aliases (`&name`, `*name`): aliases nest lists in one another, and a file of 1.5 KB
  becomes a tree of 111,111 units; no file the bot reads needs them;
- collections nested deeper than MAX_DEPTH: PyYAML composes and constructs nodes recursively, and
  100,000 nested `[` exhaust Python's recursion, which no handler would answer;
- texts longer than MAX_CHARS (files sent in the chat are smaller still: they are not fetched past
  handlers.chat.MAX_ATTACHMENT).

Within these limits reading takes time in proportion to the text. Times of day such as 17:30 are read
as text: YAML 1.1 reads them as base-60 numbers, which nobody writing a config or directory means
(and a long run of them would build a huge integer)."""

from __future__ import annotations

import re
from typing import Any, Literal

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent

from handlers.texts import Language, text

MAX_CHARS = 1024 * 1024
MAX_DEPTH = 50

RefusalKind = Literal["alias", "depth", "size"]


class YamlRefused(yaml.YAMLError):
    """YAML the bot does not read; `describe` says why in the reader's language. A YAMLError, so a
    caller that knows only those still refuses the file rather than failing."""

    def __init__(self, kind: RefusalKind, line: int | None = None, size: int | None = None) -> None:
        self.kind, self.line, self.size = kind, line, size
        super().__init__(self.describe("en"))

    def describe(self, language: Language) -> str:
        limit = MAX_DEPTH if self.kind == "depth" else MAX_CHARS
        words = text(f"yaml_{self.kind}", language, limit=_number(limit, language),
                     size=_number(self.size or 0, language))  # fmt: skip
        return text("error_line", language, line=self.line) + words if self.line else words


def _number(value: int, language: Language) -> str:
    """A count as people write it: 1,048,576 in English, 1.048.576 in Vietnamese."""
    return f"{value:,}".replace(",", "." if language == "vi" else ",")


class SafeYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors, aliases and nesting deeper than MAX_DEPTH while it
    composes, before any of it is built."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        if isinstance(event, AliasEvent) or (isinstance(event, NodeEvent) and event.anchor is not None):
            raise YamlRefused("alias", line)
        if not isinstance(event, CollectionStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlRefused("depth", line)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


SafeYamlLoader.yaml_implicit_resolvers = {
    first: [
        *([("tag:yaml.org,2002:str", re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+$"))]
          if first in "-+0123456789" else []),
        *resolvers,
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}  # fmt: skip


def _checked(source: str) -> str:
    if len(source) > MAX_CHARS:
        raise YamlRefused("size", size=len(source))
    return source


def load_yaml(source: str) -> Any:
    """The data a YAML text describes. Raises YamlRefused beyond the limits, yaml.YAMLError for
    text that is not YAML, and ValueError for a value PyYAML cannot build (a 2026-13-01 date)."""
    return yaml.load(_checked(source), Loader=SafeYamlLoader)


def compose_yaml(source: str) -> yaml.Node | None:
    """The node tree of a YAML text (with each node's line), under the same limits."""
    return yaml.compose(_checked(source), Loader=SafeYamlLoader)
