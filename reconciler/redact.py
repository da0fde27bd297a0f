"""Values that must never reach an output or a file: expanded ``${VAR}`` values, tokens.

Loading a desired file remembers every value it expanded from the environment, and a
driver remembers the credentials it reads; every output (terminal, CI log, PR comment,
saved plan, exported file) passes through :func:`redact`, which writes each remembered
value as the ``${NAME}`` it came from. A value shorter than ``MIN_SECRET_LENGTH`` is not
hidden: it cannot be a secret worth the name, and hiding ``1`` would garble every zone.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_placeholders: dict[str, str] = {}  # value -> what is written instead
_pattern: re.Pattern[str] | None = None


def remember(value: str, placeholder: str) -> None:
    """Hide ``value`` from every later output, writing ``placeholder`` instead."""
    global _pattern
    if len(value) < MIN_SECRET_LENGTH:
        return
    forms = {value, json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1]}
    with _lock:
        for form in forms:
            _placeholders.setdefault(form, placeholder)
        # Longest first, so a value that contains another is hidden whole; a value is
        # hidden only where it stands alone (``prod`` stays in ``production``).
        alternatives = "|".join(re.escape(form) for form in
                                sorted(_placeholders, key=len, reverse=True))
        _pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")


def redact(text: str) -> str:
    """``text`` with every remembered value replaced by its placeholder."""
    pattern = _pattern
    if pattern is None:
        return text
    return pattern.sub(lambda match: _placeholders[match.group()], text)


def forget_all() -> None:
    """Forget every remembered value (tests run many commands in one process)."""
    global _pattern
    with _lock:
        _placeholders.clear()
        _pattern = None


class RedactingStream:
    """A text stream that redacts every write before passing it to ``stream``.

    The CLI puts one around standard output and standard error, so whatever prints
    (click, rich, a library's warning) goes through :func:`redact`. Each write is
    redacted whole; every printer here writes a message in one call.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write ``text`` redacted; returns the length written as asked."""
        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, buffer...
        return getattr(self._stream, name)
