"""telegram.mode: webhook in the config: what it needs, and the environment's overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config

HOOK = "telegram: {mode: webhook, url: 'https://bot.hcm.gov.vn/telegram/hook', secret: s3cret_-X}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_polling_is_the_default():
    from bot.config import TelegramConfig

    assert TelegramConfig().mode == "polling" and TelegramConfig().url is None


def test_webhook_mode_with_its_url_secret_and_http_server(tmp_path):
    config = load_config(write(tmp_path, HOOK + "api: {port: 8081}\n"))
    assert config.telegram.mode == "webhook"
    assert config.telegram.webhook_path == "/telegram/hook"
    assert config.telegram.secret is not None and config.telegram.secret.get_secret_value() == "s3cret_-X"
    assert "s3cret_-X" not in repr(config)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("telegram: {mode: webhook, secret: abc}\napi: {}\n", "webhook mode needs telegram.url"),
        ("telegram: {mode: webhook, url: 'https://x.vn/t'}\napi: {}\n", "webhook mode needs telegram.secret"),
        ("telegram: {mode: webhook, url: 'https://x.vn/t', secret: 'has space'}\napi: {}\n", "A-Z, a-z, 0-9"),
        (f"telegram: {{mode: webhook, url: 'https://x.vn/t', secret: {'a' * 257}}}\napi: {{}}\n", "1 to 256"),
        ("telegram: {mode: webhook, url: 'ftp://x.vn/t', secret: abc}\napi: {}\n", "telegram.url"),
        ("telegram: {mode: webhook, url: 'https://x.vn/t?q=1', secret: abc}\napi: {}\n", "telegram.url"),
        ("telegram: {mode: pigeon}\n", "telegram.mode"),
        (HOOK, "add an api: section"),
        (
            "telegram: {mode: webhook, url: 'https://x.vn/api/v1/hook', secret: abc}\napi: {}\n",
            "must not be under /api/",
        ),
    ],
)
def test_webhook_mistakes_name_the_key(tmp_path, text, named):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert named in str(caught.value)


def test_the_environment_gives_the_secret_and_the_port(tmp_path, monkeypatch):
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "from-env_1")
    monkeypatch.setenv("FEEDBACK_BOT_API_PORT", "8082")
    text = "telegram: {mode: webhook, url: 'https://x.vn/t'}\napi: {port: 8081}\n"
    config = load_config(write(tmp_path, text))
    assert config.telegram.secret is not None and config.telegram.secret.get_secret_value() == "from-env_1"
    assert config.api is not None and config.api.port == 8082


def test_the_port_from_the_environment_is_checked_and_needs_an_api_section(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_BOT_API_PORT", "eighty")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "api: {}\n"))
    assert "api.port" in str(caught.value)
    monkeypatch.setenv("FEEDBACK_BOT_API_PORT", "8082")
    assert load_config(write(tmp_path, "secret: s\n")).api is None  # no api: section, no server


def test_the_zalo_webhooks_port_comes_from_the_environment_for_a_second_process(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_BOT_ZALO_PORT", "8444")
    text = "zalo: {mode: webhook, url: 'https://x.vn/z', secret: 'zalo-secret-1', port: 8443}\n"
    assert load_config(write(tmp_path, text)).zalo.port == 8444
    monkeypatch.setenv("FEEDBACK_BOT_ZALO_PORT", "0x")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert "zalo.port" in str(caught.value)
