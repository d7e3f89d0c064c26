"""The HTTP app served by uvicorn on the running event loop, as one task beside the channels and
the scheduler. It takes no signal of its own: whoever runs it (`run`, `api`) has its SIGINT and
SIGTERM handlers and calls `stop`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10  # requests being answered at a stop may finish within this
BACKLOG = 2048


class ApiServerError(Exception):
    """The HTTP server cannot listen or start; the message says where and why."""


class _Embedded(uvicorn.Server):
    """uvicorn's server without its signal handlers. Its own (signal.signal, restored and the
    signal raised again at the end) would take SIGINT and SIGTERM from the process's loop, and
    raise them once more when it stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    """Serves `app` at listen:port (0: a free port, `port` tells which) from `start` to `stop`."""

    def __init__(self, app: ASGIApp, listen: str, port: int) -> None:
        self.listen = listen
        self.port = port
        self._config = uvicorn.Config(
            app,
            host=listen,
            port=port,
            log_config=None,  # our logging as set up, not uvicorn's
            access_log=False,
            lifespan="off",
            # Behind nginx (deploy/nginx.conf) the client's address is its X-Forwarded-For, trusted
            # only from 127.0.0.1 (uvicorn's forwarded_allow_ips): a forged webhook's log line names
            # the sender, not the proxy.
            proxy_headers=True,
            forwarded_allow_ips="127.0.0.1",
            server_header=False,
            backlog=BACKLOG,
            timeout_graceful_shutdown=STOP_GRACE_SECONDS,
        )
        self._server = _Embedded(self._config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.listen}]" if ":" in self.listen else self.listen
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Listens, then answers requests in a task until `stop`. Raises ApiServerError when the
        address cannot be had (taken, not this machine's, not allowed)."""
        try:
            listening = listening_socket(self.listen, self.port)
        except OSError as exc:
            raise ApiServerError(
                f"cannot listen on {self.listen}:{self.port}: {exc.strerror or exc}"
            ) from exc
        self.port = int(listening.getsockname()[1])
        self._task = asyncio.create_task(self._serve(listening), name=f"http {self.url}")
        self._task.add_done_callback(self._ended)
        while not self._server.started:
            if self._task.done():
                await self._task
                raise ApiServerError(f"the HTTP server on {self.url} stopped as it started")
            await asyncio.sleep(0.01)

    async def _serve(self, listening: socket.socket) -> None:
        try:
            await self._server.serve(sockets=[listening])
        except SystemExit as exc:  # uvicorn's way to say that start-up failed; not to end the process
            raise ApiServerError(f"the HTTP server on {self.url} could not start") from exc
        finally:
            listening.close()

    def _ended(self, task: asyncio.Task[None]) -> None:
        if self._server.started and not self._server.should_exit and not task.cancelled():
            log.error("the HTTP API on %s stopped by itself: %r", self.url, task.exception())

    async def stop(self) -> None:
        """Stops listening, lets the requests being answered finish (STOP_GRACE_SECONDS at most),
        and returns once the server has stopped."""
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(ApiServerError):  # raised by start, or logged by _ended
            await self._task
        self._task = None

    async def __aenter__(self) -> ApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening at host:port: bound here, so that a taken address is an OSError to
    report rather than uvicorn's exit. Made from getaddrinfo's answer as asyncio would make it:
    with proto IPPROTO_TCP, without which asyncio leaves Nagle's algorithm on for the connections
    (each answer then waits for the client's delayed ACK: 40 ms)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listening = socket.socket(family, kind, proto)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
        listening.listen(BACKLOG)
    except OSError:
        listening.close()
        raise
    return listening
