"""What the handlers count for the running bot's metrics: a seam like Sender, so that nothing
below bot/ imports a metrics library. The bot passes its metrics (bot/metrics.py); tests and
commands that count nothing get NO_TALLY."""

from __future__ import annotations

from typing import Protocol


class Tally(Protocol):
    def update_handled(self, channel: str) -> None:
        """A message or button press from `channel` was handed to the handlers."""

    def answer_stored(self, channel: str) -> None:
        """A citizen's rating, the answer to a dossier's survey, was stored."""


class NoTally:
    """Counts nothing."""

    def update_handled(self, channel: str) -> None:
        return None

    def answer_stored(self, channel: str) -> None:
        return None


NO_TALLY: Tally = NoTally()
