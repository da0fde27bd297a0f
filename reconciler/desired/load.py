"""File -> located document -> validated DesiredState. Offline: no provider is contacted."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import replace
from pathlib import Path as FsPath
from typing import Any

from reconciler.desired.document import LocatedDocument, load_document
from reconciler.desired.schema import schema_diagnostics
from reconciler.desired.semantics import semantic_diagnostics
from reconciler.diagnostics import Diagnostic, InvalidDocument, Path
from reconciler.model import (
    IMMUTABLE_DEFAULT,
    Capabilities,
    Cluster,
    DesiredState,
    pool_from_dict,
)
from reconciler.redact import remember
from reconciler.registry import PROVIDERS, capabilities_for

# ${NAME} or ${NAME:-default}; the default is the file's own text, used when NAME is unset
# or empty (as in POSIX shells).
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
PRUNE_DEFAULT = "owned"


def load_desired(file: str | FsPath, *, expand: bool = True) -> DesiredState:
    """Read and validate ``file``; every problem found raises one InvalidDocument.

    With ``expand=False`` (``validate``: offline, no environment needed) ``${VAR}``
    references stay as written, their values are not checked, and an unset variable is
    a note rather than an error.
    """
    doc = load_document(file)
    references = settings_references(doc)
    unset = [Diagnostic(doc.location(path), path,
                        f"environment variable '{name}' is not set" if expand else
                        f"environment variable '{name}' is not set; plan and apply will"
                        " need it", severity="error" if expand else "note",
                        rule="env/unset-variable")
             for path, names in references.items() for name in names
             if not _lookup(name, os.environ) and not _has_default(doc, path, name)]
    problems = [d for d in unset if d.severity == "error"]
    if expand and not problems:
        expand_settings(doc, os.environ)
    # A value still holding a reference cannot be checked; its variable is the news.
    unchecked = set(references) if problems or not expand else set()
    # Semantic checks run beside schema errors so one run reports everything; they guard types.
    semantic = semantic_diagnostics(doc, _capabilities(doc.data))
    # Where the schema says what a semantic check says (pool names, labels, zones: the
    # schema says them for editors, in the same words) the file gets one error, the semantic
    # one (its rule id is the more specific).
    said = {(d.location, d.message) for d in semantic}
    problems += [d for d in schema_diagnostics(doc)
                 if d.path not in unchecked and (d.location, d.message) not in said]
    problems += [d for d in semantic if d.severity == "error"]
    if problems:
        raise InvalidDocument(problems)
    desired = _build(doc, FsPath(file))
    notes = tuple(sorted((d for d in (*unset, *semantic) if d.severity != "error"),
                         key=lambda d: (d.location, d.message)))
    return replace(desired, notes=notes) if notes else desired


def _settings(doc: LocatedDocument) -> dict[str, Any]:
    cluster = doc.data.get("cluster")
    settings = cluster.get("settings") if isinstance(cluster, dict) else None
    return settings if isinstance(settings, dict) else {}


def settings_references(doc: LocatedDocument) -> dict[Path, list[str]]:
    """The variables each ``cluster.settings`` string refers to, by the setting's path."""
    return {("cluster", "settings", key): [m.group(1) for m in _ENV_REF.finditer(value)]
            for key, value in _settings(doc).items()
            if isinstance(value, str) and _ENV_REF.search(value)}


def _lookup(name: str, env: Any) -> str:
    return str(env.get(name) or "")


def _has_default(doc: LocatedDocument, path: Path, name: str) -> bool:
    value = _settings(doc).get(str(path[-1]), "")
    return any(m.group(1) == name and m.group(2) is not None for m in _ENV_REF.finditer(value))


def expand_settings(doc: LocatedDocument, env: Any) -> None:
    """Expand ``${VAR}`` in ``cluster.settings`` string values, in place; nowhere else.

    Every value taken from the environment is remembered as a secret: no output or file
    shows it, they show ``${VAR}`` instead (``reconciler.redact``).
    """
    settings = _settings(doc)

    def value_of(match: re.Match[str]) -> str:
        value = _lookup(match.group(1), env)
        if value:
            remember(value, "${" + match.group(1) + "}")
            return value
        return match.group(2) or ""

    for key, value in settings.items():
        if isinstance(value, str):
            settings[key] = _ENV_REF.sub(value_of, value)


def _capabilities(data: dict[str, Any]) -> Any:
    cluster: dict[str, Any] = data["cluster"] if isinstance(data.get("cluster"), dict) else {}
    settings: dict[str, Any] = cluster["settings"] if isinstance(cluster.get("settings"),
                                                                  dict) else {}
    # An unexpanded location (validate) is unknown rather than wrong.
    known = {k: v for k, v in settings.items() if not (isinstance(v, str) and "${" in v)}
    provider = str(cluster.get("provider", "local"))
    # A misspelt provider is reported by the schema; the pools are still checked, by the
    # rules of the provider it most likely means, so one run reports everything.
    close = difflib.get_close_matches(provider, list(PROVIDERS), n=1)
    if provider not in PROVIDERS and not close:
        return Capabilities(location=known.get("location") if isinstance(
            known.get("location"), str) else None)  # neutral rules only
    return capabilities_for(provider if provider in PROVIDERS else close[0], known)


def _build(doc: LocatedDocument, file: FsPath) -> DesiredState:
    data = doc.data
    policy = data.get("policy") or {}
    cluster = Cluster(name=data["cluster"]["name"], provider=data["cluster"]["provider"],
                      settings=dict(data["cluster"].get("settings") or {}),
                      base_dir=file.resolve().parent)
    return DesiredState(
        cluster=cluster,
        prune=policy.get("prune", PRUNE_DEFAULT),
        protect=tuple(policy.get("protect", ())),
        pools=tuple(pool_from_dict(raw) for raw in data["nodePools"]),
        source=str(file),
        digest=doc.digest,
        ignore=tuple(policy.get("ignoreChanges", ())),
        pool_ignore={str(raw["name"]): tuple(raw["ignoreChanges"]) for raw in data["nodePools"]
                     if raw.get("ignoreChanges")},
        immutable_changes=policy.get("immutableChanges", IMMUTABLE_DEFAULT),
        pool_immutable={str(raw["name"]): str(raw["immutableChanges"])
                        for raw in data["nodePools"] if raw.get("immutableChanges")},
        document=doc,
    )
