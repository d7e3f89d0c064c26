"""`python -m bot`: the same command line as `feedback-bot`."""

from bot.cli import main

raise SystemExit(main())
