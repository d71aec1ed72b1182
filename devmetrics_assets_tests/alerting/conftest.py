"""Real local receivers for the alerting tests: an HTTP server capturing posted JSON (Slack-style and
generic webhooks) and an SMTP server (aiosmtpd) capturing messages, both on 127.0.0.1.

The HTTP receiver can be stopped and started again on the same port, which is how the tests take a
channel down and bring it back.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)  # path -> status to answer (default 200)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # path -> extra response headers
    _server: ThreadingHTTPServer | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._cond:
                    receiver.requests.append(
                        Received(self.path, dict(self.headers.items()), body, time.time())
                    )
                    receiver._cond.notify_all()
                code = receiver.status.get(self.path, 200)
                self.send_response(code)
                for name, value in receiver.headers.get(self.path, {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.time() + timeout
        with self._cond:
            while len(self.requests) < count and time.time() < deadline:
                self._cond.wait(0.05)
        return list(self.requests)


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SmtpReceiver:
    port: int
    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)  # (from, to, message)

    def by_subject(self, text: str) -> list[Message]:
        return [m for _, _, m in self.messages if text in str(m["Subject"])]


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    from aiosmtpd.controller import Controller

    receiver = SmtpReceiver(port=free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            receiver.messages.append(
                (
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    message_from_bytes(envelope.original_content or envelope.content),
                )
            )
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname="127.0.0.1", port=receiver.port)
    controller.start()
    yield receiver
    controller.stop()
