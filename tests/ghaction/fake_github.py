"""A stand-in for the GitHub REST API on 127.0.0.1, serving the recorded answers in
responses/, keeping the comments and labels the Action writes, and logging every request
(method, path, whether it carried the token, body). A second server stands for the blob
storage an artifact download redirects to (another origin: it must get no token)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

RESPONSES = Path(__file__).parent / "responses"
BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}


@dataclass
class Request:
    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class FakeGitHub:
    """What the API holds; tests set it up and read it back."""

    token: str
    sha: str
    head: str
    api: str = ""
    blob: str = ""
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    labels: dict[int, list[str]] = field(default_factory=dict)
    commit_pulls: list[dict[str, Any]] | None = None
    artifacts: dict[str, Any] | None = None
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    archive: bytes | None = None  # what every artifact download returns
    refuse_comments: bool = False  # a fork's read-only token
    requests: list[Request] = field(default_factory=list)
    blob_requests: list[Request] = field(default_factory=list)
    _next_id: int = 100

    def recorded(self, name: str) -> Any:
        text = (RESPONSES / name).read_text()
        for key, value in (("{api}", self.api), ("{sha}", self.sha), ("{head}", self.head)):
            text = text.replace(key, value)
        return json.loads(text)

    def use_recorded_merge(self) -> None:
        """The push of the merge commit of #7, whose plan run 602 succeeded."""
        self.commit_pulls = self.recorded("commit-pulls.json")
        self.artifacts = self.recorded("artifacts.json")
        self.runs = {run["id"]: run for run in
                     (self.recorded("run-602.json"), self.recorded("run-603.json"))}

    def add_comment(self, number: int, user: dict[str, Any], body: str) -> int:
        self._next_id += 1
        comment = {**self.recorded("issue-comment.json"), "id": self._next_id, "user": user,
                   "body": body}
        self.comments.setdefault(number, []).append(comment)
        return self._next_id

    def calls(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    # -- the API -----------------------------------------------------------------------------

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        route = urlsplit(path).path
        repo = "/repos/acme/infra"
        if not route.startswith(repo):
            return 404, {"message": "Not Found"}, {}
        route = route[len(repo):]
        if m := re.fullmatch(r"/issues/(\d+)/comments", route):
            number = int(m.group(1))
            if method == "GET":
                return 200, self.comments.get(number, []), {}
            if self.refuse_comments:
                return 403, {"message": "Resource not accessible by integration"}, {}
            new = self.add_comment(number, BOT, body["body"])
            return 201, self.comments[number][-1] | {"id": new}, {}
        if (m := re.fullmatch(r"/issues/comments/(\d+)", route)) and method == "PATCH":
            for comment in (c for cs in self.comments.values() for c in cs):
                if comment["id"] == int(m.group(1)):
                    comment["body"] = body["body"]
                    return 200, comment, {}
            return 404, {"message": "Not Found"}, {}
        if m := re.fullmatch(r"/issues/(\d+)/labels(?:/(.+))?", route):
            number, name = int(m.group(1)), m.group(2)
            current = self.labels.setdefault(number, [])
            if method == "GET":
                return 200, [self._label(n) for n in current], {}
            if method == "POST":
                current += [n for n in body["labels"] if n not in current]
                return 200, [self._label(n) for n in current], {}
            if method == "DELETE" and name and unquote(name) in current:
                current.remove(unquote(name))
                return 200, [self._label(n) for n in current], {}
            return 404, {"message": "Label does not exist"}, {}
        if re.fullmatch(r"/commits/[0-9a-f]+/pulls", route) and self.commit_pulls is not None:
            return 200, self.commit_pulls, {}
        if route == "/actions/artifacts" and self.artifacts is not None:
            return 200, self.artifacts, {}
        if (m := re.fullmatch(r"/actions/runs/(\d+)", route)) and int(m.group(1)) in self.runs:
            return 200, self.runs[int(m.group(1))], {}
        if re.fullmatch(r"/actions/artifacts/\d+/zip", route) and self.archive is not None:
            return 302, None, {"Location": f"{self.blob}/artifact.zip?sig=secret-signature"}
        return 404, {"message": "Not Found"}, {}

    def _label(self, name: str) -> dict[str, Any]:
        return {**self.recorded("label.json"), "name": name}


def _handler(fake: FakeGitHub, blob: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            record = Request(self.command, self.path, self.headers.get("Authorization"), body)
            if blob:
                fake.blob_requests.append(record)
                payload = fake.archive or b""
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            fake.requests.append(record)
            if record.authorization != f"Bearer {fake.token}":
                status, answer, headers = 401, {"message": "Bad credentials"}, {}
            else:
                status, answer, headers = fake.answer(self.command, self.path, body)
            data = json.dumps(answer).encode() if answer is not None else b""
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve(fake: FakeGitHub) -> Iterator[FakeGitHub]:
    """Run the API and the blob store on 127.0.0.1 (free ports) while inside."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake, blob))
               for blob in (False, True)]
    # A short poll: shutdown() waits up to one poll interval (0.5 s by default, per server).
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05},
                                daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    fake.api, fake.blob = (f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
    try:
        yield fake
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
