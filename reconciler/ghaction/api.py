"""A small GitHub REST client on the standard library (``urllib``), for the Action.

The base URL comes from ``GITHUB_API_URL`` (GitHub Enterprise Server, tests), the token
from the environment. The token is sent only to the API's own origin: pagination links
and redirects to another origin (an artifact's download URL redirects to blob storage)
are followed without it, and no message, error or log line ever holds it.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

API_VERSION = "2022-11-28"
MAX_BODY = 64 * 1024 * 1024  # a plan artifact is kilobytes; anything near this is wrong
MAX_PAGES = 20
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class GitHubError(Exception):
    """The API refused or failed a request: method, path, status and GitHub's message."""

    def __init__(self, method: str, path: str, status: int | None, message: str) -> None:
        self.status = status
        answer = f"answered {status}" if status is not None else "did not answer"
        super().__init__(f"GitHub API {method} {path} {answer}: {message}")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by hand, so the token never goes to another origin."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class GitHub:
    """The REST API of one repository's host."""

    def __init__(self, base_url: str, token: str, repository: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.repository = repository
        self._opener = urllib.request.build_opener(_NoRedirects)

    def __repr__(self) -> str:
        return f"GitHub({self.base_url!r}, <token>, {self.repository!r})"

    def repo_path(self, path: str) -> str:
        """``/repos/OWNER/REPO`` + ``path``."""
        return f"/repos/{self.repository}{path}"

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One JSON request to ``path`` (relative to the base URL); the decoded answer."""
        raw, _ = self._send(method, self.base_url + path, body, authorised=True)
        return json.loads(raw) if raw.strip() else None

    def paginate(self, path: str, key: str | None = None) -> list[Any]:
        """Every item of a listing, following ``Link: rel="next"`` on the same origin."""
        url: str | None = self.base_url + path
        items: list[Any] = []
        for _ in range(MAX_PAGES):
            if url is None:
                break
            raw, headers = self._send("GET", url, None, authorised=True)
            page = json.loads(raw)
            items += page[key] if key else page
            found = _NEXT.search(headers.get("Link", ""))
            url = found.group(1) if found and self._same_origin(found.group(1)) else None
        return items

    def download(self, url: str) -> bytes:
        """The bytes at ``url`` (an API URL), following redirects; the token goes to the
        API's origin only."""
        for _ in range(5):
            raw, location = self._fetch(url, authorised=self._same_origin(url))
            if location is None:
                return raw
            url = urllib.parse.urljoin(url, location)
        raise GitHubError("GET", _shown(url), None, "too many redirects")

    def _same_origin(self, url: str) -> bool:
        mine, theirs = urllib.parse.urlsplit(self.base_url), urllib.parse.urlsplit(url)
        return (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc)

    def _headers(self, authorised: bool) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "User-Agent": "reconciler-action",
                   "X-GitHub-Api-Version": API_VERSION}
        if authorised and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _send(self, method: str, url: str, body: Any,
              authorised: bool) -> tuple[bytes, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method,
                                         headers=self._headers(authorised))
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=60) as response:
                return response.read(MAX_BODY), response.headers
        except urllib.error.HTTPError as exc:
            raise GitHubError(method, _shown(url), exc.code, _message(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise GitHubError(method, _shown(url), None, str(getattr(exc, "reason", exc))
                              ) from None

    def _fetch(self, url: str, authorised: bool) -> tuple[bytes, str | None]:
        """GET ``url``: (body, None), or (b"", the redirect's Location)."""
        request = urllib.request.Request(url, headers=self._headers(authorised))
        try:
            with self._opener.open(request, timeout=120) as response:
                return response.read(MAX_BODY + 1), None
        except urllib.error.HTTPError as exc:
            if exc.code in (301, 302, 303, 307, 308) and exc.headers.get("Location"):
                return b"", exc.headers["Location"]
            raise GitHubError("GET", _shown(url), exc.code, _message(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise GitHubError("GET", _shown(url), None, str(getattr(exc, "reason", exc))
                              ) from None


def _shown(url: str) -> str:
    """A URL for messages: path only (a signed download URL's query is a credential)."""
    return urllib.parse.urlsplit(url).path


def _message(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read(65536)).get("message", error.reason))
    except (ValueError, AttributeError, OSError):
        return str(error.reason)
