"""Fakes at the seams: a channel that records what it was asked to send, and one that sends templates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from handlers.chat import Delivery, Reply
from handlers.templates import TemplateDelivery, TemplatePurpose, TemplateResult


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


@dataclass
class RecordingTemplates:
    """A TemplateSender (ZNS) that keeps every template sent; `outcomes` by phone makes one fail."""

    purposes: tuple[TemplatePurpose, ...] = tuple(TemplatePurpose)
    sent: list[tuple[TemplatePurpose, str, dict[str, str], str]] = field(default_factory=list)
    outcomes: dict[str, TemplateResult] = field(default_factory=dict)

    saving: bool = False  # the day's quota runs low

    def has_template(self, purpose: TemplatePurpose) -> bool:
        return purpose in self.purposes

    def saving_quota(self) -> bool:
        return self.saving

    async def send_template(
        self,
        purpose: TemplatePurpose,
        phone: str,
        fields: Mapping[str, str],
        tracking_id: str,
        *,
        dossier_id: int | None = None,
    ) -> TemplateResult:
        result = self.outcomes.get(phone, TemplateResult(TemplateDelivery.SENT, f"msg-{len(self.sent) + 1}"))
        if result.delivery == TemplateDelivery.SENT:
            self.sent.append((purpose, phone, dict(fields), tracking_id))
        return result
