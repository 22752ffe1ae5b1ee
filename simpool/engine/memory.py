"""How much memory a run will need, and how much there is: checked before simulating.

The memory model (bytes, at the peak of a run of ``N`` paths; README "Memory"):

    peak = baseline + N x kept + ceil(N / BLOCK) x F x 40 + in_flight x chunk x per_path
           + summary x N                                        (+ Dask workers, below)

* ``baseline``: this process before the run (Python, numpy, numba, the planned inputs:
  measured, not guessed);
* ``kept``: bytes a path keeps (:func:`simpool.analysis.results.keep_outputs`: about 430 for
  ``scenarios/hubei_base.toml`` with ``keep="summary"``, 1,700 with ``keep="all"``);
* block moments of the ``F`` mean-type figures (:mod:`simpool.engine.moments`);
* the chunks being simulated: one per worker, each ``chunk`` paths of every output
  (:func:`simpool.engine.output_shapes`) plus the reducer's;
* the summary's working arrays: a sorted copy and a few temporaries of one sample
  (``summary`` = 48 bytes a path, 80 with importance-sampling weights);
* with ``--target-se`` the kept arrays are allocated for ``--max-paths`` (and filled as
  batches arrive), so ``N`` is ``--max-paths``;
* a Dask LocalCluster adds its processes: a scheduler and per worker a Python with simpool
  (:data:`DASK_PROCESS_BYTES` each), the planned inputs (sent once) and its chunks.

The memory available is the least of the system's ``MemAvailable``, the control group's
``memory.max`` less its usage, ``RLIMIT_AS`` / ``RLIMIT_DATA`` less what the process maps, and
``--max-memory``; each plus what this process already holds.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError

#: Bytes of a Dask process beyond its arrays (Python, numpy, numba, simpool, distributed).
DASK_PROCESS_BYTES = 300 * 2**20
#: Summary working arrays per path (bytes): unweighted, weighted.
SUMMARY_BYTES = (48, 80)
#: Chunks of every output held per worker at once (the one it simulates; a finished chunk
#: waits to be collected already reduced to what the run keeps, which is small).
IN_FLIGHT_PER_WORKER = 1


class MemoryBudgetError(UsageError):
    """A run would need more memory than there is (raised before simulating)."""


def gib(n: float) -> str:
    """``n`` bytes as GiB (or MiB below one GiB), for messages."""
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.0f} MiB"


def parse_size(text: str) -> int:
    """``"8G"``, ``"8GiB"``, ``"512M"``, ``"1.5e9"`` -> bytes (powers of 1024 for units)."""
    m = re.fullmatch(r"\s*([0-9.]+(?:[eE][+-]?\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", str(text))
    if not m:
        raise ValueError(f"expected a size such as 8G, 512M or 1.5e9 (bytes), got {text!r}")
    value = float(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " ")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"a size must be > 0, got {text!r}")
    return int(value)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _status(key: str) -> int | None:
    """A ``kB`` field of /proc/self/status (VmRSS, VmSize, VmData), in bytes."""
    text = _read("/proc/self/status") or ""
    m = re.search(rf"^{key}:\s+(\d+)\s+kB", text, re.M)
    return int(m.group(1)) * 1024 if m else None


def current_rss() -> int:
    """Resident memory of this process now (bytes)."""
    rss = _status("VmRSS")
    if rss is not None:
        return rss
    import resource  # pragma: no cover - not Linux

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def available_memory() -> tuple[int | None, str]:
    """(bytes this process may grow to in all, where that limit comes from), or (None, "")
    when nothing can be read. Counts this process's current resident memory as usable."""
    rss = current_rss()
    found: list[tuple[int, str]] = []
    meminfo = _read("/proc/meminfo") or ""
    m = re.search(r"^MemAvailable:\s+(\d+)\s+kB", meminfo, re.M)
    if m:
        found.append((int(m.group(1)) * 1024 + rss, "the system's available memory"))
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read(limit_file), _read(usage_file)
        if limit and limit.isdigit() and int(limit) < 2**60 and usage and usage.isdigit():
            found.append((int(limit) - int(usage) + rss, f"the control group's limit "
                                                          f"({gib(int(limit))})"))
            break
    try:
        import resource

        for name, status in (("RLIMIT_AS", "VmSize"), ("RLIMIT_DATA", "VmData")):
            soft, _ = resource.getrlimit(getattr(resource, name))
            used = _status(status)
            if soft != resource.RLIM_INFINITY and used is not None:
                found.append((soft - used + rss, f"the process limit {name} ({gib(soft)})"))
    except (ImportError, AttributeError, ValueError, OSError):  # pragma: no cover
        pass
    if not found:
        return None, ""
    return min(found)


@dataclass
class MemoryEstimate:
    """A run's estimated peak memory, by part (bytes)."""

    paths: int
    parts: dict = field(default_factory=dict)
    per_path: int = 0  # bytes that grow with the path count (kept + summary + moments)
    fixed: int = 0  # the rest

    @property
    def total(self) -> int:
        return int(sum(self.parts.values()))

    def describe(self) -> str:
        return ", ".join(f"{k} {gib(v)}" for k, v in self.parts.items() if v > 0)

    def paths_within(self, budget: int) -> int:
        """The most paths whose estimate fits in ``budget`` bytes (0 if none)."""
        room = budget - self.fixed
        return max(0, int(room // max(1, self.per_path)))


def estimate(inputs, paths: int, kept_bytes: int, n_features: int, chunk_size: int,
             workers: int, *, weighted: bool = False, dask_workers: int = 0,
             dask_local: bool = False, baseline: int | None = None) -> MemoryEstimate:
    """The peak memory of a run of ``paths`` paths (see the module docstring).

    ``kept_bytes``: bytes a path keeps; ``chunk_size`` and ``workers``: the engine's chunks
    and the executor's parallel workers; ``dask_workers`` > 0 with ``dask_local``: a
    LocalCluster's worker processes on this machine.
    """
    from .runner import chunk_bytes_per_path, inputs_bytes
    from .moments import BLOCK

    base = current_rss() if baseline is None else baseline
    chunk = chunk_size * chunk_bytes_per_path(inputs, 8 * (n_features + 2))
    moments = -(-paths // BLOCK) * n_features * 40
    summary = SUMMARY_BYTES[1 if weighted else 0]
    if dask_workers and dask_local:
        flight = chunk  # collected here one at a time; the workers hold theirs
    elif dask_workers:  # a remote cluster: only the results come here
        flight = IN_FLIGHT_PER_WORKER * dask_workers * chunk
    else:
        flight = IN_FLIGHT_PER_WORKER * max(1, workers) * chunk
    est = MemoryEstimate(paths)
    est.parts = {
        "this process now": base,
        "per-path results": paths * kept_bytes,
        "block moments": moments,
        # the chunks while simulating, then the summary's sorted copies: not at once
        "working arrays": max(flight, paths * summary),
    }
    if dask_workers and dask_local:
        est.parts["Dask processes"] = (dask_workers + 1) * DASK_PROCESS_BYTES + dask_workers * (
            inputs_bytes(inputs) + IN_FLIGHT_PER_WORKER * chunk)
    est.per_path = kept_bytes + summary + n_features * 40 // BLOCK + 1
    est.fixed = est.total - paths * est.per_path
    return est


def check(est: MemoryEstimate, max_memory: int | None = None, what: str = "this run",
          hint: str = "") -> None:
    """Raise :class:`MemoryBudgetError` when ``est`` does not fit in the memory available
    (or in ``max_memory`` bytes, when given)."""
    budget, source = available_memory()
    if max_memory is not None and (budget is None or max_memory < budget):
        budget, source = max_memory, "--max-memory"
    if budget is None or est.total <= budget:
        return
    fit = est.paths_within(budget)
    advice = (f"run at most about {fit:,} paths" if fit >= 1 else
              "even one path does not fit: free memory or simplify the scenario")
    raise MemoryBudgetError(
        f"{what} needs about {gib(est.total)} of memory at its peak ({est.describe()}) for "
        f"{est.paths:,} paths, but {gib(budget)} is available ({source}): {advice}"
        f"{hint}, or raise --max-memory if more memory is really there")


def default_max_memory() -> int | None:
    """``SIMPOOL_MAX_MEMORY`` (e.g. ``8G``) when set: a cap for every run of the process."""
    text = os.environ.get("SIMPOOL_MAX_MEMORY")
    return parse_size(text) if text else None
