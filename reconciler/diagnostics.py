"""Located diagnostics: every problem in a file is reported as FILE:LINE:COL: path: message."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.errors import ReconcilerError
from reconciler.escape import terminal

# A path into the document: keys and list indices, e.g. ("nodePools", 0, "autoscaling").
Path = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based position in a source file."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a file."""

    location: Location
    path: Path
    message: str
    severity: str = "error"  # error, warning or note
    # A stable id per kind of problem (never per message): "schema/type",
    # "semantic/zone-syntax", "yaml/syntax". SARIF rules and CI annotations use it.
    rule: str = "reconciler"

    def format(self) -> str:
        """The one-line form users see."""
        where = format_path(self.path)
        prefix = f"{self.location}: {where}" if where else str(self.location)
        label = "" if self.severity == "error" else f"{self.severity}: "
        return printable(f"{prefix}: {label}{self.message}")


class InvalidDocument(ReconcilerError):
    """A desired-state file has one or more problems; all of them are carried."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = tuple(sorted(diagnostics, key=lambda d: (d.location, d.message)))
        super().__init__("\n".join(d.format() for d in self.diagnostics))


def format_path(path: Path) -> str:
    """``("nodePools", 0, "autoscaling", "min")`` -> ``nodePools[0].autoscaling.min``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def printable(text: str) -> str:
    """``text`` as one inert line: ``reconciler.escape.terminal`` (controls as ``\\x1b``)."""
    return terminal(text)
