"""Saved plans: the plan JSON plus what is needed to refuse it once it is stale.

A saved plan names the desired-state file and carries digests of that file and of the
live pools it was computed from. It never carries settings, so never credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from reconciler.atomicwrite import write_atomic
from reconciler.errors import ReconcilerError, StaleError
from reconciler.model import DesiredState
from reconciler.plan import Plan
from reconciler.plan.jsonplan import plan_to_json
from reconciler.redact import redact


def saved_plan_document(plan: Plan, desired: DesiredState) -> dict[str, Any]:
    """The JSON document ``plan --out PATH`` writes.

    ``desiredFile`` is the desired file's path relative to the current folder (as given
    when it lies elsewhere); apply never trusts it to choose a file (``desired_file_for``).
    ``target`` is a salted, deliberately slow digest of the expanded cluster section: the
    same file planned for another cluster through ``${VAR}`` is another plan, and the
    digest does not let anyone holding the plan guess a short value behind a variable.
    """
    return {**plan_to_json(plan), "desiredFile": _relative(desired.source),
            "fingerprint": {"live": plan.live_fingerprint, "desired": desired.digest,
                            "target": target_digest(desired)}}


def _relative(source: str) -> str:
    path = Path(source)
    try:
        return Path(os.path.relpath(path.resolve(), Path.cwd().resolve())).as_posix() \
            if path.resolve().is_relative_to(Path.cwd().resolve()) else source
    except (OSError, ValueError):
        return source


# scrypt parameters: ~50 ms and 16 MiB per guess, for whoever tries to guess a setting.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def target_digest(desired: DesiredState, salt: bytes | None = None) -> str:
    """``scrypt:<salt>:<digest>`` of the cluster's name, provider and expanded settings."""
    cluster = desired.cluster
    text = json.dumps({"name": cluster.name, "provider": cluster.provider,
                       "settings": cluster.settings}, sort_keys=True, default=str)
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(text.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt:{salt.hex()}:{digest.hex()}"


def _same_target(recorded: str, desired: DesiredState) -> bool:
    kind, _, rest = str(recorded).partition(":")
    salt, _, _ = rest.partition(":")
    try:
        computed = target_digest(desired, bytes.fromhex(salt)) if kind == "scrypt" else ""
    except ValueError:
        return False
    return hmac.compare_digest(computed, str(recorded))


_SAVED_ONLY = ("fingerprint", "desiredFile")


def write_saved_plan(path: str, plan: Plan, desired: DesiredState) -> None:
    """Write the saved plan atomically (a half-written plan must never be applied).

    Refuses to write over the desired file, or over any file that is not a saved plan.
    """
    check_plan_out(path, desired.source)
    document = saved_plan_document(plan, desired)
    write_atomic(path, _saved_text(document, indent=2) + "\n")


def check_plan_out(path: str, *inputs: str) -> None:
    """Refuse ``--out PATH`` when it is one of ``inputs`` or an existing non-plan file."""
    target = Path(path)
    if any(target.resolve() == Path(name).resolve() for name in inputs):
        raise ReconcilerError(f"--out {path} is the desired-state file itself; save the plan"
                              " under another name")
    if (target.exists() or target.is_symlink()) and not is_saved_plan(path):
        raise ReconcilerError(f"--out {path} exists and is not a saved plan; refusing to"
                              " overwrite it (remove it, or choose another name)")


def _saved_text(document: dict[str, Any], indent: int | None = None) -> str:
    """JSON with every character outside ASCII escaped and no remembered secret."""
    return redact(json.dumps(document, indent=indent, ensure_ascii=True))


def is_saved_plan(path: str) -> bool:
    """True when ``path`` holds a saved plan rather than a desired-state file.

    Only a regular file is read, and at most SAVED_PLAN_MAX_BYTES of it: anything else is
    left to the desired-file loader, which refuses it in its own words. A file that starts
    like JSON but is larger than the cap counts as a plan, for read_saved_plan to refuse.
    """
    from reconciler.readfile import (
        SAVED_PLAN_MAX_BYTES,
        FileTooLarge,
        UnreadableFile,
        open_regular,
        read_at_most,
    )

    try:
        with open_regular(path) as handle:
            if handle.read(1) != b"{":
                return False
            raw = b"{" + read_at_most(handle, SAVED_PLAN_MAX_BYTES - 1)
    except FileTooLarge:
        return True
    except UnreadableFile:
        return False
    try:
        document = json.loads(raw.decode("utf-8"))
    except ValueError:
        return False
    return isinstance(document, dict) and "formatVersion" in document


def read_saved_plan(path: str) -> dict[str, Any]:
    """The saved plan document; a damaged one is an error, not a guess.

    Only a regular file of at most SAVED_PLAN_MAX_BYTES is read: a FIFO or a link to a
    device is refused at once.
    """
    from reconciler.readfile import (
        SAVED_PLAN_MAX_BYTES,
        FileTooLarge,
        MissingFile,
        UnreadableFile,
        read_limited,
    )

    try:
        raw = read_limited(path, SAVED_PLAN_MAX_BYTES)
    except MissingFile:
        raise ReconcilerError(f"{path}: no such file") from None
    except FileTooLarge as exc:
        raise ReconcilerError(f"{path}: {exc.reason}; not a saved plan (a plan of 100"
                              " pools is about 120 KB)") from None
    except UnreadableFile as exc:  # a directory, FIFO or device; or refused by the system
        raise ReconcilerError(f"{path}: {exc.reason}; expected a saved plan") from None
    try:
        document = json.loads(raw.decode("utf-8"))
        document["fingerprint"]["live"], document["fingerprint"]["desired"]  # noqa: B018
        document["fingerprint"]["target"]  # noqa: B018
        str(document["desiredFile"])
    except UnicodeDecodeError:
        raise ReconcilerError(f"{path}: not a usable saved plan (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise ReconcilerError(f"{path}:{exc.lineno}:{exc.colno}: not a saved plan (not valid"
                              " JSON)") from None
    except KeyError as exc:
        raise ReconcilerError(f"{path}: not a usable saved plan (it has no"
                              f" '{exc.args[0]}')") from None
    except (ValueError, TypeError):
        raise ReconcilerError(f"{path}: not a usable saved plan (not a plan document)"
                              ) from None
    return dict(document)


def desired_file_for(saved: dict[str, Any], plan_path: str, named: str | None) -> str:
    """The desired-state file to apply ``plan_path`` with; the plan never chooses it.

    The operator's ``--file`` wins. Without it, the path the plan records is taken
    relative to the current folder, and refused when it is absolute, leaves the current
    folder, or lies inside the folder the plan came in (other than the current folder
    itself): a plan artifact can bring files of its own. Either way the file's digest
    must then match the plan's (``check_fresh``).
    """
    if named:
        return named
    recorded = str(saved["desiredFile"])
    hint = f"; name the desired file: reconciler apply {plan_path} --file FILE"
    here = Path.cwd().resolve()
    candidate = (here / recorded).resolve()
    if Path(recorded).is_absolute() or not candidate.is_relative_to(here):
        raise ReconcilerError(f"{plan_path}: the plan's desired file lies outside the current"
                              f" folder{hint}")
    plan_folder = Path(plan_path).resolve().parent
    if plan_folder != here and candidate.is_relative_to(plan_folder):
        raise ReconcilerError(f"{plan_path}: the plan's desired file lies in the folder the"
                              f" plan came in, which may have brought it{hint}")
    return str(Path(os.path.relpath(candidate, here)))


def check_fresh(saved: dict[str, Any], desired: DesiredState, plan: Plan) -> None:
    """Refuse a saved plan whose file or cluster changed since it was computed."""
    if saved["fingerprint"]["desired"] != desired.digest:
        raise StaleError(f"{desired.source} is not the file the plan was made from, or it"
                         " changed since; run plan again")
    if not _same_target(saved["fingerprint"]["target"], desired):
        raise StaleError(f"the plan was made for another cluster target (the settings of"
                         f" {desired.source} expand differently now); run plan again")
    if saved["fingerprint"]["live"] != plan.live_fingerprint:
        raise StaleError("the cluster's node pools changed since the plan was saved;"
                         " run plan again")
    if {k: v for k, v in saved.items() if k not in _SAVED_ONLY} \
            != json.loads(_saved_text(plan_to_json(plan))):
        raise StaleError("the saved plan differs from the plan computed now (another"
                         " reconciler version?); run plan again")
