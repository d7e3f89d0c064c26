"""The OA's parts built from the config: the webhook (made before the HTTP server starts, which
serves it) and the channel over it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bot.channels.zalo_oa.channel import ZaloOAChannel
from bot.channels.zalo_oa.client import ZaloOAClient, ZaloOAHttp
from bot.channels.zalo_oa.tokens import TokenKeeper
from bot.channels.zalo_oa.webhook import ZaloOAWebhook
from bot.channels.zalo_oa.zns import ZnsSender
from bot.config import ZaloOAConfig
from bot.metrics import Metrics
from handlers.dispatch import Dispatcher
from storage.base import Storage


def secret(value: object) -> str:
    get = getattr(value, "get_secret_value", None)
    return str(get()) if callable(get) else ""


def build_webhook(settings: ZaloOAConfig) -> ZaloOAWebhook:
    return ZaloOAWebhook(settings.app_id, secret(settings.secret_key), settings.webhook_path)


def build_http(settings: ZaloOAConfig) -> ZaloOAHttp:
    return ZaloOAHttp(settings.api_url, settings.oauth_url, settings.zns_url)


def build_tokens(settings: ZaloOAConfig, store: Storage, http: ZaloOAHttp) -> TokenKeeper:
    env_token = secret(settings.refresh_token) or None
    return TokenKeeper(store.zalo_oa, http, settings.app_id, secret(settings.app_secret), env_token)


@dataclass(frozen=True)
class OAClient:
    """The OA's client and the keeper of its tokens, shared by the chat channel and ZNS."""

    client: ZaloOAClient
    tokens: TokenKeeper


def build_client(settings: ZaloOAConfig, store: Storage) -> OAClient:
    http = build_http(settings)
    tokens = build_tokens(settings, store, http)
    return OAClient(ZaloOAClient(http, tokens), tokens)


def build_zns(
    settings: ZaloOAConfig,
    store: Storage,
    made: OAClient,
    config_secret: str,
    metrics: Metrics | None = None,
) -> ZnsSender:
    """The ZNS sender; its tracking ids start with a prefix of this install's secret, so that two
    databases on one OA (staging and production, a restored backup) never take each other's ratings."""
    prefix = hashlib.sha256(f"zns:{config_secret}".encode()).hexdigest()[:6] + "-"
    return ZnsSender(made.client, store.zalo_oa, settings, prefix=prefix, metrics=metrics)


def build_channel(
    settings: ZaloOAConfig,
    store: Storage,
    dispatcher: Dispatcher,
    webhook: ZaloOAWebhook,
    made: OAClient | None = None,
    metrics: Metrics | None = None,
) -> ZaloOAChannel:
    made = made or build_client(settings, store)
    return ZaloOAChannel(
        made.client,
        made.tokens,
        webhook,
        dispatcher,
        store.chats,
        store.zalo_oa,
        outbox=store.outbox,
        metrics=metrics,
    )
