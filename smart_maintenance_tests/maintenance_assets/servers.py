"""Tiny real servers on free loopback ports for the notification sinks: an SMTP responder (EHLO, AUTH
PLAIN/LOGIN, MAIL, RCPT, DATA) and an HTTP server taking webhook POSTs. Each records what it received;
both are context managers that stop their thread on exit."""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import http.server
import json
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"


@dataclass
class Received:
    messages: list = field(default_factory=list)  # email.message.Message (SMTP) or (headers dict, body dict) (HTTP)
    logins: list[tuple[str, str]] = field(default_factory=list)  # (user, password) presented to the SMTP server


class _SmtpHandler(socketserver.StreamRequestHandler):
    def reply(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self) -> None:
        got: Received = self.server.received  # type: ignore[attr-defined]
        self.reply("220 localhost test SMTP")
        while line := self.rfile.readline():
            cmd = line.decode(errors="replace").strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-localhost\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME")
            elif verb == "AUTH":
                parts = cmd.split()
                if parts[1].upper() == "PLAIN":
                    blob = parts[2] if len(parts) > 2 else self._ask("")
                    _, user, password = base64.b64decode(blob).decode().split("\0")
                else:  # LOGIN
                    user = base64.b64decode(parts[2] if len(parts) > 2 else self._ask("VXNlcm5hbWU6")).decode()
                    password = base64.b64decode(self._ask("UGFzc3dvcmQ6")).decode()
                got.logins.append((user, password))
                self.reply("235 2.7.0 Authentication successful")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                got.messages.append(email.message_from_bytes(data, policy=email.policy.default))
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                self.reply("250 OK")
            else:
                self.reply("502 not implemented")

    def _ask(self, prompt: str) -> str:
        self.reply(f"334 {prompt}")
        return self.rfile.readline().decode().strip()


class _ThreadingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[int, Received]]:
    server = _ThreadingServer((LOOPBACK, 0), _SmtpHandler)
    server.received = Received()  # type: ignore[attr-defined]
    with _serving(server):
        yield server.server_address[1], server.received  # type: ignore[attr-defined]


@contextlib.contextmanager
def webhook_server(fail_recipient: str | None = None) -> Iterator[tuple[int, Received]]:
    """Answers 204 to every POST, or 500 to messages for `fail_recipient` (a broken endpoint for one of them)."""
    received = Received()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            received.messages.append((dict(self.headers), body))
            self.send_response(500 if body.get("recipient") == fail_recipient else 204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    with _serving(server):
        yield server.server_address[1], received


@contextlib.contextmanager
def _serving(server: socketserver.BaseServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive(), "test server thread did not stop"
