"""File -> located document -> validated DesiredState. Offline: no provider is contacted."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from reconciler.diagnostics import Diagnostic, InvalidDocument
from reconciler.document import LocatedDocument, load_document
from reconciler.model import NodePool, pool_from_dict
from reconciler.providers import capabilities_for
from reconciler.providers.base import Cluster
from reconciler.schema import schema_diagnostics
from reconciler.semantics import semantic_diagnostics

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
PRUNE_DEFAULT = "owned"


@dataclass(frozen=True)
class DesiredState:
    """A validated desired-state file."""

    cluster: Cluster
    prune: str
    protect: tuple[str, ...]
    pools: tuple[NodePool, ...]
    source: str
    digest: str


def load_desired(file: str | FsPath) -> DesiredState:
    """Read and validate ``file``; every problem found raises one InvalidDocument."""
    doc = load_document(file)
    problems = expand_settings(doc, os.environ)
    unexpanded = {problem.path for problem in problems}
    # A value whose variable is unset fails its pattern too; the variable is the news.
    problems += [d for d in schema_diagnostics(doc) if d.path not in unexpanded]
    # Semantic checks run beside schema errors so one run reports everything; they guard types.
    problems += semantic_diagnostics(doc, _capabilities(doc.data))
    if problems:
        raise InvalidDocument(problems)
    return _build(doc, FsPath(file))


def file_digest(file: str | FsPath) -> str:
    """sha256 of the file's bytes, to tell whether a saved plan's file changed."""
    return "sha256:" + hashlib.sha256(FsPath(file).read_bytes()).hexdigest()


def expand_settings(doc: LocatedDocument, env: Any) -> list[Diagnostic]:
    """Expand ``${VAR}`` in ``cluster.settings`` string values, in place; nowhere else."""
    cluster = doc.data.get("cluster")
    settings = cluster.get("settings") if isinstance(cluster, dict) else None
    if not isinstance(settings, dict):
        return []
    problems: list[Diagnostic] = []
    for key, value in settings.items():
        if not isinstance(value, str):
            continue
        path = ("cluster", "settings", key)
        missing = [name for name in _ENV_REF.findall(value) if name not in env]
        for name in missing:
            problems.append(Diagnostic(doc.location(path), path,
                                       f"environment variable '{name}' is not set"))
        if not missing:
            settings[key] = _ENV_REF.sub(lambda m: env[m.group(1)], value)
    return problems


def _capabilities(data: dict[str, Any]) -> Any:
    cluster = data.get("cluster") if isinstance(data.get("cluster"), dict) else {}
    settings = cluster.get("settings") if isinstance(cluster.get("settings"), dict) else {}
    return capabilities_for(str(cluster.get("provider", "")), settings)


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
        digest=file_digest(file),
    )
