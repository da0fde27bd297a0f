"""The plan JSON of SPEC.md: the public, versioned contract, mapped in this one place."""

from __future__ import annotations

import json
from typing import Any

from reconciler.escape import json_text
from reconciler.plan import Action, ActionKind, FieldChange, Plan, PlanError

FORMAT_VERSION = "1"


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The plan as the JSON document users and scripts read."""
    return {
        "formatVersion": FORMAT_VERSION,
        "cluster": {"name": plan.cluster, "provider": plan.provider},
        "summary": plan.summary,
        "actions": [
            {"action": action.kind.value, "pool": action.pool,
             "changes": [{"field": c.field, "before": c.before, "after": c.after}
                         for c in action.changes]}
            for action in plan.actions
        ],
        "unmanaged": list(plan.unmanaged),
        "errors": [{"pool": e.pool, "field": e.field, "before": e.before, "after": e.after,
                    "message": e.message} for e in plan.errors],
    }


def plan_from_json(document: dict[str, Any]) -> Plan:
    """A plan read back from its JSON (saved plans; ``show``). Raises KeyError/ValueError."""
    if document.get("formatVersion") != FORMAT_VERSION:
        raise ValueError(f"unsupported plan formatVersion {document.get('formatVersion')!r}")
    actions = tuple(
        Action(ActionKind(raw["action"]), str(raw["pool"]),
               tuple(FieldChange(c["field"], c["before"], c["after"]) for c in raw["changes"]))
        for raw in document["actions"]
    )
    return Plan(
        cluster=str(document["cluster"]["name"]),
        provider=str(document["cluster"]["provider"]),
        actions=actions,
        noop=int(document["summary"]["noop"]),
        unmanaged=tuple(document["unmanaged"]),
        errors=tuple(PlanError(e["pool"], e["field"], e["before"], e["after"], e["message"])
                     for e in document["errors"]),
        live_fingerprint=str(document.get("fingerprint", {}).get("live", "")),
    )


def render_json(plan: Plan) -> str:
    """Pretty JSON with a trailing newline; invisible characters \\u-escaped (``json_text``)."""
    return json_text(json.dumps(plan_to_json(plan), indent=2, ensure_ascii=False)) + "\n"
