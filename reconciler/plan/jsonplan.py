"""The plan JSON: the public, versioned contract (schemas/plan.schema.json), mapped here."""

from __future__ import annotations

import json
from typing import Any

from reconciler import __version__
from reconciler.diagnostics import Location
from reconciler.escape import json_text
from reconciler.plan import (
    Action,
    ActionKind,
    FieldChange,
    IgnoredChange,
    Plan,
    PlanError,
    Reason,
)

# 2: actions carry "reason"; changes and errors carry "path" (segments) beside "field"
# (display); "kept" lists owned pools kept by prune: none; "reconcilerVersion" is the tool's.
# Added within 2 (readers default them): "summary.destroy" counts the pools destroyed;
# errors carry the file "location"; "ignored" lists differences left alone, and why;
# "replace" actions (and "summary.replace" when there are any), "providerName" on actions
# whose provider pool is not named as the pool, "newProviderName" and "forcedBy".
FORMAT_VERSION = "2"


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The plan as the JSON document users and scripts read (schemas/plan.schema.json)."""
    return {
        "formatVersion": FORMAT_VERSION,
        "reconcilerVersion": __version__,
        "cluster": {"name": plan.cluster, "provider": plan.provider},
        "summary": plan.summary,
        "actions": [_action(action) for action in plan.actions],
        "unmanaged": list(plan.unmanaged),
        "kept": list(plan.kept),
        "errors": [{"pool": e.pool, "path": list(e.path) if e.path else None,
                    "field": e.field, "before": e.before, "after": e.after,
                    "message": e.message, "location": _location(e.location)}
                   for e in plan.errors],
        "ignored": [{"pool": i.pool, "path": list(i.change.path), "field": i.change.field,
                     "before": i.change.before, "after": i.change.after, "why": i.why}
                    for i in plan.ignored],
    }


def _action(action: Action) -> dict[str, Any]:
    out: dict[str, Any] = {
        "action": action.kind.value, "pool": action.pool,
        "reason": action.reason.value if action.reason else None,
        "changes": [{"path": list(c.path), "field": c.field, "before": c.before,
                     "after": c.after} for c in action.changes]}
    if action.provider_name is not None:
        out["providerName"] = action.provider_name
    if action.kind is ActionKind.REPLACE:
        out["newProviderName"] = action.new_provider_name
        out["forcedBy"] = [{"path": list(path), "field": ".".join(path)}
                           for path in action.forced_by]
    return out


def plan_from_json(document: dict[str, Any]) -> Plan:
    """A plan read back from its JSON (saved plans; ``show``). Raises KeyError/ValueError."""
    if document.get("formatVersion") != FORMAT_VERSION:
        raise ValueError(f"plan format {document.get('formatVersion')!r} is not the format"
                         f" {FORMAT_VERSION} of this reconciler; run plan again")
    actions = tuple(
        Action(ActionKind(raw["action"]), str(raw["pool"]),
               tuple(FieldChange(_path(c["path"]), c["before"], c["after"])
                     for c in raw["changes"]),
               Reason(raw["reason"]) if raw.get("reason") is not None else None,
               provider_name=_name(raw.get("providerName")),
               new_provider_name=_name(raw.get("newProviderName")),
               forced_by=tuple(_path(f["path"]) for f in raw.get("forcedBy", [])))
        for raw in document["actions"]
    )
    return Plan(
        cluster=str(document["cluster"]["name"]),
        provider=str(document["cluster"]["provider"]),
        actions=actions,
        noop=int(document["summary"]["noop"]),
        unmanaged=tuple(str(name) for name in document["unmanaged"]),
        kept=tuple(str(name) for name in document["kept"]),
        errors=tuple(PlanError(e["pool"], _path(e["path"]) if e["path"] else None,
                               e["before"], e["after"], str(e["message"]),
                               _location_from(e.get("location")))
                     for e in document["errors"]),
        live_fingerprint=str(document.get("fingerprint", {}).get("live", "")),
        ignored=tuple(IgnoredChange(str(i["pool"]), FieldChange(_path(i["path"]), i["before"],
                                                                 i["after"]), str(i["why"]))
                      for i in document.get("ignored", [])),
    )


def _name(raw: Any) -> str | None:
    return None if raw is None else str(raw)


def _location(location: Location | None) -> dict[str, Any] | None:
    if location is None:
        return None
    return {"file": location.file, "line": location.line, "column": location.column}


def _location_from(raw: Any) -> Location | None:
    if raw is None:
        return None
    return Location(str(raw["file"]), int(raw["line"]), int(raw["column"]))


def _path(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) for p in raw):
        raise ValueError("a field path is not a list of names")
    return tuple(raw)


def render_json(plan: Plan) -> str:
    """Pretty JSON with a trailing newline; invisible characters \\u-escaped (``json_text``)."""
    return json_text(json.dumps(plan_to_json(plan), indent=2, ensure_ascii=False)) + "\n"
