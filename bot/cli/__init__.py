"""The command line, `feedback-bot COMMAND` (also `python -m bot COMMAND`).

`main` reads the config, sets up logging and runs the command the parser chose. The package:
parser.py (the arguments), commands/ (one module per command group), output.py (tables, CSV and
JSON for every listing), common.py (`with_store` and what else every command shares), logs.py."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from bot.cli.common import CommandError
from bot.cli.logs import setup_logging
from bot.cli.parser import build_parser
from bot.config import DEFAULT_PATH, ENV_CONFIG, ConfigError, config_named, config_path, load_config
from handlers.question_set import QuestionSetError, load_question_set
from storage.base import DatabaseUnavailable

log = logging.getLogger("feedback-bot")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        given = getattr(args, "config", None)
        path = config_path(given)
        config = load_config(path, must_exist=config_named(given))
        setup_logging(config)
        if config.source is not None:
            log.info("config file %s", config.source)
        else:
            log.info(
                "no config file found (no %s in %s, no --config, no %s): using the defaults",
                DEFAULT_PATH, path.resolve().parent, ENV_CONFIG,
            )  # fmt: skip
        load_question_set(config.question_set)  # a broken question set stops every command
        return int(args.handler(config, args))
    except (ConfigError, QuestionSetError, CommandError, DatabaseUnavailable) as exc:
        # A database that cannot be opened or written (corrupt, read-only, a full disk) is told in
        # one line by every command, `run` included, rather than in a traceback.
        print(f"feedback-bot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
