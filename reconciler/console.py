"""Colour and debug logging, decided once per command from flags and the environment.

Colour (``--color auto|always|never``): ``always`` and ``never`` win; with ``auto`` (the
default) a non-empty ``NO_COLOR`` turns colour off, else a non-empty ``FORCE_COLOR``
(other than ``0`` or ``false``) turns it on, else a stream gets colour when it is a
terminal and ``TERM`` is not ``dumb``. The plan text (standard output) and the apply
progress (standard error) ask the same question for their own stream.

Debug (``--debug``, or ``RECONCILER_LOG=debug``): every logger at DEBUG on standard error
(which redacts every write: ``reconciler.redact``), among them ``reconciler.provider``
(each driver call with its duration) and ``reconciler.http`` (each HTTP request a provider
sends, with the response status and timing; never headers or bodies, so never a token).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

COLOR_CHOICES = ("auto", "always", "never")
_OFF_WORDS = ("0", "false")
_choice = "auto"


def set_color(choice: str) -> None:
    """``--color``: one of COLOR_CHOICES."""
    global _choice
    _choice = choice


def use_color(stream: TextIO | None = None) -> bool:
    """Whether output to ``stream`` (standard output by default) is coloured."""
    if _choice != "auto":
        return _choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    force = os.environ.get("FORCE_COLOR", "")
    if force and force.lower() not in _OFF_WORDS:
        return True
    stream = stream if stream is not None else sys.stdout
    return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"


def debug_requested() -> bool:
    """True when ``RECONCILER_LOG=debug`` asks for debug logging."""
    return os.environ.get("RECONCILER_LOG", "").lower() == "debug"


def configure_logging(debug: bool) -> None:
    """Debug: every logger at DEBUG on standard error. Otherwise libraries stay quiet.

    Without it, azure-identity's multi-line warnings (each credential it tried) would
    print before our one-line error; the error carries the remedy instead.
    """
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if getattr(handler, "_reconciler", False)]
    for handler in ours:  # an earlier invocation in this process (tests) asked for debug
        root.removeHandler(handler)
    if ours and not debug:
        root.setLevel(logging.WARNING)  # Python's default, which debug had changed
    if debug:
        handler = logging.StreamHandler(sys.stderr)  # the redacting stream (cli.py)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler._reconciler = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
    else:
        logging.getLogger("azure").addHandler(logging.NullHandler())
