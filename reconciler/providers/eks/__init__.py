"""The ``eks`` provider: managed node groups of an Amazon EKS cluster (botocore only in
``driver``, ``client`` and ``errors``; ``capabilities``, ``rules`` and ``mapping`` are plain
Python)."""

from __future__ import annotations

from reconciler.model import Capabilities


def provider_capabilities(settings: dict[str, object]) -> Capabilities:
    """EKS's plan-time rules, with zones checked against the cluster's region and, when the
    file names them, its ``subnets``."""
    from reconciler.providers.eks.capabilities import eks_capabilities

    return eks_capabilities(settings)
