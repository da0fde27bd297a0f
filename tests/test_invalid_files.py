"""Invalid files: tests/invalid/<name>/ holds desired.yaml (or desired.bin) and expected.txt,
the exact FILE:LINE:COL diagnostics `reconciler validate` prints, one per line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.desired.load import load_desired
from reconciler.diagnostics import InvalidDocument

CASES = Path(__file__).parent / "invalid"


def _input(folder: Path) -> str:
    return next(p.name for p in sorted(folder.iterdir()) if p.name.startswith("desired."))


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_invalid_case(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = CASES / case
    monkeypatch.chdir(folder)
    for name in ("UNSET_FOR_TESTS", "ALSO_UNSET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RECONCILER_TEST_RG", "rg-from-env")
    with pytest.raises(InvalidDocument) as caught:
        load_desired(_input(folder))
    got = "\n".join(d.format() for d in caught.value.diagnostics) + "\n"
    if os.environ.get("REGENERATE"):
        (folder / "expected.txt").write_text(got)
    assert got == (folder / "expected.txt").read_text()
