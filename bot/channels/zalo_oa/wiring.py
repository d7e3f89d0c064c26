"""The OA's parts built from the config: the webhook (made before the HTTP server starts, which
serves it) and the channel over it."""

from __future__ import annotations

from bot.channels.zalo_oa.channel import ZaloOAChannel
from bot.channels.zalo_oa.client import ZaloOAClient, ZaloOAHttp
from bot.channels.zalo_oa.tokens import TokenKeeper
from bot.channels.zalo_oa.webhook import ZaloOAWebhook
from bot.config import ZaloOAConfig
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


def build_channel(
    settings: ZaloOAConfig, store: Storage, dispatcher: Dispatcher, webhook: ZaloOAWebhook
) -> ZaloOAChannel:
    http = build_http(settings)
    tokens = build_tokens(settings, store, http)
    return ZaloOAChannel(
        ZaloOAClient(http, tokens),
        tokens,
        webhook,
        dispatcher,
        store.chats,
        store.zalo_oa,
        outbox=store.outbox,
    )
