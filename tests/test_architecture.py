"""The package's shape, checked from its source: no import circles, core modules never
import a provider or a cloud SDK, and each SDK is imported by its provider's driver side
only (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "reconciler"
SDKS = ("azure", "boto3", "botocore")


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("reconciler", *path.relative_to(PACKAGE).with_suffix("").parts))
        found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at run time (TYPE_CHECKING blocks excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", "") == "TYPE_CHECKING"
                   for node in ast.walk(block)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {target for target in imports(path) if target in known and target != name}
            for name, path in known.items()}


def test_no_import_circles() -> None:
    edges = graph()
    cycles = []

    def visit(name: str, stack: list[str], done: set[str]) -> None:
        for target in sorted(edges[name]):
            if target in stack:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in done:
                done.add(target)
                visit(target, [*stack, target], done)

    for name in sorted(edges):
        visit(name, [name], {name})
    assert cycles == []


# The pipeline's stages and what each may import of the others: data flows one way,
# file -> desired state -> plan -> apply, and the views only read plans.
STAGES = {"desired": set(), "plan": set(), "apply": {"plan"}, "render": {"plan"}}


def test_data_flows_one_way_through_the_stages() -> None:
    def stage(name: str) -> str | None:
        parts = name.split(".")
        return parts[1] if len(parts) > 1 and parts[1] in STAGES else None

    crossings = {(name, target) for name, targets in graph().items() for target in targets
                 if (source := stage(name)) and (into := stage(target)) and source != into
                 and into not in STAGES[source]}
    assert crossings == set()
    assert {stage(name) for name in modules()} >= set(STAGES)  # every stage is a package


def test_core_modules_never_import_a_provider_or_an_sdk() -> None:
    for name, path in modules().items():
        if name.startswith(("reconciler.providers", "reconciler.emulator")):
            continue
        found = imports(path)
        assert not [t for t in found if t.startswith("reconciler.providers")], name
        assert not [t for t in found if t.split(".")[0] in SDKS], name


def test_the_azure_sdk_is_imported_by_the_aks_driver_side_only() -> None:
    allowed = {"reconciler.providers.aks.driver", "reconciler.providers.aks.client",
               "reconciler.providers.aks.errors",
               "reconciler.providers.aks.oidc",  # imported by client only
               # run by hand after an SDK upgrade to derive schema.json; never imported
               "reconciler.providers.aks.sdkfacts"}
    importers = {name for name, path in modules().items()
                 if any(t.split(".")[0] == "azure" for t in imports(path))}
    assert importers <= allowed and importers


def test_botocore_is_imported_by_the_eks_driver_side_only() -> None:
    allowed = {"reconciler.providers.eks.driver", "reconciler.providers.eks.client",
               "reconciler.providers.eks.errors"}
    importers = {name for name, path in modules().items()
                 if any(t.split(".")[0] == "botocore" for t in imports(path))}
    assert importers <= allowed and importers


def test_nothing_imports_boto3() -> None:
    """boto3 is a test dependency only: an install from the wheel has botocore alone."""
    importers = {name for name, path in modules().items()
                 if any(t.split(".")[0] == "boto3" for t in imports(path))}
    assert importers == set()


def test_eks_clients_are_built_without_boto3_or_s3transfer() -> None:
    """What every EKS command does first (credentials, the eks and ec2 clients) loads
    botocore only: boto3's import would add s3transfer, ~0.15 s per command."""
    import os
    import subprocess
    import sys

    code = ("import sys; from reconciler.providers.eks import client as c;"
            " s = c.parse_settings({'region': 'us-east-1', 'clusterName': 'prod',"
            " 'nodeRoleArn': 'arn:aws:iam::1:role/n'}); session = c.make_session(s);"
            " eks, ec2 = c.make_client(session, 'eks', s), c.make_client(session, 'ec2', s);"
            " assert eks.meta.region_name == ec2.meta.region_name == 'us-east-1';"
            " assert eks.meta.endpoint_url == 'https://eks.us-east-1.amazonaws.com';"
            " assert 'botocore' in sys.modules;"
            " assert not {'boto3', 's3transfer'} & set(sys.modules), 'boto3 loaded'")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="AKIAFAKE", AWS_SECRET_ACCESS_KEY="fake",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_EC2_METADATA_DISABLED="true")
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_eks_capabilities_load_without_boto3() -> None:
    """validate never loads a cloud SDK: the eks rules come from its light package."""
    import subprocess
    import sys

    code = ("import sys; from reconciler.registry import capabilities_for;"
            " caps = capabilities_for('eks', {'region': 'us-east-1'});"
            " assert caps.provider == 'eks' and caps.modes == ('user',);"
            " assert not {'boto3', 'botocore'} & set(sys.modules), 'SDK loaded'")
    subprocess.run([sys.executable, "-c", code], check=True)
