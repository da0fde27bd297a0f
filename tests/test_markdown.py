"""The pull-request view: whole-string comparisons of plans built in memory, and the
GitHub comment limit for very large plans."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.plan import Action, ActionKind, FieldChange, Plan, PlanError, Reason
from reconciler.render.markdown import COMMENT_LIMIT, plan_marker, render_markdown

CREATE, UPDATE, DELETE = ActionKind.CREATE, ActionKind.UPDATE, ActionKind.DELETE


def test_plan_with_every_kind_of_action() -> None:
    plan = Plan("demo", "local", actions=(
        Action(CREATE, "batch", (FieldChange(("mode",), None, "user"),
                                 FieldChange(("autoscaling", "desired"), None, 2)),
               Reason.NEW),
        Action(UPDATE, "system", (FieldChange(("autoscaling", "max"), 3, 5),
                                  FieldChange(("labels", "tier"), "gold", None)), Reason.CHANGED),
        Action(DELETE, "old", (), Reason.NO_LONGER_LISTED),
    ), noop=2, unmanaged=("nodepool1",))
    assert render_markdown(plan) == """\
<!-- reconciler-plan:demo -->
### reconciler plan for `demo` (local): 1 to create, 1 to update, 1 to delete

> [!CAUTION]
> **This plan destroys 1 node pool: its nodes will be drained and removed.** `old`

| | pool | action | fields | why |
|---|---|---|---|---|
| ➕ | `batch` | create | 2 | listed, not in the cluster |
| ✏️ | `system` | update | 2 | changed |
| ➖ | `old` | delete |  | owned, no longer listed |

2 pools unchanged. Unmanaged pools, left alone: `nodepool1`.

<details><summary>➕ <code>batch</code>: create, 2 fields</summary>

| field | value |
|---|---|
| `mode` | `"user"` |
| `autoscaling.desired` | `2` |

</details>

<details><summary>✏️ <code>system</code>: update, 2 fields</summary>

| field | before | after |
|---|---|---|
| `autoscaling.max` | `3` | `5` |
| `labels.tier` | `"gold"` | *unset* |

</details>
"""


def test_rejected_plan_shows_errors_first() -> None:
    plan = Plan("prod", "aks", actions=(
        Action(UPDATE, "apps", (FieldChange(("instanceType",), "Standard_D8s_v5",
                                            "Standard_E8s_v5"),), Reason.CHANGED),
    ), errors=(
        PlanError("apps", ("instanceType",), "Standard_D8s_v5", "Standard_E8s_v5",
                  "instanceType cannot change on an existing pool; add a new pool"),
        PlanError(None, None, None, None, "a cluster needs at least one system pool"),
    ))
    assert render_markdown(plan) == """\
<!-- reconciler-plan:prod -->
### reconciler plan for `prod` (aks): rejected, 2 errors

> [!CAUTION]
> **This plan is rejected and cannot be applied; nothing will be changed.**
>
> - `apps` `instanceType` (`"Standard_D8s_v5"` → `"Standard_E8s_v5"`): instanceType cannot \
change on an existing pool; add a new pool
> - a cluster needs at least one system pool

| | pool | action | fields | why |
|---|---|---|---|---|
| ✏️ | `apps` | update | 1 | changed |

0 pools unchanged.

<details><summary>✏️ <code>apps</code>: update, 1 field</summary>

| field | before | after |
|---|---|---|
| `instanceType` | `"Standard_D8s_v5"` | `"Standard_E8s_v5"` |

</details>
"""


def test_no_changes() -> None:
    assert render_markdown(Plan("demo", "local", noop=1)) == """\
<!-- reconciler-plan:demo -->
### reconciler plan for `demo` (local): no changes

The cluster matches the file (1 pool as listed).
"""


def test_user_text_cannot_break_the_table_or_the_markup() -> None:
    plan = Plan("a<b>", "local", actions=(
        Action(UPDATE, "web", (FieldChange(("labels", "note"), "x|y", "`tick` <b>"),),
               Reason.CHANGED),
    ))
    assert render_markdown(plan) == """\
<!-- reconciler-plan:a&lt;b&gt; -->
### reconciler plan for `a<b>` (local): 0 to create, 1 to update, 0 to delete

| | pool | action | fields | why |
|---|---|---|---|---|
| ✏️ | `web` | update | 1 | changed |

0 pools unchanged.

<details><summary>✏️ <code>web</code>: update, 1 field</summary>

| field | before | after |
|---|---|---|
| `labels.note` | `"x\\|y"` | ``"`tick` <b>"`` |

</details>
"""


def test_the_marker_is_stable() -> None:
    assert plan_marker("prod-japaneast") == "<!-- reconciler-plan:prod-japaneast -->"
    plan = Plan("prod-japaneast", "aks")
    assert render_markdown(plan).splitlines()[0] == "<!-- reconciler-plan:prod-japaneast -->"


def _assert_fits_and_is_well_formed(text: str) -> None:
    assert len(text) < COMMENT_LIMIT
    assert text.count("<details>") == text.count("</details>")
    # Every opened block is closed before the next one opens.
    assert re.fullmatch(r"(?s)(?:(?!<details>|</details>).)*"
                        r"(?:<details>(?:(?!<details>|</details>).)*</details>"
                        r"(?:(?!<details>|</details>).)*)*", text)
    assert text.startswith("<!-- reconciler-plan:")
    assert text.endswith("\n") and not text.endswith("\n\n")
    for line in text.splitlines():
        if line.startswith("|"):
            assert line.endswith("|"), line


def _label_changes(count: int, width: int = 40) -> tuple[FieldChange, ...]:
    return tuple(FieldChange(("labels", f"key{i:05d}"), "a" * width, "b" * width)
                 for i in range(count))


def test_hundred_pools_all_changed_fit_one_comment() -> None:
    actions = tuple(Action(UPDATE, f"pool{i:03d}", _label_changes(20), Reason.CHANGED)
                    for i in range(100))
    text = render_markdown(Plan("big", "aks", actions=actions))
    _assert_fits_and_is_well_formed(text)
    assert text.count("| ✏️ |") == 100  # the action table is whole
    shown = text.count("<details>")
    assert 0 < shown < 100
    assert shown == 25
    assert text.endswith("""\

… 19 more fields not shown.

</details>

> [!NOTE]
> This comment was shortened to fit GitHub's comment limit: 19 fields of `pool024`; the \
field diffs of 75 more pools left out. Run `reconciler plan` or download the plan artifact \
for the full plan.
""")


def test_one_pool_with_a_huge_diff_is_cut_inside_its_block() -> None:
    plan = Plan("big", "aks", actions=(
        Action(UPDATE, "apps", _label_changes(5_000), Reason.CHANGED),
        Action(UPDATE, "web", _label_changes(1), Reason.CHANGED),
    ))
    text = render_markdown(plan)
    _assert_fits_and_is_well_formed(text)
    assert text.count("<details>") == 1
    assert re.search(r"\n… \d+ more fields not shown\.\n\n</details>\n", text)
    kept = text.count("| `labels.key")
    assert 100 < kept < 5_000
    assert (f"{5_000 - kept} fields of `apps`; the field diffs of 1 more pool left out"
            in text)


def test_a_huge_value_is_shortened_in_place() -> None:
    plan = Plan("demo", "local", actions=(
        Action(UPDATE, "apps",
               (FieldChange(("extensions", "aks", "tags"), None, {"k": "v" * 100_000}),),
               Reason.CHANGED),
    ))
    text = render_markdown(plan)
    _assert_fits_and_is_well_formed(text)
    assert "… (99509 more characters) |" in text
    assert "[!NOTE]" not in text


def test_many_errors_are_cut_with_a_notice() -> None:
    errors = tuple(PlanError(f"p{i}", ("zones",), None, None, "x" * 200) for i in range(1_000))
    text = render_markdown(Plan("demo", "aks", errors=errors))
    _assert_fits_and_is_well_formed(text)
    assert 100 < text.count("> - `p") < 1_000
    assert "errors left out" in text


@pytest.mark.parametrize("limit", [3_000, 5_000, 20_000])
def test_any_limit_is_respected(limit: int) -> None:
    actions = tuple(Action(UPDATE, f"p{i}", _label_changes(30), Reason.CHANGED) for i in range(50))
    text = render_markdown(Plan("demo", "aks", actions=actions), limit=limit)
    assert len(text) < limit
    assert text.count("<details>") == text.count("</details>")


def test_plan_command_prints_markdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pools.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: NodePoolSet\n"
        "cluster: {name: demo, provider: local, settings: {stateFile: s.json}}\n"
        "nodePools: [{name: system, mode: system, autoscaling: {enabled: false, desired: 1}}]\n")
    result = CliRunner().invoke(cli, ["plan", "pools.yaml", "--format", "markdown",
                                      "--detailed-exitcode"])
    assert result.exit_code == 2
    assert result.stdout.startswith("<!-- reconciler-plan:demo -->\n### reconciler plan for"
                                    " `demo` (local): 1 to create, 0 to update, 0 to delete\n")
