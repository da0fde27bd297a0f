"""Documentation that cannot drift: generated references equal their generators' output,
the schema explains every field to editors, every command's help has examples, shell
completion works, and the README's first commands and links stay true."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from reconciler.cli import cli
from reconciler.desired.schema import schema
from reconciler.docgen import topics

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize("topic", ["format", "commands", "schema"])
def test_generated_reference_is_up_to_date(topic: str) -> None:
    path, generate = topics(cli)[topic]
    assert (ROOT / path).read_text(encoding="utf-8") == generate(), (
        f"{path} is out of date: run `reconciler docs {topic} --output {path}` and commit it")


def test_the_package_reads_the_schema_it_publishes() -> None:
    copy = "reconciler/schema/nodepools.schema.json"
    assert (ROOT / copy).read_text(encoding="utf-8") == topics(cli)["schema"][1](), (
        f"{copy} differs from schemas/: it should be a link to schemas/nodepools.schema.json")


def test_each_provider_owns_its_part_of_the_schema() -> None:
    """A provider's settings and extensions come from its own package's schema.json."""
    from reconciler.desired.schemabuild import provider_part, with_markdown
    from reconciler.registry import PROVIDERS

    published = schema()
    assert published["$defs"]["cluster"]["properties"]["provider"]["enum"] == list(PROVIDERS)
    for name in PROVIDERS:
        part = with_markdown(provider_part(name))  # descriptions get markdownDescription twins
        assert published["$defs"][f"{name}Settings"] == part["settings"]
    assert published["$defs"]["aksExtensions"] == with_markdown(provider_part("aks"))["extensions"]


def test_docs_check_flag(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "format.md"
    assert runner.invoke(cli, ["docs", "format", "-o", str(out)]).exit_code == 0
    assert runner.invoke(cli, ["docs", "format", "-o", str(out), "--check"]).exit_code == 0
    out.write_text(out.read_text() + "edited by hand\n")
    stale = runner.invoke(cli, ["docs", "format", "-o", str(out), "--check"])
    assert stale.exit_code == 1 and "is out of date" in stale.stderr
    assert runner.invoke(cli, ["docs", "format", "--check"]).exit_code == 64


def test_format_reference_covers_every_field() -> None:
    text = (ROOT / "docs" / "format.md").read_text()
    for key in _property_names(schema()):
        assert f"| `{key}` |" in text, key


def _property_names(node: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        names |= set(node.get("properties", {}))
        for value in node.values():
            names |= _property_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= _property_names(value)
    return names


def _fields(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every property schema in the document, with its path."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for key, child in node.get("properties", {}).items():
            found.append((f"{path}.{key}", child))
        for key, value in node.items():
            found += _fields(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _fields(value, f"{path}[{index}]")
    return found


def test_schema_explains_every_field_to_editors() -> None:
    """Hover help needs a description on every field (directly or on the $ref'd def) and
    a title on every field that is not a reference."""
    defs = schema()["$defs"]
    for path, field in _fields(schema()):
        target = defs[field["$ref"].rsplit("/", 1)[1]] if "$ref" in field else field
        if "if" in path or "then" in path:
            continue  # provider-selection branches, not fields a user writes
        assert target.get("description"), path
        assert target.get("title"), path


def test_schema_examples_and_defaults_are_valid() -> None:
    root = schema()
    for path, field in _fields(root):
        if "$ref" in field:
            continue
        validator = Draft202012Validator({**field, "$defs": root["$defs"]})
        for example in field.get("examples", []):
            assert validator.is_valid(example), (path, example)
        if "default" in field:
            assert validator.is_valid(field["default"]), (path, field["default"])


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(schema())


def _commands() -> list[str]:
    ctx = click.Context(cli)
    return [name for name in cli.list_commands(ctx) if not cli.get_command(ctx, name).hidden]


@pytest.mark.parametrize("command", _commands())
def test_every_command_help_has_examples(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert re.search(r"^  Examples?\b.*:$", result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^    reconciler " + re.escape(command), result.stdout, re.MULTILINE)


def test_top_level_help_has_examples() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "    reconciler apply examples/quickstart.yaml --yes" in result.stdout


@pytest.mark.parametrize(("shell", "marker"), [
    ("bash", "complete -o nosort -F _reconciler_completion reconciler"),
    ("zsh", "compdef _reconciler_completion reconciler"),
    ("fish", "complete --no-files --command reconciler"),
])
def test_shell_completion_script(shell: str, marker: str) -> None:
    result = CliRunner().invoke(cli, [], prog_name="reconciler",
                                env={"_RECONCILER_COMPLETE": f"{shell}_source"})
    assert result.exit_code == 0
    assert marker in result.stdout


def test_completion_completes_commands_and_options() -> None:
    def complete(words: str) -> str:
        env = {"_RECONCILER_COMPLETE": "bash_complete", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
        return CliRunner().invoke(cli, [], prog_name="reconciler", env=env).stdout

    assert "plain,plan" in complete("reconciler pl").splitlines()
    assert "plain,markdown" in complete("reconciler plan x.yaml --format m").splitlines()


def test_readme_starts_with_the_two_newcomer_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    assert "pip install -e '.[test]'" in first_block
    assert "reconciler apply examples/quickstart.yaml --yes" in first_block
    assert "-m pytest" in first_block
    assert readme.index("```sh") < readme.index("\n## ")


@pytest.mark.parametrize("page", ["README.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))])
def test_relative_links_resolve(page: str) -> None:
    path = ROOT / page
    prose = re.sub(r"(?s)```.*?```|`[^`\n]*`", "", path.read_text())
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", prose):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (path.parent / target).exists(), f"{page}: broken link {target}"


@pytest.mark.parametrize("page", ["README.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))])
def test_anchors_resolve(page: str) -> None:
    path = ROOT / page
    prose = re.sub(r"(?s)```.*?```|`[^`\n]*`", "", path.read_text())
    for target, anchor in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", prose):
        linked = path.parent / target if target else path
        headings = [line.lstrip("#").strip() for line in linked.read_text().splitlines()
                    if re.match(r"#{1,6} ", line)]
        assert anchor in {_github_anchor(h) for h in headings}, f"{page}: #{anchor}"


def _github_anchor(heading: str) -> str:
    """GitHub's heading id: lowercase, punctuation other than - and _ dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
