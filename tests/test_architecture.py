"""The shape of the house (ARCHITECTURE.md): packages that follow the pipeline, imports that
run one way, modules small enough to read. Read from the sources (ast), imports inside
functions and under ``if TYPE_CHECKING:`` included."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "simpool"
#: The stages, upstream first: a module may import its own stage and those before it.
STAGES = ("scenario", "engine", "analysis", "outputs", "cli")
#: Modules every stage may import.
SHARED = {"simpool.errors", "simpool._version"}
#: The numba kernels: they import nothing of simpool but each other and the jit wrapper.
KERNELS = {"simpool.engine." + m for m in ("_jit", "rng", "binomial", "kernels", "waterfall",
                                             "fundkernels", "fofkernels", "moments",
                                             "publicflows", "vasicek")}


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The simpool modules ``name`` imports (a package for ``from pkg import module`` counts
    as that module only)."""
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    out.add(sub)
                elif target in MODULES:
                    out.add(target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in MODULES)
    out.discard(name)
    return out


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def test_no_import_cycle():
    sys.setrecursionlimit(10_000)
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _stage(m)))
def test_imports_run_down_the_pipeline(module):
    """A stage imports only itself and the stages before it (the engine's compatibility names
    for ``simulate`` excepted: its ``__init__`` resolves them lazily from the analysis)."""
    here = STAGES.index(_stage(module))
    for target in GRAPH[module]:
        stage = _stage(target)
        if target in SHARED or stage is None and target in ("simpool._moved",):
            continue
        if module == "simpool.engine" and target == "simpool.analysis.simulation":
            continue  # simpool.engine.simulate: the old home of simulate (compatibility)
        assert stage is not None and STAGES.index(stage) <= here, f"{module} imports {target}"


def test_kernels_import_nothing_above_them():
    for module in KERNELS:
        assert GRAPH[module] <= KERNELS, (module, GRAPH[module] - KERNELS)


def test_results_do_not_import_the_report_or_plots():
    for module in MODULES:
        if module.startswith("simpool.analysis"):
            assert not {t for t in GRAPH[module] if t.startswith("simpool.outputs")}, module


def test_nothing_imports_names_through_a_package_init():
    """``from .x import y`` between siblings: a package's ``__init__`` is never the source of
    a name another simpool module imports (the root package's ``__version__`` lives in
    ``_version``)."""
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    for module, targets in GRAPH.items():
        assert not (targets & packages), (module, targets & packages)


def test_modules_are_small_and_the_packages_show_the_pipeline():
    long = {m: n for m, p in MODULES.items()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 800}
    assert not long
    subpackages = {m for m, p in MODULES.items() if p.name == "__init__.py" and m != "simpool"}
    assert {"simpool.scenario", "simpool.engine", "simpool.analysis", "simpool.outputs",
            "simpool.cli", "simpool.testing"} <= subpackages
    flat = sorted(m for m in MODULES if m.count(".") == 1)
    assert flat == ["simpool.__main__", "simpool._moved", "simpool._version", "simpool.analysis",
                    "simpool.cli", "simpool.engine", "simpool.errors", "simpool.outputs",
                    "simpool.scenario", "simpool.testing"]


def test_old_module_paths_still_import():
    import importlib

    import simpool

    for old, new in __import__("simpool._moved", fromlist=["MOVED"]).MOVED.items():
        assert importlib.import_module(f"simpool.{old}") is importlib.import_module(f"simpool.{new}")
    assert simpool.plots is simpool.outputs.plots  # noqa: the alias is an attribute too
    from simpool.engine import simulate
    from simpool.fundkernels import FIGURES

    assert simulate is simpool.simulate and FIGURES
