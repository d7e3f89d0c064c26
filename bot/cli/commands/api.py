"""`api`: only the intake API for the one-stop software, on the configured database, beside a
running bot or without one."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Coroutine
from typing import Any

from pydantic import ValidationError

from bot.app import serve_api
from bot.cli.common import CommandError, refuse_new_database
from bot.config import ApiConfig, Config


def serve_api_alone(config: Config, args: argparse.Namespace) -> int:
    """Serves the intake API until Ctrl-C or SIGTERM, where `api:` in the config says (else
    127.0.0.1:8080) or --listen and --port."""
    given = {"listen": args.listen, "port": args.port}
    settings = (config.api or ApiConfig()).model_dump()
    try:
        chosen = ApiConfig.model_validate({**settings, **{k: v for k, v in given.items() if v is not None}})
    except ValidationError as exc:
        raise CommandError(f"--listen/--port: {exc.errors()[0]['msg']}") from exc
    refuse_new_database(config)
    return run_on_uvloop(serve_api(config, chosen))


def run_on_uvloop(main: Coroutine[Any, Any, int]) -> int:
    """Runs on uvloop where it is installed (uvicorn[standard] brings it, but not on Windows): the
    API answers about half as many requests again as on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def port(value: str) -> int:
    """An argparse type: a TCP port, 0 for any free one."""
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port from 0 to 65535")
    return int(value)
