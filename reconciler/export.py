"""``reconciler export``: a desired-state file that matches the live cluster (onboarding).

The file is written round-trip over a base file (the existing output file when there is
one, else the file naming the cluster), so its comments, ``cluster`` and ``policy``
sections stay as written: settings keep their ``${VAR}`` references, and a pool that still
exists keeps its comments while its fields are refreshed from the live cluster.
"""

from __future__ import annotations

import codecs
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from reconciler.errors import ReconcilerError
from reconciler.model import OWNER_TAG_VALUE, POOL_LABEL, Capabilities, NodePool
from reconciler.naturalsort import natural_key
from reconciler.plan.compare import extension_value, user_labels

_FLOW_KEYS = ("zones", "labels", "autoscaling", "nodeTaints", "tags")
MODELINE = "# yaml-language-server: $schema="
HEADER_START = "# Exported by `reconciler export`"
ADOPT_NOTE = "not yet managed: the first apply adds the marker managed-by=reconciler"
SCHEMA_URL = "https://reconciler.dev/schemas/nodepools.schema.json"
DEFAULT_STATE_DIR = ".reconciler"  # the local provider's stateFile default: <dir>/<cluster>.json


@dataclass(frozen=True)
class ExportHeader:
    """What the header comment says: where the pools came from, and when."""

    cluster: str
    provider: str
    version: str
    exported_at: datetime
    schema_ref: str

    def lines(self, live: Sequence[NodePool]) -> list[str]:
        """The modeline and the explanatory header, as comment lines."""
        unmanaged = sum(1 for pool in live if not pool.managed)
        when = self.exported_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        lines = [f"{MODELINE}{self.schema_ref}",
                 f"{HEADER_START} {self.version} at {when} from the live node pools of",
                 f"#   cluster '{self.cluster}' ({self.provider}): {_pools(len(live))}."
                 " Review it, commit it, then run",
                 "#   `reconciler plan` on it: it should show no changes"]
        if unmanaged:
            lines[-1] += " except, once,"
            lines.append(f"#   adopting {_pools(unmanaged)} not yet marked managed-by="
                         f"{OWNER_TAG_VALUE} (the first apply adds")
            lines.append(f"#   the marker, and {POOL_LABEL} where a pool lacks it;"
                         " nothing else changes).")
        else:
            lines[-1] += "."
        lines.append("#   Re-export with --output onto this file to refresh it; comments"
                     " are kept.")
        return lines


def export_pool(pool: NodePool, caps: Capabilities, pinned: Iterable[str] = ()
                ) -> dict[str, Any]:
    """One live pool as a desired-state entry that plans to no change.

    ``pinned`` names further keys of the provider's extensions to export (those an existing
    file sets); the provider's ``exported_extensions`` are always exported.
    """
    entry: dict[str, Any] = {"name": pool.name}
    if pool.provider_name and pool.provider_name != pool.name:
        entry["providerName"] = pool.provider_name  # replaced: informational, never planned
    for key, value in (("mode", pool.mode), ("instanceType", pool.instance_type),
                       ("osDiskType", pool.os_disk_type), ("osDiskSizeGiB", pool.os_disk_size_gib),
                       ("priority", pool.priority)):
        if value is not None:
            entry[key] = value
    if pool.zones:
        entry["zones"] = sorted(pool.zones)
    entry["labels"] = dict(sorted(user_labels(pool.labels or {}, caps).items()))
    scaling = pool.autoscaling
    frozen = caps.frozen_fields(pool, pool) if caps.frozen_fields else None
    if frozen and any(rule.split(".")[0] == "autoscaling" for rule in frozen[0]):
        scaling = None  # not known now (a stopped pool reports 0 nodes): pin nothing
    if scaling is not None and scaling.enabled:
        entry["autoscaling"] = {"enabled": True, "min": scaling.min, "max": scaling.max}
    elif scaling is not None and scaling.desired is not None:
        entry["autoscaling"] = {"enabled": False, "desired": scaling.desired}
    namespace = caps.extension_namespace
    extensions = _export_extensions(pool, (*caps.exported_extensions, *pinned), caps)
    if namespace and extensions:
        entry["extensions"] = {namespace: extensions}
    return entry


def _export_extensions(pool: NodePool, keys: Iterable[str],
                       caps: Capabilities) -> dict[str, Any]:
    if not caps.extension_namespace:
        return {}
    live = (pool.extensions or {}).get(caps.extension_namespace) or {}
    out: dict[str, Any] = {}
    for key in dict.fromkeys(keys):
        value = extension_value(caps, key, live.get(key))
        if value not in (None, [], {}) and value != caps.export_defaults.get(key):
            out[key] = value
    return out


def _pinned_extensions(entry: dict[str, Any], caps: Capabilities) -> list[str]:
    """The provider's extension keys an existing file entry sets."""
    extensions = entry.get("extensions")
    if not caps.extension_namespace or not isinstance(extensions, dict):
        return []
    fields = extensions.get(caps.extension_namespace)
    return [str(key) for key in fields] if isinstance(fields, dict) else []


def export_text(base_text: str, live: Sequence[NodePool], caps: Capabilities,
                header: ExportHeader, *, base_dir: Path | None = None,
                out_dir: Path | None = None, source: str = "the output file") -> str:
    """``base_text`` (a desired-state file) with its nodePools set to the live pools.

    Pools the base file lists and the cluster still has keep their place and comments; pools
    gone from the cluster are dropped; new ones are appended in natural name order (pool2
    before pool10). The header comment and the modeline are written anew; the base file's
    other comments are kept, each once, and quoted values keep their quotes. Exporting the
    result again gives the same text (apart from the header's time). When the file moves
    from ``base_dir`` to ``out_dir``, a relative local ``stateFile`` (or the implicit
    default one) is rewritten to name the same file from ``out_dir``.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from reconciler.desired.document import yaml_error_message, yaml_error_position

    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    yaml.preserve_quotes = True
    leading, body = _split_leading_comments(base_text)
    try:
        document = yaml.load(body)
    except YAMLError as exc:
        # Located, in fixed words: the error never quotes the file (it may not be ours).
        line, column = yaml_error_position(exc)
        line += base_text[:max(base_text.find(body[:80]), 0)].count("\n") if body else 0
        raise ReconcilerError(f"cannot export into {source}: it is not a desired-state file"
                              f" ({line}:{column}: {yaml_error_message(exc)})") from None
    cluster = document.get("cluster") if isinstance(document, dict) else None
    if not isinstance(cluster, dict) or cluster.get("name") != header.cluster:
        raise ReconcilerError(f"cannot export into a file that is not about cluster"
                              f" '{header.cluster}'; give another --output")
    if base_dir and out_dir and base_dir.resolve() != out_dir.resolve():
        _relocate_state_file(cluster, base_dir, out_dir)
    document["nodePools"] = _merged_pools(document, live, caps)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return "\n".join([*header.lines(live), *leading, ""]) + buffer.getvalue()


def _relocate_state_file(cluster: Any, base_dir: Path, out_dir: Path) -> None:
    """Keep the local provider's state file the same file from the new folder: a relative
    ``stateFile`` is rewritten, and the implicit default one is written out. A ``${VAR}``
    reference and an absolute path stay as written."""
    from ruamel.yaml.comments import CommentedMap

    if cluster.get("provider") != "local":
        return
    settings = cluster.get("settings")
    if settings is None:
        settings = CommentedMap()
        settings.fa.set_flow_style()
        keys = list(cluster)
        after = keys.index("provider") + 1 if "provider" in keys else len(keys)
        cluster.insert(after, "settings", settings)
    if not isinstance(settings, CommentedMap):
        return
    state = settings.get("stateFile")
    if not state:  # the driver's default, relative to the file's folder
        state = f"{DEFAULT_STATE_DIR}/{cluster.get('name')}.json"
        settings.insert(0, "stateFile", state)
    if isinstance(state, str) and "${" not in state and not Path(state).is_absolute():
        settings["stateFile"] = _relative((base_dir / state).resolve(), out_dir.resolve())


def _merged_pools(document: Any, live: Sequence[NodePool], caps: Capabilities) -> Any:
    """The new ``nodePools`` of ``document``: its entries refreshed, reordered or dropped,
    each keeping the comments above and in it; new pools appended in natural order; the
    comments after the last entry kept after the new last entry."""
    from ruamel.yaml.comments import CommentedSeq

    existing = document.get("nodePools")
    by_name = {str(pool.name): pool for pool in live}
    entries = list(existing) if isinstance(existing, CommentedSeq) and existing else []
    # Comment lines above an entry belong to it; detach them before entries move or go.
    above = _comments_above(existing, entries)
    slot = document.ca.items.get("nodePools")
    if entries and slot and len(slot) > 3:
        slot[3] = None  # ruamel also keeps the comment above the first entry here
    below = _detach_trailing(existing, entries) if entries else []
    if not entries or existing.fa.flow_style():  # the lines after `nodePools: [...]`
        below += _take_following(document.ca.items.get("nodePools"), 2)[1]
    pools = CommentedSeq()
    for index, entry in enumerate(entries):
        name = str(entry.get("name")) if isinstance(entry, dict) else None
        if name in by_name and not any(p.get("name") == name for p in pools):
            pinned = _pinned_extensions(entry, caps)
            _merge(entry, export_pool(by_name[name], caps, pinned))
            _note_adoption(entry, by_name[name])
            pools.append(entry)
            _set_comments_above(pools, len(pools) - 1, above[index])
    listed = {str(entry.get("name")) for entry in pools}
    for name in sorted(set(by_name) - listed, key=natural_key):
        entry = _commented(export_pool(by_name[name], caps))
        _note_adoption(entry, by_name[name])
        pools.append(entry)
    if below:  # after the new last entry, else after `nodePools: []`
        container, key = (_last_slot(pools[-1]) if pools else None) or (document, "nodePools")
        _append_following(container, key, below)
    return pools


def _comments_above(seq: Any, entries: list[Any]) -> list[list[str]]:
    """Per entry, the comment lines above it, wherever ruamel attached them."""
    above: list[list[str]] = [[] for _ in entries]
    if not entries:
        return above
    eol = seq.ca.comment[0] if seq.ca.comment and not seq.fa.flow_style() else None
    if eol is not None and "\n" in eol.value.rstrip("\n"):
        # `nodePools:  # note` then comment lines: one token, shared with the parent.
        eol.value, rest = eol.value.split("\n", 1)
        eol.value += "\n"
        above[0] += [line.strip() for line in rest.splitlines()]
    if seq.ca.comment and len(seq.ca.comment) > 1 and seq.ca.comment[1]:
        above[0] += _token_lines(seq.ca.comment[1])
        seq.ca.comment[1] = None
    for index in range(len(entries)):
        slot = seq.ca.items.pop(index, None)
        if slot and slot[1]:
            above[index] += _token_lines(slot[1])
        if index > 0:
            above[index] += [line.strip() for line in _detach_following(entries[index - 1])]
    return above


def _detach_trailing(seq: Any, entries: list[Any]) -> list[str]:
    """Remove and return the comment lines after the last entry (before whatever follows
    the list, or at the end of the file), as written: ruamel keeps them with the entry's
    last value, or as the end comments of a collection on the way down to it."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    lines = _detach_following(entries[-1])
    node = seq
    while isinstance(node, CommentedMap | CommentedSeq) and node:
        if node.ca.end:
            lines += _raw_lines(node.ca.end)
            node.ca.end = []
        if node.fa.flow_style():
            break
        node = node[list(node)[-1]] if isinstance(node, CommentedMap) else node[-1]
    return lines


def _token_lines(tokens: list[Any]) -> list[str]:
    return [line.strip() for token in tokens for line in token.value.splitlines() or [""]]


def _raw_lines(tokens: list[Any]) -> list[str]:
    """Comment tokens as the lines they were written as, indentation included."""
    lines: list[str] = []
    for token in tokens:
        value = token.value
        if not value.startswith("\n"):
            value = " " * token.start_mark.column + value
        lines += [line.rstrip() for line in value.splitlines()] or [""]
    return lines


def _detach_following(node: Any) -> list[str]:
    """Remove and return the full-line comments after ``node``'s last value, as written:
    ruamel keeps them with that value, but they introduce whatever follows."""
    slot = _last_slot(node)
    if slot is None:
        return []
    container, key = slot
    where = 0 if isinstance(container, list) else 2
    token, lines = _take_following(container.ca.items.get(key), where)
    nested = getattr(container[key], "ca", None)
    if token is not None and nested is not None and nested.comment and \
            nested.comment[0] is token:
        nested.comment[0] = None
    return lines


def _take_following(items: list[Any] | None, where: int) -> tuple[Any, list[str]]:
    """The comment lines after the end-of-line part of ``items[where]``, removed from it;
    and the token itself when nothing is left of it (it is then removed too)."""
    token = items[where] if items and len(items) > where else None
    if token is None or "\n" not in token.value.rstrip("\n"):
        return None, []
    eol, rest = token.value.split("\n", 1)
    if eol.strip():
        token.value = eol + "\n"
        token = None
    else:
        items[where] = None  # type: ignore[index]
    return token, [line.rstrip() for line in rest.splitlines()]


def _append_following(container: Any, key: Any, lines: list[str]) -> None:
    """Write ``lines`` after ``container[key]`` (where ruamel reads them back from)."""
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    where = 0 if isinstance(container, list) else 2
    items = container.ca.items.setdefault(key, [None, None, None, None])
    while len(items) <= where:
        items.append(None)
    token = items[where]
    eol = token.value.split("\n", 1)[0] if token is not None else ""
    mark = token.start_mark if token is not None else CommentMark(0)
    items[where] = CommentToken("\n".join([eol, *lines, ""]), mark)


def _last_slot(node: Any) -> tuple[Any, Any] | None:
    """(container, key) of the last scalar or flow collection written in ``node``."""
    if isinstance(node, dict) and node:
        key: Any = list(node)[-1]
    elif isinstance(node, list) and node:
        key = len(node) - 1
    else:
        return None
    value = node[key]
    if isinstance(value, dict | list) and value and not cast(Any, value).fa.flow_style():
        return _last_slot(value) or (node, key)
    return node, key


def _set_comments_above(seq: Any, index: int, lines: list[str]) -> None:
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    if lines:
        seq.ca.items[index] = [None, [CommentToken(line + "\n", CommentMark(2))
                                      for line in lines], None, None]


def _merge(target: Any, new: dict[str, Any]) -> None:
    """Make mapping ``target`` equal ``new`` in place, keeping comments on kept keys."""
    for key in [key for key in target if key not in new]:
        del target[key]
    for index, (key, value) in enumerate(new.items()):
        if isinstance(target.get(key), dict) and isinstance(value, dict):
            _merge(target[key], value)
        elif key in target:
            if target[key] != value:
                target[key] = _commented(value, key)
        else:  # a new key goes where export puts it, after the keys that precede it
            before = [k for k in list(new)[:index] if k in target]
            position = list(target).index(before[-1]) + 1 if before else 0
            target.insert(position, key, _commented(value, key))
    if target.fa.flow_style() and not _short(new):
        target.fa.set_block_style()


def _commented(value: Any, key: str | None = None) -> Any:
    """Plain data as ruamel nodes; short collections in flow style, as people write them."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    node: CommentedMap | CommentedSeq
    if isinstance(value, dict):
        node = CommentedMap((k, _commented(v, k)) for k, v in value.items())
    elif isinstance(value, list):
        node = CommentedSeq(_commented(v) for v in value)
    else:
        return value
    if key in _FLOW_KEYS and _short(value):
        node.fa.set_flow_style()
    return node


def _short(value: Any) -> bool:
    """Fits comfortably on one line in flow style."""
    return len(json.dumps(value)) <= 60


def _note_adoption(entry: Any, pool: NodePool) -> None:
    """An end-of-line note on unmarked pools; dropped again once the pool is marked."""
    comment = entry.ca.items.get("name")
    ours = bool(comment and comment[2] and ADOPT_NOTE in comment[2].value)
    if not pool.managed and not ours:
        entry.yaml_add_eol_comment(ADOPT_NOTE, "name")
    elif pool.managed and ours:
        del entry.ca.items["name"]


def _split_leading_comments(text: str) -> tuple[list[str], str]:
    """The user's leading comment lines (without a modeline or an old export header)
    and the rest of the file."""
    lines = text.splitlines()
    start = 0
    while start < len(lines) and (not lines[start].strip()
                                  or lines[start].lstrip().startswith("#")):
        start += 1
    leading, in_header = [], False
    for line in lines[:start]:
        in_header = line.startswith(HEADER_START) or (in_header and line.startswith("#   "))
        if not in_header and not line.startswith(MODELINE) and line.strip():
            leading.append(line)
    return leading, "\n".join(lines[start:]) + "\n"


@dataclass(frozen=True)
class TextStyle:
    """How a file is written, beyond its YAML: line breaks and a UTF-8 byte-order mark."""

    newline: str = "\n"
    bom: bool = False

    def apply(self, text: str, *, bom: bool = True) -> str:
        """``text`` (with ``\\n`` line breaks) in this style; ``bom=False`` leaves the mark
        out (standard output)."""
        if self.newline != "\n":
            text = text.replace("\n", self.newline)
        return ("\ufeff" if self.bom and bom else "") + text


def read_base(path: Path) -> tuple[str, TextStyle]:
    """The text of the file an export starts from (FILE, or the --output being refreshed)
    and how it is written. Read as desired files are: a regular file only (never a FIFO
    or a device, which could block or never end), of at most ``MAX_FILE_BYTES``."""
    from reconciler.desired.document import MAX_FILE_BYTES
    from reconciler.readfile import UnreadableFile, read_limited

    try:
        raw = read_limited(path, MAX_FILE_BYTES)
    except UnreadableFile as exc:
        raise ReconcilerError(f"cannot read {path}: {exc.reason}") from None
    return decode_text(raw, str(path))


def decode_text(raw: bytes, name: str) -> tuple[str, TextStyle]:
    """The text of a file read as ``raw`` (line breaks made ``\\n``) and its style: the
    line break its first line ends with, and whether it starts with a UTF-8 BOM."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReconcilerError(f"cannot read {name}: it is not UTF-8 text") from None
    first = text.find("\n")
    newline = "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, TextStyle(newline, raw.startswith(codecs.BOM_UTF8))


def schema_ref_for(output: Path | None, base_text: str, base_dir: Path) -> str:
    """Where the modeline points: the base file's target (made relative to ``output``'s
    folder), else a ``schemas/nodepools.schema.json`` found above it, else the schema URL."""
    out_dir = (output.parent if output else Path.cwd()).resolve()
    for line in base_text.splitlines():
        if line.startswith(MODELINE):
            target = line[len(MODELINE):].strip()
            if "://" in target or Path(target).is_absolute():
                return target
            return _relative((base_dir / target).resolve(), out_dir)
    for folder in (out_dir, *out_dir.parents):
        candidate = folder / "schemas" / "nodepools.schema.json"
        if candidate.is_file():
            return _relative(candidate, out_dir)
    return SCHEMA_URL


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def _pools(count: int) -> str:
    return f"{count} node pool" if count == 1 else f"{count} node pools"
