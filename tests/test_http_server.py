"""The HTTP server on a real socket, on the running event loop: a free port, a clean stop that lets
a request being answered finish, a taken port reported, and no signal handler of its own."""

from __future__ import annotations

import asyncio
import signal
import socket

import httpx
import pytest

from bot.config import ApiConfig
from bot.http.app import build_http_app
from bot.http.server import ApiServer, ApiServerError, listening_socket
from tests.http_fake import FakeIntake


@pytest.fixture
def intake() -> FakeIntake:
    return FakeIntake()


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


async def test_it_serves_on_a_free_port_over_a_real_socket_and_stops_cleanly(intake):
    server = ApiServer(build_http_app(intake, ApiConfig()), "127.0.0.1", 0)
    await server.start()
    try:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.get("/api/health")
            assert response.status_code == 200 and response.json() == {"status": "ok"}
            refused = await http.get("/api/v1/answers")
            assert refused.status_code == 401
    finally:
        await asyncio.wait_for(server.stop(), 5)
    assert not reachable(server.port)
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("http ")]


async def test_a_request_being_answered_at_the_stop_finishes(intake):
    asked, release = asyncio.Event(), asyncio.Event()
    healthy = intake.healthy

    async def slow() -> bool:
        asked.set()
        await release.wait()
        return await healthy()

    intake.healthy = slow  # type: ignore[method-assign]
    app = build_http_app(intake, ApiConfig())
    async with ApiServer(app, "127.0.0.1", 0) as server, httpx.AsyncClient(base_url=server.url) as http:
        pending = asyncio.create_task(http.get("/api/health"))
        await asyncio.wait_for(asked.wait(), 5)
        stopping = asyncio.create_task(server.stop())
        await asyncio.sleep(0.3)
        assert not reachable(server.port)  # no new connection is taken
        release.set()
        assert (await pending).status_code == 200
        await asyncio.wait_for(stopping, 5)


async def test_a_taken_port_is_an_error_naming_the_address(intake):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ApiServer(build_http_app(intake, ApiConfig()), "127.0.0.1", port)
        with pytest.raises(ApiServerError, match=f"cannot listen on 127.0.0.1:{port}"):
            await server.start()
    await server.stop()  # nothing to stop


async def test_it_takes_no_signal_handler(intake):
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    async with ApiServer(build_http_app(intake, ApiConfig()), "127.0.0.1", 0):
        assert {sig: signal.getsignal(sig) for sig in before} == before
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_connections_answer_without_waiting_for_delayed_acks():
    """A listening socket made with proto 0 (socket.create_server) keeps asyncio from setting
    TCP_NODELAY on its connections: every answer then waited 40 ms for the client's ACK."""
    with listening_socket("127.0.0.1", 0) as listening:
        assert listening.proto == socket.IPPROTO_TCP
