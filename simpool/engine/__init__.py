"""Stages 2 and 3 of the pipeline: plan a scenario into kernel inputs, and run its paths.

``inputs`` (the kernels' inputs as frozen arrays), ``plan`` and ``waterfall_plan`` (scenario
to inputs), ``importance`` (importance sampling), the numba kernels ``rng``, ``binomial``,
``kernels`` (credit), ``waterfall`` (the policy waterfall), ``fundkernels`` (angel funds) and
``moments`` (block moments), compiled and cached through ``_jit``; ``runner`` (chunks of
paths over any executor), ``cluster`` (Dask) and ``memory`` (the memory estimate). The kernels
import nothing above ``_jit``; nothing here imports the analysis.

``simulate`` and its friends live in :mod:`simpool.analysis.simulation`; their old path
(``simpool.engine.simulate``) still works.
"""

from __future__ import annotations

_RUNNER = ("run_paths", "run_chunk", "output_shapes", "ResultStore", "chunk_bounds",
           "default_workers", "default_chunk_size", "chunk_bytes_per_path", "bytes_per_path",
           "inputs_bytes", "DEFAULT_CHUNK", "CHUNK_BYTES", "KEEP_SEGMENTS_BYTES",
           "SEGMENT_OUTPUTS")
_SIMULATION = ("simulate", "simulate_until", "precompile", "prepare", "as_run",
               "PRECOMPILE_VARIANTS")


def __getattr__(name: str):
    import importlib

    if name in _RUNNER:
        return getattr(importlib.import_module(".runner", __name__), name)
    if name in _SIMULATION:  # their home before the packages (compatibility)
        return getattr(importlib.import_module("simpool.analysis.simulation"), name)
    raise AttributeError(f"module 'simpool.engine' has no attribute {name!r}")
