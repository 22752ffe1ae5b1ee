"""Every notebook (jupytext percent-format .py) runs top to bottom with a small path count."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("SIMPOOL_PATHS", "2000")
    monkeypatch.chdir(path.parent)
    namespace = runpy.run_path(str(path), run_name="__main__")
    assert "res" in namespace and namespace["res"].paths == 2000


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"
