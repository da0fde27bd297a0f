"""Zone names: the model writes ``<region>-<n>``, providers such as AKS write ``"<n>"``."""

from __future__ import annotations

from collections.abc import Iterable


def to_model_zone(zone: str, location: str | None) -> str:
    """``"1"`` -> ``"japaneast-1"`` when the location is known; other forms unchanged."""
    zone = str(zone)
    if zone.isdigit() and location:
        return f"{location}-{zone}"
    return zone


def to_provider_zone(zone: str) -> str:
    """``"japaneast-1"`` -> ``"1"``; a bare ``"1"`` stays as it is."""
    zone = str(zone)
    head, sep, tail = zone.rpartition("-")
    return tail if sep and head and tail.isdigit() else zone


def normalize_zones(zones: Iterable[str], location: str | None) -> tuple[str, ...]:
    """Zones as a sorted set in model form, so order and form never produce a diff."""
    return tuple(sorted({to_model_zone(z, location) for z in zones}))
