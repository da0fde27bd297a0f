"""A throwaway certificate authority so the emulator speaks real, verified HTTPS."""

from __future__ import annotations

import shutil
import socket
import ssl
import sys
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme


@dataclass(frozen=True)
class EmulatorTls:
    """The server's SSL context and the CA file clients must trust."""

    context: ssl.SSLContext
    ca_path: Path
    workdir: Path

    def cleanup(self) -> None:
        """Remove the temporary folder holding the CA file."""
        shutil.rmtree(self.workdir, ignore_errors=True)


def make_tls(*hosts: str) -> EmulatorTls:
    """Issue a server certificate for ``hosts`` from a fresh CA written to a temp file."""
    ca = trustme.CA()
    leaf = ca.issue_cert(*(hosts or ("127.0.0.1", "localhost")))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    workdir = Path(tempfile.mkdtemp(prefix="aks-emulator-"))
    ca_path = workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return EmulatorTls(context=context, ca_path=ca_path, workdir=workdir)


class TlsHttpServer(ThreadingHTTPServer):
    """A threading HTTP server whose connections are TLS-wrapped, each handshake done in
    its handler's thread (so one slow client never blocks accept()). Set ``context``."""

    daemon_threads = True
    context: ssl.SSLContext

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up mid-request are normal here; stay quiet about them."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def serve_in_background(self, name: str) -> threading.Thread:
        """Serve from a daemon thread (checking for shutdown every 50 ms)."""
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                  name=name, daemon=True)
        thread.start()
        return thread

    def stop(self, thread: threading.Thread | None) -> None:
        """Stop serving, close the socket, and wait for ``thread`` (if any) to end."""
        self.shutdown()
        self.server_close()
        if thread is not None:
            thread.join(timeout=5)


class TlsRequestHandler(BaseHTTPRequestHandler):
    """One keep-alive HTTP/1.1 connection of a ``TlsHttpServer``, with no access log."""

    protocol_version = "HTTP/1.1"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body are two sends: no 40 ms delayed-ACK stall

    def handle(self) -> None:
        """Finish the TLS handshake, then serve HTTP requests until the client closes."""
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            return  # a client that gave up or does not trust the CA
        super().handle()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silence the default stderr access log (request logs replace it)."""
