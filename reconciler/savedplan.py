"""Saved plans: the plan JSON plus what is needed to refuse it once it is stale.

A saved plan names the desired-state file and carries digests of that file and of the
live pools it was computed from. It never carries settings, so never credentials.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from reconciler.desired import DesiredState, file_digest
from reconciler.errors import ReconcilerError, StaleError
from reconciler.plan import Plan
from reconciler.render.jsonplan import plan_to_json


def saved_plan_document(plan: Plan, desired: DesiredState, path: str) -> dict[str, Any]:
    """The JSON document ``plan --out PATH`` writes.

    ``desiredFile`` is the path as given to ``plan`` and ``desiredPath`` the absolute one.
    ``target`` is a digest of the expanded cluster section: the same file planned for
    another cluster through ``${VAR}`` is another plan.
    """
    return {**plan_to_json(plan), "desiredFile": desired.source,
            "desiredPath": str(Path(desired.source).resolve()),
            "fingerprint": {"live": plan.live_fingerprint, "desired": desired.digest,
                            "target": target_digest(desired)}}


def target_digest(desired: DesiredState) -> str:
    """sha256 of the cluster's name, provider and expanded settings (never stored as text)."""
    cluster = desired.cluster
    text = json.dumps({"name": cluster.name, "provider": cluster.provider,
                       "settings": cluster.settings}, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


_SAVED_ONLY = ("fingerprint", "desiredFile", "desiredPath")


def write_saved_plan(path: str, plan: Plan, desired: DesiredState) -> None:
    """Write the saved plan atomically (a half-written plan must never be applied)."""
    document = saved_plan_document(plan, desired, path)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    target = Path(path)
    temp = target.with_name(f".{target.name}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise ReconcilerError(f"cannot write the plan to {path}: {exc.strerror}") from None


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
        document["fingerprint"]["target"]  # noqa: B018
        str(document["desiredFile"])
    except FileNotFoundError:
        raise ReconcilerError(f"{path}: no such file") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReconcilerError(f"{path}: not a usable saved plan ({exc})") from None
    return dict(document)


def desired_file_of(saved: dict[str, Any], plan_path: str) -> str:
    """Where the plan's desired-state file is now.

    Plans travel (CI artifacts, other folders), so the file is looked for as given to
    ``plan`` (from the current folder), at its absolute path, and last by name beside the
    plan (an artifact holding both); the first with the recorded digest wins, so a look
    elsewhere can never pick up another file's content.
    """
    recorded = Path(str(saved["desiredFile"]))
    candidates = [recorded, Path(str(saved.get("desiredPath", recorded))),
                  Path(plan_path).parent / recorded.name]
    existing = [str(c) for c in candidates if c.is_file()]
    for candidate in existing:
        if file_digest(candidate) == saved["fingerprint"]["desired"]:
            return candidate
    return existing[0] if existing else str(recorded)


def check_fresh(saved: dict[str, Any], desired: DesiredState, plan: Plan) -> None:
    """Refuse a saved plan whose file or cluster changed since it was computed."""
    if saved["fingerprint"]["desired"] != desired.digest:
        raise StaleError(f"{desired.source} changed since the plan was saved; run plan again")
    if saved["fingerprint"]["target"] != target_digest(desired):
        raise StaleError(f"the plan was made for another cluster target (the settings of"
                         f" {desired.source} expand differently now); run plan again")
    if saved["fingerprint"]["live"] != plan.live_fingerprint:
        raise StaleError("the cluster's node pools changed since the plan was saved;"
                         " run plan again")
    if {k: v for k, v in saved.items() if k not in _SAVED_ONLY} \
            != plan_to_json(plan):
        raise StaleError("the saved plan differs from the plan computed now (another"
                         " reconciler version?); run plan again")
