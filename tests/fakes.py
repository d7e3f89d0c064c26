"""Fakes at the seams: a channel that records what it was asked to send."""

from __future__ import annotations

from dataclasses import dataclass, field

from handlers.chat import Delivery, Reply


@dataclass
class RecordingSender:
    """A Sender that keeps every message; `outcomes` lets a test make a chat blocked or failing."""

    sent: list[tuple[str, Reply]] = field(default_factory=list)
    outcomes: dict[str, Delivery] = field(default_factory=dict)

    async def send(self, chat_id: str, *replies: Reply) -> Delivery:
        outcome = self.outcomes.get(chat_id, Delivery.SENT)
        if outcome == Delivery.SENT:
            self.sent += [(chat_id, reply) for reply in replies]
        return outcome
