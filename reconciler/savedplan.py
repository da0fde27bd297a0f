"""Saved plans: the plan JSON plus what is needed to refuse it once it is stale.

A saved plan names the desired-state file and carries digests of that file and of the
live pools it was computed from. It never carries settings, so never credentials.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from reconciler.desired import DesiredState
from reconciler.errors import ReconcilerError, StaleError
from reconciler.plan import Plan
from reconciler.render.jsonplan import plan_to_json


def saved_plan_document(plan: Plan, desired: DesiredState) -> dict[str, Any]:
    """The JSON document ``plan --out`` writes."""
    return {**plan_to_json(plan), "desiredFile": desired.source,
            "fingerprint": {"live": plan.live_fingerprint, "desired": desired.digest}}


def write_saved_plan(path: str, plan: Plan, desired: DesiredState) -> None:
    """Write the saved plan atomically (a half-written plan must never be applied)."""
    text = json.dumps(saved_plan_document(plan, desired), indent=2, ensure_ascii=False) + "\n"
    target = Path(path)
    temp = target.with_name(f".{target.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, target)


def is_saved_plan(path: str) -> bool:
    """True when ``path`` holds a saved plan rather than a desired-state file."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1)
            if head != b"{":
                return False
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and "formatVersion" in document


def read_saved_plan(path: str) -> dict[str, Any]:
    """The saved plan document; a damaged one is an error, not a guess."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        document["fingerprint"]["live"], document["fingerprint"]["desired"]  # noqa: B018
        str(document["desiredFile"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReconcilerError(f"{path}: not a usable saved plan ({exc})") from None
    return dict(document)


def desired_file_of(saved: dict[str, Any], plan_path: str) -> str:
    """Where the plan's desired-state file is: as recorded, else beside the plan."""
    recorded = str(saved["desiredFile"])
    if Path(recorded).exists() or Path(recorded).is_absolute():
        return recorded
    beside = Path(plan_path).parent / recorded
    return str(beside) if beside.exists() else recorded


def check_fresh(saved: dict[str, Any], desired: DesiredState, plan: Plan) -> None:
    """Refuse a saved plan whose file or cluster changed since it was computed."""
    if saved["fingerprint"]["desired"] != desired.digest:
        raise StaleError(f"{desired.source} changed since the plan was saved; run plan again")
    if saved["fingerprint"]["live"] != plan.live_fingerprint:
        raise StaleError("the cluster's node pools changed since the plan was saved;"
                         " run plan again")
    if {k: v for k, v in saved.items() if k not in ("fingerprint", "desiredFile")} \
            != plan_to_json(plan):
        raise StaleError("the saved plan differs from the plan computed now (another"
                         " reconciler version?); run plan again")
