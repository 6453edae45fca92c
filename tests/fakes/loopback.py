"""Serve an ASGI app over real HTTP on 127.0.0.1 (an ephemeral port) in a thread, for the length of a block.

Production clients and third-party peers then talk to the fakes through real sockets, exactly as to a server.
"""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


class AppSlot:
    """An ASGI app forwarding to whichever app is plugged in, so one loopback server can serve a fresh fake per
    test (starting and stopping uvicorn costs more than most tests)."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.app is None:
            raise RuntimeError("no fake server is plugged into this slot")
        await self.app(scope, receive, send)


class _QuietServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        """The test process owns the signals; a server in a thread must not take them."""


@contextmanager
def serve(app: Any, *, startup_timeout: float = 10.0) -> Iterator[str]:
    """Yield the base URL (`http://127.0.0.1:PORT`) of the app served in a background thread."""
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only then, else each kept-alive response waits ~40 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_keep_alive=5)
    server = _QuietServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the loopback server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
