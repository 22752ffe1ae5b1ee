"""Every notebook (jupytext percent-format .py) runs top to bottom through a real Jupyter
kernel (ipykernel, executed by nbclient) with a small path count from SIMPOOL_PATHS."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))
STORIES = {"quickstart", "who_pays_4222", "will_the_pools_last", "angel_fund", "public_money",
           "whatif_sweep_goalseek", "zh_policy_memo", "calibrate_from_history"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_a_kernel(path, monkeypatch):
    monkeypatch.setenv("SIMPOOL_PATHS", "1500")
    nb = jupytext.read(path)
    t0 = time.perf_counter()
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 if "image/png" in o.get("data", {}))
    if path.stem != "quickstart":
        assert images >= 1, "a story notebook shows at least one plot"
    # one number format: no table shows raw floats such as 3.518002e+09
    tables = [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert tables, "a notebook shows at least one table"
    for t in tables:
        assert not re.search(r"\d[eE][+-]\d\d", t), t[:400]
    if path.stem.startswith("zh_"):  # a Chinese notebook's tables and labels are Chinese
        joined = "".join(tables)
        assert "全部年份" in joined and "合作银行" in joined and "预期损失" in joined
    print(f"{path.stem}: {time.perf_counter() - t0:.1f} s")


def test_the_stories_are_there():
    assert STORIES <= {p.stem for p in NOTEBOOKS}
