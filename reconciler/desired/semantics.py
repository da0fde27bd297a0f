"""The rules a JSON Schema cannot say: cross-field, provider naming, label syntax, and no
invisible characters in any string."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

from reconciler.desired.document import LocatedDocument
from reconciler.desired.schema import schema
from reconciler.diagnostics import Diagnostic, Location, Path
from reconciler.escape import describe_char, first_unsafe
from reconciler.model import DRIVER_LABELS, MODES, Capabilities

# Where a field of the pool being checked is written, and its path: at("autoscaling", "min").
At = Callable[..., tuple[Location, Path]]
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# One zone grammar: a zone number 1, 2, 3... (no leading zero), alone or as <region>-<n>.
_ZONE = re.compile(r"^(?:(?P<region>[a-z][a-z0-9]*)-)?(?P<n>[1-9][0-9]*)$")


def semantic_diagnostics(doc: LocatedDocument, caps: Capabilities) -> list[Diagnostic]:
    """Problems in a document that has the schema's shape (types are re-checked defensively)."""
    found = list(_non_finite(doc, doc.data, ()))
    found += _unsafe_characters(doc, doc.data, ())
    found += _protect_names(doc, caps)
    pools = doc.data.get("nodePools")
    if not isinstance(pools, list):
        return found
    found += _pool_count(doc, pools, caps)
    first_seen: dict[str, int] = {}
    for index, pool in enumerate(pools):
        if not isinstance(pool, dict):
            continue
        path: Path = ("nodePools", index)
        found.extend(_check_pool(doc, path, pool, caps, first_seen))
    return found


def _protect_names(doc: LocatedDocument, caps: Capabilities) -> Iterator[Diagnostic]:
    """A protect entry that no pool can ever have protects nothing: say so (a warning)."""
    policy = doc.data.get("policy")
    protect = policy.get("protect") if isinstance(policy, dict) else None
    if not isinstance(protect, list) or not caps.name_pattern:
        return
    for index, name in enumerate(protect):
        if isinstance(name, str) and not re.fullmatch(caps.name_pattern, name):
            path: Path = ("policy", "protect", index)
            yield Diagnostic(doc.location(path), path, f"'{name}' is not a valid pool name"
                             f" ({caps.name_rule}), so it protects nothing", severity="warning",
                             rule="semantic/protect-name")


def _provider_rule(caps: Capabilities) -> str:
    """The rule id of a provider's own pool rules: ``provider/aks``."""
    return f"provider/{caps.extension_namespace or 'rules'}"


def _non_finite(doc: LocatedDocument, value: Any, path: Path) -> Iterator[Diagnostic]:
    """.nan and .inf pass numeric bounds (NaN compares false) and break JSON plans."""
    if isinstance(value, float) and not math.isfinite(value):
        yield Diagnostic(doc.location(path), path, f"{value} is not a finite number",
                         rule="semantic/non-finite-number")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(doc, item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite(doc, item, (*path, index))


def _unsafe_characters(doc: LocatedDocument, value: Any, path: Path) -> Iterator[Diagnostic]:
    """Every key and string value, anywhere: no control, separator, bidi or other invisible
    character (``reconciler.escape.UNSAFE``; tab and newline included). They can rewrite a
    terminal, forge lines in a CI log or break the pull-request comment, and no name, label,
    tag, taint or setting needs one. Comments are not data and are not checked."""
    if isinstance(value, str):
        yield from _unsafe_in(doc, value, path, key=False)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _unsafe_in(doc, str(key), (*path, key), key=True)
            yield from _unsafe_characters(doc, item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unsafe_characters(doc, item, (*path, index))


def _unsafe_in(doc: LocatedDocument, text: str, path: Path, *, key: bool) -> Iterator[Diagnostic]:
    char = first_unsafe(text)
    if char is not None:
        what = "key contains" if key else "contains"
        yield Diagnostic(doc.location(path, key=key), path, f"{what} a {describe_char(char)}"
                         f" (U+{ord(char):04X}); remove it", rule="semantic/invisible-character")


def _pool_count(doc: LocatedDocument, pools: list[Any], caps: Capabilities) -> Iterator[Diagnostic]:
    if len(pools) > caps.max_pools:
        yield Diagnostic(doc.location(("nodePools",), key=True), ("nodePools",),
                         f"{len(pools)} pools listed; a cluster has at most {caps.max_pools}",
                         rule="semantic/pool-limit")


def _check_pool(doc: LocatedDocument, path: Path, pool: dict[str, Any], caps: Capabilities,
                first_seen: dict[str, int]) -> Iterator[Diagnostic]:
    def at(*field: str | int, key: bool = False) -> tuple[Location, Path]:
        return doc.location((*path, *field), key=key), (*path, *field)

    name = pool.get("name")
    if isinstance(name, str):
        yield from _check_name(name, pool, caps, at, first_seen, doc)
    yield from _check_autoscaling(pool, at)
    yield from _check_meaning(pool, caps, at)
    if caps.pool_problems is not None:  # the provider's own rules (AKS: spot, Windows)
        for field, message in caps.pool_problems(pool):
            yield Diagnostic(*at(*field), message, rule=_provider_rule(caps))
    if isinstance(pool.get("zones"), list):
        yield from _check_zones(pool["zones"], caps, at)
    if isinstance(pool.get("labels"), dict):
        yield from _check_labels(pool, caps, at)


def _check_name(name: str, pool: dict[str, Any], caps: Capabilities, at: At,
                first_seen: dict[str, int], doc: LocatedDocument) -> Iterator[Diagnostic]:
    if name in first_seen:
        yield Diagnostic(*at("name"), f"duplicate pool name '{name}' (first listed at line"
                         f" {first_seen[name]})", rule="semantic/duplicate-pool-name")
    else:
        first_seen[name] = at("name")[0].line
    if name and caps.name_pattern and not re.fullmatch(caps.name_pattern, name):
        yield Diagnostic(*at("name"), f"invalid pool name '{name}': {caps.name_rule}",
                         rule="semantic/pool-name")
    # providerName is read from the provider (export writes it when a replacement gave the
    # pool another name); informational, but never a name the provider could not have.
    provider_name = pool.get("providerName")
    if isinstance(provider_name, str) and provider_name != name and caps.name_pattern \
            and not re.fullmatch(caps.name_pattern, provider_name):
        yield Diagnostic(*at("providerName"), f"providerName '{provider_name}' is not a"
                         f" provider pool name ({caps.name_rule}); it is read from the"
                         " provider, remove it", rule="semantic/provider-name")


def _check_autoscaling(pool: dict[str, Any], at: At) -> Iterator[Diagnostic]:
    scaling = pool.get("autoscaling")
    if not isinstance(scaling, dict) or not isinstance(scaling.get("enabled"), bool):
        return
    system = str(pool.get("mode", "")).lower() == "system"
    if scaling["enabled"]:
        for bound in ("min", "max"):
            if bound not in scaling:
                yield Diagnostic(*at("autoscaling", key=True), f"'{bound}' is required when"
                                 " autoscaling is enabled", rule="semantic/autoscaling-bounds")
        low, high = scaling.get("min"), scaling.get("max")
        if scaling.get("desired") is not None:
            yield Diagnostic(*at("autoscaling", "desired"), "desired is ignored while"
                             " autoscaling is enabled (the autoscaler sets the node count)",
                             severity="warning", rule="semantic/autoscaling-desired-ignored")
        if isinstance(low, int) and isinstance(high, int) and low > high:
            yield Diagnostic(*at("autoscaling", "min"), f"min ({low}) is greater than max"
                             f" ({high})", rule="semantic/autoscaling-min-max")
        if system and isinstance(low, int) and low < 1:
            yield Diagnostic(*at("autoscaling", "min"), "system pools need at least 1 node;"
                             f" min is {low}", rule="semantic/system-pool-nodes")
        return
    desired = scaling.get("desired")
    # Without desired (or desired: null), turning autoscaling off keeps the live count.
    if system and isinstance(desired, int) and desired < 1:
        yield Diagnostic(*at("autoscaling", "desired"), "system pools need at least 1 node;"
                         f" desired is {desired}", rule="semantic/system-pool-nodes")


def _check_meaning(pool: dict[str, Any], caps: Capabilities, at: At) -> Iterator[Diagnostic]:
    """Fields, modes and extension namespaces the cluster's provider has no use for."""
    provider = f"provider '{caps.provider}'" if caps.provider else "this provider"
    mode = pool.get("mode")
    if isinstance(mode, str) and mode.lower() in MODES and mode.lower() not in caps.modes:
        yield Diagnostic(*at("mode"), f"mode '{mode}' has no meaning for {provider}: its pools"
                         f" are {' or '.join(caps.modes)} pools; remove mode")
    for field, why in caps.unsupported_fields:
        if field in pool:
            yield Diagnostic(*at(field), f"{field} has no meaning for {provider}: {why};"
                             " remove it")
    extensions = pool.get("extensions")
    if caps.extension_namespace and isinstance(extensions, dict):
        for key in extensions:
            if key != caps.extension_namespace and key in _extension_namespaces():
                yield Diagnostic(*at("extensions", key, key=True), f"extensions.{key} is not"
                                 f" for {provider}; its own fields go under"
                                 f" extensions.{caps.extension_namespace}")


def _extension_namespaces() -> set[str]:
    """The providers' extension namespaces the schema knows (others are its to report)."""
    pool = schema().get("$defs", {}).get("nodePool", {})
    return set(pool.get("properties", {}).get("extensions", {}).get("properties", {}))


def _check_zones(zones: list[Any], caps: Capabilities, at: At) -> Iterator[Diagnostic]:
    if caps.zone_problem is not None and caps.canonical_zone is not None:
        yield from _check_provider_zones(zones, caps.zone_problem, caps.canonical_zone, at)
        return
    seen: dict[str, Any] = {}
    for index, zone in enumerate(zones):
        if isinstance(zone, bool) or not isinstance(zone, str | int):
            continue  # the schema reports the type
        match = _ZONE.fullmatch(str(zone))
        if match is None:
            yield Diagnostic(*at("zones", index), f"invalid zone {_shown(zone)}: expected a"
                             " zone number such as 1 (no leading zero), or <region>-<n> such"
                             " as japaneast-1", rule="semantic/zone-syntax")
            continue
        if match["region"] and caps.location and match["region"] != caps.location:
            yield Diagnostic(*at("zones", index), f"zone '{zone}' is not in the cluster's"
                             f" location '{caps.location}'", rule="semantic/zone-location")
        number = match["n"]
        if number in seen and seen[number] != zone:  # the same value twice: the schema says
            yield Diagnostic(*at("zones", index), f"zone {number} is listed twice"
                             f" ({_shown(seen[number])} and {_shown(zone)})",
                             rule="semantic/zone-duplicate")
        seen.setdefault(number, zone)


def _check_provider_zones(zones: list[Any], problem_of: Callable[[str], str | None],
                          canonical: Callable[[str], str], at: At) -> Iterator[Diagnostic]:
    """Zones in the provider's own words, checked by its hooks; each zone listed once."""
    seen: dict[str, Any] = {}
    for index, zone in enumerate(zones):
        if isinstance(zone, bool) or not isinstance(zone, str | int):
            continue  # the schema reports the type
        problem = problem_of(str(zone))
        if problem:
            yield Diagnostic(*at("zones", index), f"invalid zone {_shown(zone)}: {problem}")
            continue
        key = canonical(str(zone))
        if key in seen and seen[key] != zone:
            yield Diagnostic(*at("zones", index), f"zone {key} is listed twice"
                             f" ({_shown(seen[key])} and {_shown(zone)})")
        seen.setdefault(key, zone)


def _shown(zone: Any) -> str:
    return str(zone) if isinstance(zone, int) else f"'{zone}'"


def _check_labels(pool: dict[str, Any], caps: Capabilities, at: At) -> Iterator[Diagnostic]:
    for key, value in pool["labels"].items():
        problem = _label_key_problem(key)
        if problem:
            yield Diagnostic(*at("labels", key, key=True), f"invalid label key '{key}': {problem}",
                             rule="semantic/label-key")
        elif key not in DRIVER_LABELS and any(key.startswith(prefix)
                                              for prefix in caps.reserved_label_prefixes):
            yield Diagnostic(*at("labels", key, key=True), f"reserved label '{key}':"
                             f" {reserved_label_rule(caps.reserved_label_prefixes)}",
                             rule="semantic/label-reserved-prefix")
        # Length is the schema's to report; this is the character rule it cannot say.
        if isinstance(value, str) and value and len(value) <= 63 \
                and not _LABEL_NAME.fullmatch(value):
            yield Diagnostic(*at("labels", key), f"invalid label value '{value}': only"
                             " letters, digits, '-', '_' or '.', starting and ending with a"
                             " letter or digit", rule="semantic/label-value")


def reserved_label_rule(prefixes: tuple[str, ...]) -> str:
    """Why a label under a reserved prefix is refused (the schema says it in these words)."""
    return (f"{' and '.join(prefixes)} belong to the provider; only"
            f" {' and '.join(DRIVER_LABELS)} may be set (to pin a value)")


def _label_key_problem(key: str) -> str | None:
    prefix, sep, name = key.rpartition("/")
    if sep and not (len(prefix) <= 253 and _DNS_SUBDOMAIN.fullmatch(prefix)):
        return "the prefix must be a DNS subdomain such as example.com"
    if not name or len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        return ("the name must be 1-63 letters, digits, '-', '_' or '.', starting and ending"
                " with a letter or digit")
    return None
