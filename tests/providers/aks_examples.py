"""Load the real AKS example payloads kept in ``fixtures/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parents[1] / "fixtures"
# Response bodies of every example that returns a pool.
POOL_EXAMPLES = (
    "AgentPoolsGet.json", "AgentPoolsList.json", "AgentPoolsCreate_Spot.json",
    "AgentPoolsCreate_Update.json", "AgentPools_Update.json", "AgentPools_Stop.json",
)


def example(file_name: str, status: str = "200") -> dict[str, Any]:
    """The response body of one x-ms-examples file (a list's first item for List)."""
    body = json.loads((FIXTURES / file_name).read_text())["responses"][status]["body"]
    return body["value"][0] if "value" in body else body


def example_request(file_name: str) -> dict[str, Any]:
    """The request body of one x-ms-examples file."""
    return json.loads((FIXTURES / file_name).read_text())["parameters"]["parameters"]
