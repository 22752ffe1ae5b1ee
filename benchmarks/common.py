"""Shared helpers of the benchmark suite: portfolios, timing, subprocesses, result rows.

Units used throughout: seconds (``*_s``), yuan for money, MiB for memory, and
*obligor-paths* for work: one loan simulated in one path for one year (a 10,000-loan book
over 100,000 one-year paths is 1e9 obligor-paths).
"""

from __future__ import annotations

import json
import math
import statistics
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from simpool.engine._jit import jit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# ---------------------------------------------------------------------------------------
# Portfolios
# ---------------------------------------------------------------------------------------

#: PD grades of the graded book: 20 grades, geometric from 0.1% to 10% (mean about 2.4%).
GRADE_PDS = tuple(float(p) for p in np.geomspace(0.001, 0.10, 20))
RHO = 0.15
LGD = 0.45
EXPOSURE = 5_000_000.0  # yuan per loan (500万)


@dataclass
class Book:
    """A loan book as per-loan arrays (what the naive baseline consumes).

    ``pd``, ``rho``, ``lgd`` are fractions, ``exposure`` is yuan, ``sector`` indexes
    ``sectors``.
    """

    pd: np.ndarray
    rho: np.ndarray
    lgd: np.ndarray
    exposure: np.ndarray
    sector: np.ndarray
    sectors: list[str] = field(default_factory=lambda: ["tech"])

    @property
    def n(self) -> int:
        """Number of loans."""
        return len(self.pd)


def grade_counts(n_loans: int, grades: int) -> list[int]:
    """Split ``n_loans`` over ``grades`` as evenly as possible (the first grades get +1)."""
    base, extra = divmod(n_loans, grades)
    return [base + (g < extra) for g in range(grades)]


def graded_scenario(n_loans: int = 10_000, pds=GRADE_PDS, *, mode: str = "loans",
                    years: int = 1, rho: float = RHO, lgd: float = LGD,
                    exposure: float = EXPOSURE, paths: int = 100_000) -> dict:
    """Scenario dict: ``n_loans`` loans spread over the PD grades ``pds``, one sector.

    ``mode="loans"`` simulates every loan (one uniform each per path-year);
    ``mode="binomial"`` draws each grade as one conditional binomial.
    """
    counts = grade_counts(n_loans, len(pds))
    return {
        "title": f"bench graded {n_loans} loans {mode}",
        "simulation": {"paths": paths, "seed": 1, "horizon_years": years},
        "model": {"sectors": ["tech"]},
        "cohorts": [dict(name=f"grade{g:02d}", loans=k, exposure=exposure, pd=float(p), lgd=lgd,
                         rho=rho, sector="tech", mode=mode)
                    for g, (k, p) in enumerate(zip(counts, pds)) if k > 0],
    }


def graded_book(n_loans: int = 10_000, pds=GRADE_PDS, rho: float = RHO, lgd: float = LGD,
                exposure: float = EXPOSURE) -> Book:
    """The per-loan arrays of :func:`graded_scenario` (same order of grades)."""
    counts = grade_counts(n_loans, len(pds))
    pd = np.repeat(np.asarray(pds, float), counts)
    n = len(pd)
    return Book(pd=pd, rho=np.full(n, rho), lgd=np.full(n, lgd), exposure=np.full(n, exposure),
                sector=np.zeros(n, np.int64))


def lognormal_book(n_loans: int = 10_000, mean_pd: float = 0.02, sigma: float = 0.8,
                   seed: int = 12345) -> Book:
    """A book where every loan has its own PD: lognormal with mean ``mean_pd``.

    ``pd = mean_pd * exp(sigma N - sigma^2 / 2)`` clipped to [0.0005, 0.3]; exposures
    lognormal around 500万 yuan; rho 0.15, LGD 0.45, one sector.
    """
    rng = np.random.default_rng(seed)
    pd = np.clip(mean_pd * np.exp(sigma * rng.standard_normal(n_loans) - 0.5 * sigma ** 2),
                 0.0005, 0.3)
    exposure = np.round(EXPOSURE * np.exp(0.5 * rng.standard_normal(n_loans) - 0.125), -2)
    return Book(pd=pd, rho=np.full(n_loans, RHO), lgd=np.full(n_loans, LGD), exposure=exposure,
                sector=np.zeros(n_loans, np.int64))


def glasserman_li_book(n: int = 1000) -> Book:
    """Glasserman & Li (2005) test portfolio: obligor k = 1..n has
    ``PD_k = 0.01 (1 + sin(16 pi k / n))``, exposure ``ceil(5 k / n)^2`` yuan, LGD 1,
    asset correlation 0.09 (factor loading 0.3), one factor.
    """
    k = np.arange(1, n + 1)
    pd = 0.01 * (1.0 + np.sin(16.0 * np.pi * k / n))
    exposure = np.ceil(5.0 * k / n) ** 2
    return Book(pd=pd, rho=np.full(n, 0.09), lgd=np.ones(n), exposure=exposure,
                sector=np.zeros(n, np.int64))


def write_tape(book: Book, path: Path) -> Path:
    """Write ``book`` as a loan-tape CSV (columns exposure, pd, lgd, rho, sector)."""
    import pandas as pd

    df = pd.DataFrame({"exposure": book.exposure, "pd": book.pd, "lgd": book.lgd,
                       "rho": book.rho, "sector": np.asarray(book.sectors)[book.sector]})
    path = Path(path)
    df.to_csv(path, index=False, float_format="%.17g")
    return path


def tape_scenario(tape_path: Path, *, sectors=("tech",), years: int = 1,
                  paths: int = 100_000, extra: dict | None = None) -> dict:
    """Scenario dict whose whole portfolio is the loan tape at ``tape_path`` (absolute)."""
    sc = {
        "title": f"bench tape {Path(tape_path).name}",
        "simulation": {"paths": paths, "seed": 1, "horizon_years": years},
        "model": {"sectors": list(sectors)},
        "portfolio": {"loans_file": str(Path(tape_path).resolve())},
    }
    if extra:
        sc.update(extra)
    return sc


# ---------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """(wall seconds, result) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def interleaved(subjects: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall time (s) of each subject over ``repeats`` rounds, run back to back.

    Round r runs every subject once, in order, so slow drifts of a shared machine's load
    hit all subjects alike; the minimum over rounds is the least-disturbed run.
    """
    best = {k: math.inf for k in subjects}
    for _ in range(max(1, repeats)):
        for name, fn in subjects.items():
            dt, _ = timed(fn)
            best[name] = min(best[name], dt)
    return best


def rounds(subjects: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Wall times (s) of each subject in each of ``repeats`` rounds; round r runs every
    subject once, back to back, in order on even rounds and reversed on odd ones (so no
    subject always follows the same neighbour). Ratios of two subjects' times within a round
    share the machine's state of that moment (see :func:`paired_ratio`)."""
    times: dict[str, list[float]] = {k: [] for k in subjects}
    names = list(subjects)
    for r in range(max(1, repeats)):
        for name in (names if r % 2 == 0 else names[::-1]):
            dt, _ = timed(subjects[name])
            times[name].append(dt)
    return times


def paired_ratio(num: list[float], den: list[float]) -> tuple[float, float, float]:
    """(median, min, max) over rounds of ``num[r] / den[r]``: the ratio of two subjects'
    times in the same round. A disturbance of a shared machine lasting seconds slows both
    sides of a round alike; the ratio of each side's best time pairs runs from different
    rounds, each side's luckiest."""
    ratios = [a / b for a, b in zip(num, den)]
    return statistics.median(ratios), min(ratios), max(ratios)


def process_cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process, all threads."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def default_workers() -> int:
    """Threads of simpool's default executor (the CPUs this process may use)."""
    from simpool.engine.runner import default_workers as dw

    return dw()


def loadavg() -> str:
    """The 1/5/15-minute load averages, as text (shared machines: read timings with it)."""
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


# ---------------------------------------------------------------------------------------
# Subprocesses
# ---------------------------------------------------------------------------------------


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a child process: this one's, with ``extra`` added."""
    env = dict(os.environ)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_child(args: list[str], env: dict[str, str] | None = None, timeout: float = 900.0
              ) -> tuple[float, dict]:
    """Run ``python benchmarks/child.py ARGS``; return (wall seconds, its JSON output).

    The child prints one JSON object on its last stdout line. Raises ``RuntimeError`` with
    the child's stderr when it fails.
    """
    cmd = [sys.executable, str(HERE / "child.py"), *args]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed (exit {p.returncode}):\n"
                           f"{p.stderr[-3000:]}")
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    return wall, json.loads(lines[-1])


def run_command(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 300.0
                ) -> float:
    """Wall seconds of one command (raises ``RuntimeError`` on a non-zero exit)."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    return wall


def simpool_command() -> list[str]:
    """The ``simpool`` console script next to this Python, else ``python -m simpool``."""
    exe = Path(sys.executable).with_name("simpool")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "simpool"]


# ---------------------------------------------------------------------------------------
# Result rows and the table
# ---------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the results table.

    ``value`` is in ``unit``. ``target`` is ``(">=", x)`` or ``("<=", x)`` or None (no
    target: information only). ``check=True`` marks a correctness check (e.g. bit-identity)
    whose failure makes ``run.py`` exit 1; missed *timing* targets never do.
    """

    group: str
    name: str
    size: str
    value: float | None
    unit: str
    target: tuple[str, float] | None = None
    note: str = ""
    check: bool = False
    status: str = ""  # filled by finish(): pass / fail / info / skip / error

    def finish(self) -> "Row":
        """Set ``status`` from the value and the target."""
        if self.status:
            return self
        if self.value is None or (isinstance(self.value, float) and math.isnan(self.value)):
            self.status = "skip"
        elif self.target is None:
            self.status = "info"
        else:
            op, x = self.target
            ok = self.value >= x if op == ">=" else self.value <= x
            self.status = "pass" if ok else "fail"
        return self

    @property
    def headroom(self) -> float | None:
        """value / target for ">=" targets, target / value for "<=": >= 1 meets the target."""
        if self.target is None or self.value is None:
            return None
        op, x = self.target
        try:
            return self.value / x if op == ">=" else x / self.value
        except ZeroDivisionError:
            return math.inf

    def as_dict(self) -> dict:
        d = asdict(self)
        d["target"] = None if self.target is None else {"op": self.target[0],
                                                        "value": self.target[1]}
        d["headroom"] = self.headroom
        return d


_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def fmt_value(v: float | None, unit: str = "") -> str:
    """Three significant digits; large rates with an SI prefix (1.53 G)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if unit == "bool":
        return "yes" if v else "no"
    if unit.endswith("/s") or unit in ("obligor-paths", "paths"):
        for scale, p in _SI:
            if abs(v) >= scale:
                return f"{v / scale:.3g} {p}"
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.3g}"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"


def fmt_target(t: tuple[str, float] | None, unit: str = "") -> str:
    if t is None:
        return ""
    op, x = t
    if unit == "bool":
        return "yes"
    return f"{'≥' if op == '>=' else '≤'} {fmt_value(x, unit)}"


def format_table(rows: list[Row]) -> str:
    """The results as an aligned text table (one line per row, notes below)."""
    head = ("benchmark", "size", "value", "unit", "target", "ratio", "status")
    body = []
    for r in rows:
        hr = r.headroom
        body.append((f"{r.group}.{r.name}", r.size, fmt_value(r.value, r.unit), r.unit,
                     fmt_target(r.target, r.unit),
                     "" if hr is None else (f"{hr:.2f}" if hr < 100 else f"{hr:.3g}"),
                     r.status))
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(head)]
    right = {2, 5}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [line(head), line(["-" * w for w in widths])]
    out += [line(b) for b in body]
    notes = [(f"{r.group}.{r.name}", r.note) for r in rows if r.note]
    if notes:
        out.append("")
        out.append("notes:")
        out += [f"  {n}: {t}" for n, t in notes]
    return "\n".join(out)


def obligor_rate(n_loans: int, paths: int, years: int, seconds: float) -> float:
    """Obligor-paths per second: loans x paths x years / seconds."""
    return n_loans * paths * years / seconds


# ---------------------------------------------------------------------------------------
# Exact loss distribution of the Glasserman-Li book (reference for importance sampling)
# ---------------------------------------------------------------------------------------


@jit()
def _pmf_given_p(p, units, total):
    """pmf over 0..total of sum_k units_k D_k, with D_k ~ Bernoulli(p_k) independent."""
    dist = np.zeros(total + 1)
    dist[0] = 1.0
    top = 0
    for k in range(p.shape[0]):
        u = units[k]
        q = p[k]
        for j in range(top, -1, -1):  # downwards: dist[j + u] is already final
            v = dist[j]
            if v != 0.0:
                dist[j + u] += q * v
                dist[j] = (1.0 - q) * v
        top += u
    return dist


def exact_loss_pmf(book: Book, z_lo: float = -9.0, z_hi: float = 7.0, nodes: int = 481
                   ) -> np.ndarray:
    """Exact pmf of the one-factor Gaussian-copula loss of an integer-exposure book.

    ``P(L = l)`` for ``l = 0 .. sum(exposure * lgd)`` (yuan, integers; LGD 1), integrating
    the conditionally independent Bernoulli convolution over the factor ``Z`` with the
    trapezoid rule on ``[z_lo, z_hi]`` (``nodes`` points; the integrand is smooth, so the
    error is far below Monte Carlo noise). One sector, same ``rho`` for all loans.
    """
    from scipy.special import ndtr, ndtri

    units = np.rint(book.exposure * book.lgd).astype(np.int64)
    if not np.allclose(units, book.exposure * book.lgd):
        raise ValueError("exact_loss_pmf needs integer losses")
    total = int(units.sum())
    rho = float(book.rho[0])
    c = ndtri(book.pd)
    zs = np.linspace(z_lo, z_hi, nodes)
    wts = np.exp(-0.5 * zs ** 2) / math.sqrt(2 * math.pi) * (zs[1] - zs[0])
    wts[0] *= 0.5
    wts[-1] *= 0.5
    pmf = np.zeros(total + 1)
    for z, w in zip(zs, wts):
        p = ndtr((c - math.sqrt(rho) * z) / math.sqrt(1.0 - rho))
        pmf += w * _pmf_given_p(p, units, total)
    return pmf / pmf.sum()


def exact_tail(pmf: np.ndarray, level: float) -> dict:
    """VaR and ES at ``level`` and the exceedance curve of an integer-loss pmf.

    Returns ``{"var": l, "es": ES, "exceed": P(L > l) array}``; VaR is the smallest ``l``
    with ``P(L <= l) >= level``; ES is Acerbi-Tasche
    ``(E[L 1{L > VaR}] + VaR (P(L <= VaR) - level)) / (1 - level)``.
    """
    cdf = np.cumsum(pmf)
    exceed = np.clip(1.0 - cdf, 0.0, None)
    var = int(np.searchsorted(cdf, level))
    ls = np.arange(len(pmf))
    tail = float(np.sum(ls[var + 1:] * pmf[var + 1:]))
    es = (tail + var * (cdf[var] - level)) / (1.0 - level)
    return {"var": var, "es": es, "exceed": exceed}
