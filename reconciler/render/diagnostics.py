"""Views of ``validate`` results: text for people, JSON for scripts, GitHub workflow-command
annotations and SARIF 2.1.0 for code scanning; chosen by name from ``DIAGNOSTIC_FORMATS``.

Messages, paths and file names are untrusted (a pull request wrote the file): every one
is redacted and made visible (``reconciler.escape.visible``: controls as ``\\x0d``) before
the format's own escaping. GitHub's workflow commands are escaped by its rules: in a
property ``%``, CR, LF, ``:`` and ``,``; in the message ``%``, CR and LF; so no value can
end the command early or start another one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath
from urllib.parse import quote

from reconciler import PROJECT_URL, __version__
from reconciler.diagnostics import Diagnostic, format_path
from reconciler.escape import guard_lines, json_text, terminal, visible

FORMAT_VERSION = "1"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# What each kind of problem is, for SARIF rules; schema/<keyword> is worded generically.
RULES = {
    "file/too-large": "The file is larger than a desired-state file can be.",
    "file/unreadable": "The file cannot be read (missing, a folder, a device, no permission).",
    "file/encoding": "The file is not UTF-8 text.",
    "file/empty": "The file holds no document.",
    "yaml/syntax": "The file is not valid YAML, or holds more than one document.",
    "yaml/limits": "The document is too large or too deeply nested once aliases expand.",
    "yaml/key": "A mapping key is not a plain string.",
    "yaml/duplicate-key": "A mapping key is written twice.",
    "yaml/tagged-value": "A value is a date, binary or tagged value where text is expected.",
    "env/unset-variable": "An environment variable named in cluster.settings is not set.",
    "semantic/protect-name": "A policy.protect entry can never name a pool.",
    "semantic/non-finite-number": "A number is .nan or .inf.",
    "semantic/invisible-character": "A key or value holds a control, bidi or invisible"
                                    " character.",
    "semantic/pool-limit": "More pools are listed than the provider allows.",
    "semantic/duplicate-pool-name": "Two pools have the same name.",
    "semantic/pool-name": "A pool name breaks the provider's naming rule.",
    "semantic/provider-name": "providerName is not a provider pool name.",
    "semantic/autoscaling-bounds": "Autoscaling is enabled without min and max.",
    "semantic/autoscaling-desired-ignored": "desired is set while autoscaling is enabled.",
    "semantic/autoscaling-min-max": "Autoscaling min is greater than max.",
    "semantic/system-pool-nodes": "A system pool may scale to zero nodes.",
    "semantic/zone-syntax": "A zone is not a zone number or <region>-<n>.",
    "semantic/zone-location": "A zone names another region than the cluster's location.",
    "semantic/zone-duplicate": "A zone is listed twice.",
    "semantic/label-key": "A label key is not a valid Kubernetes label key.",
    "semantic/label-reserved-prefix": "A label uses a prefix reserved by the provider.",
    "semantic/label-value": "A label value is not a valid Kubernetes label value.",
}
_SARIF_LEVEL = {"error": "error", "warning": "warning", "note": "note"}
_GITHUB_COMMAND = {"error": "error", "warning": "warning", "note": "notice"}


@dataclass(frozen=True)
class FileCheck:
    """What ``validate`` found in one file: its diagnostics, and its pools when valid."""

    file: str
    diagnostics: tuple[Diagnostic, ...]
    pools: int | None = None

    @property
    def valid(self) -> bool:
        """True when no diagnostic is an error (warnings and notes do not fail a file)."""
        return not any(d.severity == "error" for d in self.diagnostics)


# Output of a view, in order: (to standard error?, text).
Rendered = list[tuple[bool, str]]


def rule_description(rule: str) -> str:
    """One sentence on what ``rule`` checks."""
    if rule in RULES:
        return RULES[rule]
    kind, _, name = rule.partition("/")
    if kind == "schema":
        return f"The file does not match the schema (JSON Schema keyword '{name}')."
    if kind == "provider":
        return f"A pool breaks a rule of the '{name}' provider."
    return "A problem found by reconciler."


def render_text(checks: Sequence[FileCheck]) -> Rendered:
    """``FILE:LINE:COL: path: message`` on standard error, ``FILE: valid (N node pools)``
    on standard output (the default, for people)."""
    chunks: Rendered = []
    for check in checks:
        chunks.append((True, _lines([d.format() for d in check.diagnostics])))
        if check.valid:
            chunks.append((False, terminal(f"{check.file}: valid ({_pools(check.pools or 0)})")
                           + "\n"))
    return chunks


def render_json(checks: Sequence[FileCheck]) -> Rendered:
    """The documented JSON document (schemas/validate.schema.json)."""
    document = {
        "formatVersion": FORMAT_VERSION,
        "reconcilerVersion": __version__,
        "valid": all(check.valid for check in checks),
        "files": [{
            "file": check.file,
            "valid": check.valid,
            "nodePools": check.pools if check.valid else None,
            "diagnostics": [{
                "severity": d.severity,
                "rule": d.rule,
                "message": d.message,
                "path": list(d.path),
                "field": format_path(d.path) or None,
                "location": {"file": d.location.file, "line": d.location.line,
                             "column": d.location.column},
            } for d in check.diagnostics],
        } for check in checks],
    }
    return [(False, json_text(json.dumps(document, indent=2, ensure_ascii=False)) + "\n")]


def render_github(checks: Sequence[FileCheck]) -> Rendered:
    """One workflow command per diagnostic (``::error file=..,line=..,col=..,title=..::``),
    then one summary line per file."""
    lines = []
    for check in checks:
        for d in check.diagnostics:
            where = format_path(d.path)
            title = f"{where} ({d.rule})" if where else d.rule
            properties = ",".join(f"{key}={_property(value)}" for key, value in (
                ("file", d.location.file), ("line", d.location.line),
                ("col", d.location.column), ("title", title)))
            message = f"{where}: {d.message}" if where else d.message
            lines.append(f"::{_GITHUB_COMMAND[d.severity]} {properties}::{_message(message)}")
        errors = sum(1 for d in check.diagnostics if d.severity == "error")
        summary = f"valid ({_pools(check.pools or 0)})" if check.valid else \
            f"invalid ({errors} error{'' if errors == 1 else 's'})"
        lines.append(guard_lines(terminal(f"{check.file}: {summary}")))
    return [(False, _lines(lines))]


def _property(value: object) -> str:
    """A workflow-command property value, escaped as GitHub's runner unescapes it."""
    return (_message(value).replace(":", "%3A").replace(",", "%2C"))


def _message(value: object) -> str:
    """A workflow-command message: visible, then ``%``, CR and LF escaped."""
    return (visible(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def render_sarif(checks: Sequence[FileCheck]) -> Rendered:
    """A SARIF 2.1.0 log that GitHub code scanning accepts (upload-sarif)."""
    levels: dict[str, str] = {}  # each rule's level: that of its first result
    for check in checks:
        for d in check.diagnostics:
            levels.setdefault(d.rule, _SARIF_LEVEL[d.severity])
    rules = sorted(levels)
    index = {rule: i for i, rule in enumerate(rules)}
    results = [{
        "ruleId": d.rule,
        "ruleIndex": index[d.rule],
        "level": _SARIF_LEVEL[d.severity],
        "message": {"text": visible(f"{format_path(d.path)}: {d.message}" if d.path
                                    else d.message)},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": artifact_uri(d.location.file),
                                 "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": d.location.line, "startColumn": d.location.column},
        }}],
    } for check in checks for d in check.diagnostics]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "reconciler",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": PROJECT_URL,
                "rules": [{
                    "id": rule,
                    "name": _rule_name(rule),
                    "shortDescription": {"text": rule_description(rule)},
                    "defaultConfiguration": {"level": levels[rule]},
                } for rule in rules],
            }},
            "columnKind": "unicodeCodePoints",
            "originalUriBaseIds": {"%SRCROOT%": {"description": {
                "text": "The folder reconciler validate ran in."}}},
            "results": results,
        }],
    }
    return [(False, json_text(json.dumps(log, indent=2, ensure_ascii=False)) + "\n")]


def artifact_uri(file: str) -> str:
    """``file`` as a relative URI reference (forward slashes, percent-encoded): relative
    to the current folder when it is absolute and lies inside it."""
    path = FsPath(file)
    if path.is_absolute():
        try:
            path = path.relative_to(FsPath.cwd())
        except ValueError:
            return FsPath(file).as_uri()
    return quote(os.path.normpath(path).replace(os.sep, "/"), safe="/")


def _rule_name(rule: str) -> str:
    """``semantic/zone-syntax`` -> ``SemanticZoneSyntax`` (SARIF's rule name style)."""
    return "".join(part[:1].upper() + part[1:] for part in rule.replace("/", "-").split("-"))


def _pools(count: int) -> str:
    return f"{count} node pool{'' if count == 1 else 's'}"


def _lines(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


# --format NAME -> the view; the CLI's choices are this table's keys (first: the default).
DIAGNOSTIC_FORMATS: dict[str, Callable[[Sequence[FileCheck]], Rendered]] = {
    "text": render_text, "json": render_json, "github": render_github, "sarif": render_sarif}
