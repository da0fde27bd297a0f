"""Fault injection: rules that make chosen requests fail the way ARM and AKS fail."""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

# What a rule does to a matching request.
ACTIONS = ("error", "drop", "drop_after", "lro_failed")


@dataclass
class FaultRule:
    """Fail requests ``nth`` .. ``nth + times - 1`` (1-based) among those matching the rule.

    ``action``: ``error`` answers ``status`` with ``{"error": {code, message}}`` (or the bare
    ``{code, message}`` form when ``bare``), plus ``Retry-After`` when ``retry_after`` is set;
    ``drop`` closes the connection without answering; ``drop_after`` does the request,
    then closes the connection without answering (the response is lost on the way back);
    ``lro_failed`` accepts a PUT/DELETE
    but its long-running operation ends ``Failed`` with ``code``/``message``. ``details``
    (a list of ``{code, message, details}``) is AKS's nested ``details`` for either.
    ``path`` is a regular expression searched in the URL path (no query string).
    """

    method: str = "*"
    path: str = ""
    nth: int = 1
    times: int = 1
    action: str = "error"
    status: int = 500
    code: str = "InternalServerError"
    message: str = "An internal server error occurred. Please try again."
    retry_after: float | None = None
    bare: bool = False
    details: list[dict[str, Any]] | None = None
    seen: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r} (known: {ACTIONS})")
        re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        """True when the request is one this rule counts."""
        method_ok = self.method in ("*", method.upper())
        return method_ok and re.search(self.path, path, re.IGNORECASE) is not None

    def take(self) -> bool:
        """Count one matching request; True when this one must fail."""
        self.seen += 1
        if self.nth <= self.seen < self.nth + self.times:
            self.fired += 1
            return True
        return False


class Faults:
    """The configured fault rules, shared by every request-handling thread."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule | None = None, **kwargs: Any) -> FaultRule:
        """Add a rule (given, or built from FaultRule keyword arguments) and return it."""
        rule = rule or FaultRule(**kwargs)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        """A copy of the current rules, in evaluation order."""
        with self._lock:
            return list(self._rules)

    def take(self, method: str, path: str, *,
             actions: tuple[str, ...] = ACTIONS) -> FaultRule | None:
        """The first rule of one of ``actions`` that fires for this request, if any.

        Every matching rule counts the request, so ``nth`` always means the nth match.
        """
        fired = None
        with self._lock:
            for rule in self._rules:
                if rule.action in actions and rule.matches(method, path) and rule.take():
                    fired = fired or rule
        return fired

    def as_json(self) -> list[dict[str, Any]]:
        """The rules as plain dicts (for the control endpoint)."""
        return [asdict(rule) for rule in self.rules]
