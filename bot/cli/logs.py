"""Logging for every command: to standard error, times in the config's time zone with their offset
(`2026-11-27 09:14:03+0700`), secrets replaced in every line written (tracebacks included)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.config import Config


class LogFormat(logging.Formatter):
    """Log lines with times in one named time zone and its offset, so a line read on another
    machine or beside the chat platform's UTC times is no guess; secrets (the bot tokens, the link
    secret) replaced. Redacting the written line, not the record, leaves records as they were for
    any other handler, and covers the traceback too."""

    def __init__(self, zone: ZoneInfo, secrets: Sequence[str]) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.zone = zone
        self.secrets = [s for s in secrets if s]

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, self.zone).strftime(datefmt or "%Y-%m-%d %H:%M:%S%z")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        for secret in self.secrets:
            line = line.replace(secret, "[secret]")
        return line


def setup_logging(config: Config) -> None:
    secrets = [config.secret.get_secret_value()]
    secrets += [
        s.get_secret_value() for s in (config.telegram.token, config.zalo.token, config.zalo.secret) if s
    ]
    if config.zalo_oa is not None:  # Zalo OA secrets; its tokens from the database are never logged
        oa = config.zalo_oa
        secrets += [s.get_secret_value() for s in (oa.app_secret, oa.secret_key, oa.refresh_token) if s]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormat(config.zone, secrets))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # httpx logs every request URL, and Telegram's URLs carry the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # uvicorn's start and stop lines: `run` and `api` say where the API listens in their own words.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    # fontTools logs each table it subsets while fpdf2 writes a letter's PDF.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
