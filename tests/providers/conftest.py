"""Fixtures for the provider tests: temp local clusters."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.model import Cluster
from reconciler.providers.local.driver import LocalDriver


@pytest.fixture
def local_cluster(tmp_path: Path) -> Cluster:
    """A local cluster whose state file lives in a fresh temp folder."""
    return Cluster(name="demo", provider="local", settings={"location": "japaneast"},
                   base_dir=tmp_path)


@pytest.fixture
def driver(local_cluster: Cluster) -> LocalDriver:
    """A local driver over an empty simulated cluster."""
    return LocalDriver(local_cluster)
