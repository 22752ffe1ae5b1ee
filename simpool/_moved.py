"""Old module paths keep working: ``simpool.plots``, ``simpool.fundkernels``, ``python -m
simpool.golden`` ... resolve to the modules' homes in the stage packages.

simpool was one flat folder of modules until the packages ``scenario``, ``engine``,
``analysis``, ``outputs`` and ``testing`` took them in. :data:`MOVED` maps each old name to its
new one; an import of an old name gets the new module itself (``simpool.plots is
simpool.outputs.plots``), and ``python -m`` runs it. Nothing here is needed by simpool itself:
its own modules import the new paths.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

#: old module (under ``simpool.``) -> its home now
MOVED = {
    "scenario_base": "scenario.base",
    "units": "scenario.units",
    "tomlpos": "scenario.tomlpos",
    "policy": "scenario.policy",
    "fund": "scenario.fund",
    "loantape": "scenario.loantape",
    "sweep": "scenario.sweep",
    "_jit": "engine._jit",
    "rng": "engine.rng",
    "binomial": "engine.binomial",
    "kernels": "engine.kernels",
    "waterfall": "engine.waterfall",
    "fundkernels": "engine.fundkernels",
    "moments": "engine.moments",
    "model": "engine.plan",
    "waterfall_plan": "engine.waterfall_plan",
    "importance": "engine.importance",
    "memory": "engine.memory",
    "cluster": "engine.cluster",
    "stats": "analysis.stats",
    "results": "analysis.results",
    "contributions": "analysis.contributions",
    "compare": "analysis.compare",
    "solve": "analysis.solve",
    "sensitivity": "analysis.sensitivity",
    "output": "outputs.files",
    "outdir": "outputs.outdir",
    "batch": "outputs.batch",
    "report": "outputs.report",
    "plots": "outputs.plots",
    "golden": "testing.golden",
    "fuzz": "testing.fuzz",
}


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``simpool.<old>`` to ``simpool.<new>`` (the same module object)."""

    @staticmethod
    def _target(fullname: str) -> str | None:
        head, _, rest = fullname.partition(".")
        if head != "simpool" or rest not in MOVED:
            return None
        return f"simpool.{MOVED[rest]}"

    def find_spec(self, fullname, path=None, target=None):
        new = self._target(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=new)

    def create_module(self, spec):
        return importlib.import_module(self._target(spec.name))

    def exec_module(self, module) -> None:
        pass  # the module was run under its own name

    def get_code(self, fullname):
        """For ``python -m simpool.<old>``: code that runs the new module as ``__main__``
        (under its own name, so that its relative imports resolve)."""
        new = self._target(fullname)
        return compile(f"import runpy\nrunpy.run_module({new!r}, run_name='__main__', "
                       "alter_sys=True)\n", f"<simpool: {fullname} is {new}>", "exec")

    def is_package(self, fullname) -> bool:
        return False


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
