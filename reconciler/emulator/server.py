"""The HTTPS server: TLS, bearer-token check, fault injection, request log, control API."""

from __future__ import annotations

import json
import ssl
import traceback
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from reconciler.emulator.arm import ArmApi, Request, Response, error_response
from reconciler.emulator.faults import FaultRule, Faults
from reconciler.emulator.requestlog import LoggedRequest, RequestLog
from reconciler.emulator.tls import TlsHttpServer, TlsRequestHandler

CONTROL_PREFIX = "/_emulator/"


class EmulatorHttpServer(TlsHttpServer):
    """The emulator's TLS server, holding its faults, request log and ARM API."""

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext,
                 faults: Faults, log: RequestLog) -> None:
        super().__init__(address, ArmRequestHandler)
        self.context = context
        self.faults = faults
        self.log = log
        self.api: ArmApi | None = None  # set once the port (hence the base URL) is known


class ArmRequestHandler(TlsRequestHandler):
    """One connection: keep-alive HTTP/1.1, JSON in and out."""

    server: EmulatorHttpServer

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802
        self._handle()

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        url = urlsplit(self.path)
        request = Request(self.command, url.path, dict(parse_qsl(url.query)),
                          dict(self.headers.items()), self._read_body())
        if url.path.startswith(CONTROL_PREFIX):
            self._send(self._control(request))
            return
        response = self._answer(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        status = response.status if response else 0  # 0 = connection dropped
        self.server.log.append(LoggedRequest(request.method, request.path, request.query,
                                             headers, status, request.body))
        if response is None:
            self.close_connection = True  # close without a byte: a dropped connection
            return
        self._send(response)

    def _answer(self, request: Request) -> Response | None:
        assert self.server.api is not None
        config = self.server.api.config
        given = request.header("Authorization") or ""
        if not (config.accepts_token(given.removeprefix("Bearer ")) if config.accepts_token
                else given == f"Bearer {config.token}"):
            return error_response(
                401, "InvalidAuthenticationToken", "The access token is invalid.",
                headers={"WWW-Authenticate": 'Bearer authorization_uri="https://login.'
                         'microsoftonline.com/common", error="invalid_token", '
                         'error_description="The access token is invalid."'})
        rule = self.server.faults.take(request.method, request.path,
                                       actions=("error", "drop", "drop_after"))
        if rule and rule.action == "drop":
            return None
        if rule and rule.action == "drop_after":
            self.server.api.handle(request)  # done server-side, but the answer is lost
            return None
        if rule:
            headers = {} if rule.retry_after is None else {"Retry-After": f"{rule.retry_after:g}"}
            return error_response(rule.status, rule.code, rule.message, bare=rule.bare,
                                  headers=headers, details=rule.details)
        try:
            return self.server.api.handle(request)
        except Exception as err:  # an emulator bug must surface as a 500, not a hang
            traceback.print_exc()
            return error_response(500, "EmulatorError", f"{type(err).__name__}: {err}")

    def _control(self, request: Request) -> Response:
        """Test hooks: GET requests|pools|faults, POST faults, DELETE faults|requests."""
        what = request.path[len(CONTROL_PREFIX):].strip("/")
        server, api = self.server, self.server.api
        assert api is not None
        if request.method == "GET" and what == "requests":
            return Response(200, server.log.as_json())
        if request.method == "GET" and what == "pools":
            return Response(200, api.cluster.store.snapshot())
        if request.method == "GET" and what == "faults":
            return Response(200, server.faults.as_json())
        if request.method == "POST" and what == "faults":
            rules = request.body if isinstance(request.body, list) else [request.body]
            return Response(201, [vars(server.faults.add(FaultRule(**r))) for r in rules])
        if request.method == "DELETE" and what in ("faults", "requests"):
            (server.faults if what == "faults" else server.log).clear()
            return Response(204)
        return error_response(404, "NotFound", f"unknown control endpoint '{what}'")

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _send(self, response: Response) -> None:
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        if response.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

