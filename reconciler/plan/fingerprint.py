"""A digest of the live pools a plan was computed from, to refuse stale saved plans."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from reconciler.model import NodePool, pool_to_dict


def live_fingerprint(live: Sequence[NodePool]) -> str:
    """sha256 over every live pool's fields, ownership marker and eTag, in name order."""
    canonical = [
        {"pool": _without_autoscaled_count(pool), "managed": bool(pool.managed),
         "etag": pool.etag}
        for pool in sorted(live, key=lambda p: str(p.name))
    ]
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _without_autoscaled_count(pool: NodePool) -> dict[str, Any]:
    """The pool's fields; the autoscaler moves the node count at any time, so not that."""
    fields = pool_to_dict(pool, include_status=False)
    if pool.autoscaling is not None and pool.autoscaling.enabled:
        fields["autoscaling"].pop("desired", None)  # as if unset (pool_to_dict drops None)
    return fields
