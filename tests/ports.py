"""A free TCP port on 127.0.0.1, for the servers tests and benchmarks start (the bot's HTTP server,
PostgreSQL): the port is free when asked; whoever binds it next gets it."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
