"""What an editor shows for a desired-state file: the YAML language server (npm), started
over stdio and driven with LSP JSON-RPC, reading the published schema through the modeline.

The server is installed once per lockfile into ``.cache/`` (``npm ci`` from this folder's
package.json and package-lock.json). Without npm the tests skip, unless
RECONCILER_REQUIRE_NPM is set (``.ci/run`` sets it, so CI never skips them).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SCHEMA_URI = (ROOT / "schemas" / "nodepools.schema.json").as_uri()
WAIT = 60.0  # seconds for one answer: generous for a loaded CI machine, never asserted


@pytest.fixture(scope="session")
def server_js() -> Path:
    """The installed server's entry point (``npm ci`` into .cache/ on first use)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        if os.environ.get("RECONCILER_REQUIRE_NPM"):
            pytest.fail("RECONCILER_REQUIRE_NPM is set but npm/node are not on PATH")
        pytest.skip("npm and node are not installed: the editor (LSP) tests need them")
    lock = (HERE / "package-lock.json").read_bytes()
    folder = ROOT / ".cache" / f"lsp-{hashlib.sha256(lock).hexdigest()[:12]}"
    entry = folder / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock_file:  # xdist workers install it once
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if not entry.exists():
            for name in ("package.json", "package-lock.json"):
                shutil.copy(HERE / name, folder / name)
            done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                                  cwd=folder, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return entry


class LspClient:
    """A minimal LSP client: framed JSON-RPC over the server's stdin/stdout."""

    def __init__(self, entry: Path) -> None:
        self.process = subprocess.Popen(["node", str(entry), "--stdio"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.diagnostics: dict[str, list[dict[str, Any]]] = {}
        self.published: queue.Queue[str] = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if line == b"":
                return
            message = json.loads(stream.read(length))
            if message.get("method") == "textDocument/publishDiagnostics":
                self.diagnostics[message["params"]["uri"]] = message["params"]["diagnostics"]
                self.published.put(message["params"]["uri"])
            elif "method" in message and "id" in message:  # a request from the server
                result: Any = None
                if message["method"] == "workspace/configuration":
                    result = [self.settings()["yaml"] for _ in message["params"]["items"]]
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": result})
            elif "id" in message:
                self.inbox.put(message)

    @staticmethod
    def settings() -> dict[str, Any]:
        return {"yaml": {"validate": True, "hover": True, "completion": True,
                         "schemaStore": {"enable": False}, "format": {"enable": False}}}

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        stdin.flush()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: dict[str, Any]) -> Any:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            answer = self.inbox.get(timeout=WAIT)
            if answer["id"] == self.next_id:
                assert "error" not in answer, answer
                return answer["result"]

    def open(self, uri: str, text: str) -> None:
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "yaml", "version": 1, "text": text}})

    def diagnostics_for(self, uri: str) -> list[dict[str, Any]]:
        """The first non-empty diagnostics published for ``uri`` (the server may first
        publish an empty list while it loads the schema)."""
        while not self.diagnostics.get(uri):
            self.published.get(timeout=WAIT)
        return self.diagnostics[uri]

    def close(self) -> None:
        try:
            self.request("shutdown", {})
            self.notify("exit", {})
            self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def lsp(server_js: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LspClient]:
    client = LspClient(server_js)
    workspace = tmp_path_factory.mktemp("workspace")
    client.request("initialize", {
        "processId": os.getpid(), "rootUri": workspace.as_uri(),
        "capabilities": {"textDocument": {
            "hover": {"contentFormat": ["markdown", "plaintext"]},
            "completion": {"completionItem": {"snippetSupport": True,
                                              "documentationFormat": ["markdown"]}}},
            "workspace": {"configuration": True}}})
    client.notify("initialized", {})
    client.notify("workspace/didChangeConfiguration", {"settings": client.settings()})
    client.workspace = workspace  # type: ignore[attr-defined]
    yield client
    client.close()


def _document(lsp: LspClient, name: str, body: str) -> str:
    """Open ``body`` (after the schema modeline) as a file; return its URI."""
    uri = (lsp.workspace / name).as_uri()  # type: ignore[attr-defined]
    lsp.open(uri, f"# yaml-language-server: $schema={SCHEMA_URI}\n{body}")
    return uri


BODY = """\
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: demo
  provider: local
nodePools:
  - name: system
    mode: system
    instanceType: Standard_D4s_v5
    autoscaling: {enabled: true, min: 1, max: 3}
"""


def _labels(completion: Any) -> list[str]:
    items = completion["items"] if isinstance(completion, dict) else completion
    return [item["label"] for item in items]


def test_hover_shows_the_fields_description(lsp: LspClient) -> None:
    uri = _document(lsp, "hover.yaml", BODY)
    # Line 9 (0-based, after the modeline) is "    instanceType: ...": hover on the key.
    hover = lsp.request("textDocument/hover", {"textDocument": {"uri": uri},
                                               "position": {"line": 9, "character": 8}})
    assert hover is not None
    text = json.dumps(hover["contents"])
    assert "VM or machine type" in text and "Immutable" in text


def test_completion_in_a_pool_offers_its_fields_but_not_status(lsp: LspClient) -> None:
    uri = _document(lsp, "complete.yaml", BODY + "    \n")
    completion = lsp.request("textDocument/completion", {
        "textDocument": {"uri": uri}, "position": {"line": 11, "character": 4}})
    labels = _labels(completion)
    assert {"zones", "priority", "labels", "osDiskType"} <= set(labels), labels
    assert "status" not in labels
    assert "instanceType" not in labels  # already written in this pool


def test_a_new_pool_snippet_is_offered(lsp: LspClient) -> None:
    uri = _document(lsp, "snippet.yaml", BODY + "  - \n")
    completion = lsp.request("textDocument/completion", {
        "textDocument": {"uri": uri}, "position": {"line": 11, "character": 4}})
    items = completion["items"] if isinstance(completion, dict) else completion
    snippet = next((item for item in items if item["label"] == "New user pool"), None)
    assert snippet is not None, _labels(completion)
    inserted = snippet.get("insertText") or snippet["textEdit"]["newText"]
    assert "name:" in inserted and "autoscaling:" in inserted and "max: 3" in inserted


def test_a_bad_value_is_underlined_on_its_line(lsp: LspClient) -> None:
    uri = _document(lsp, "bad.yaml", BODY.replace("mode: system", "mode: sistem")
                    + "  - name: Apps\n    labels: {kompox.dev/owner: me}\n")
    found = {(d["range"]["start"]["line"], d["message"]) for d in lsp.diagnostics_for(uri)}
    lines = {line for line, _ in found}
    assert 8 in lines, found  # "    mode: sistem"
    assert any(line == 8 and "system" in message for line, message in found), found
    # The schema's own words reach the editor: AKS pool-name rules and reserved labels.
    assert any(line == 11 and "invalid pool name" in message for line, message in found)
    assert any(line == 12 and "reserved label" in message for line, message in found)
    assert not any(line in (1, 2, 3, 4, 5, 6, 7, 9, 10) for line in lines), found
