"""The benchmark groups of ``benchmarks/run.py``; each returns a list of :class:`common.Row`.

Groups (``--only NAME``):

``hotloop``     loan-level hot loop: 10,000 loans x 100,000 paths, graded PDs and a tape
``cohorts``     binomial cohorts: obligor-paths per second per core
``binomial``    one binomial draw (binom_inv): ns at n = 10^3 .. 10^9, flat in n
``threads``     1 -> 2 threads speed-up; bit-identity over threads and chunk sizes
``scaling``     loans 100 .. 1,000,000, paths, threads, years
``compile``     numba cold/cached first call, ``simpool --help``, ``simpool run``
``memory``      peak memory vs paths x years and loans (subprocesses)
``importance``  importance-sampling variance reduction (Glasserman-Li portfolio)
``province``    the province-sized default at 10^6 paths: process wall, obligor-path rate

Every timing is the best of ``repeats`` runs, and every ratio compares subjects timed back
to back in the same process (interleaved rounds), so a shared machine's load affects both
sides alike.
"""

from __future__ import annotations

import math
import shutil
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

import baselines as bl
from common import (
    REPO,
    Row,
    child_env,
    exact_loss_pmf,
    exact_tail,
    glasserman_li_book,
    graded_book,
    graded_scenario,
    interleaved,
    lognormal_book,
    obligor_rate,
    paired_ratio,
    process_cpu_s,
    rounds,
    run_child,
    run_command,
    simpool_command,
    tape_scenario,
    timed,
    write_tape,
)


#: Fewest rounds of the ratio groups in a full run (see :attr:`Config.ratio_repeats`).
RATIO_REPEATS = 7
#: Paired rounds of the ``threads`` speed-up in a full run (about 1.5 s each).
THREAD_ROUNDS = 15


@dataclass
class Config:
    """How a run is sized: ``smoke`` (tiny, for CI), repeats per timing, threads, scratch."""

    smoke: bool
    repeats: int
    workers: int
    tmp: Path
    log: Callable[[str], None] = print

    warm_cache_dir: Path | None = None

    def pick(self, full, smoke):
        """``smoke`` in a smoke run, else ``full``."""
        return smoke if self.smoke else full

    @property
    def ratio_repeats(self) -> int:
        """Rounds of the groups whose targets are ratios of seconds-long timings (hot loop,
        threads): at least :data:`RATIO_REPEATS` in a full run, since a shared VM's
        disturbances last seconds and the least-disturbed round needs several chances."""
        return self.repeats if self.smoke else max(self.repeats, RATIO_REPEATS)

    def warm_cache(self) -> Path:
        """A NUMBA_CACHE_DIR holding simpool's compiled kernels, for child processes.

        Filled once per run (by the ``compile`` group's cold start, or here), so children
        load the kernels instead of compiling them.
        """
        if self.warm_cache_dir is None:
            d = self.tmp / "numba_cache_warm"
            d.mkdir(parents=True, exist_ok=True)
            run_child(["first-call"], env=child_env(NUMBA_CACHE_DIR=str(d)))
            self.warm_cache_dir = d
        return self.warm_cache_dir


def _load(sc: dict):
    from simpool import load_scenario

    return load_scenario(sc)


def _simulate(sc, paths: int, seed: int = 1, **kw):
    from simpool import simulate

    return simulate(sc, paths=paths, seed=seed, **kw)


def _n(x: int) -> str:
    return f"{x:,}"


def _buckets(sc) -> str:
    """How plan() bucketed a scenario's single loans (for the notes)."""
    from simpool.engine.plan import plan

    inp = plan(sc)
    return f"{len(inp.book.b_sector)} screening buckets ({int(inp.book.b_exact.sum())} exact)"


# ---------------------------------------------------------------------------------------
# 1 + 2. Loan-level hot loop
# ---------------------------------------------------------------------------------------


def bench_hotloop(cfg: Config) -> list[Row]:
    """Engine vs bare Philox4x32-10, bare SplitMix64 and naive numpy, two 10,000-loan books.

    *graded*: 20 PD grades (exact screening buckets). *tape*: a 10,000-row loan tape whose
    PDs are lognormal around 2% (quantile buckets, bound + exact test). Engine and bare
    loops use all ``cfg.workers`` threads; naive numpy one thread, on fewer paths (its rate
    is linear in paths).
    """
    n = 10_000
    paths = cfg.pick(100_000, 4_000)
    naive_paths = cfg.pick(5_000, 1_000)
    w = cfg.workers
    rows: list[Row] = []
    kat = bl.philox_kat_ok()
    rows.append(Row("hotloop", "philox_kat", "Random123 vectors", float(kat), "bool",
                    (">=", 1.0), check=True,
                    note="the Philox4x32-10 baseline reproduces the Random123 known answers"))
    sc_g = _load(graded_scenario(n))
    tape = write_tape(lognormal_book(n), cfg.tmp / "tape_lognormal_10k.csv")
    sc_t = _load(tape_scenario(tape))
    book = graded_book(n)
    bl.warm_baselines()
    for sc in (sc_g, sc_t):
        _simulate(sc, 1000)
    bl.naive_numpy_losses(book.pd, book.rho, book.exposure, book.lgd, book.sector, 1, 10)

    last: dict[str, object] = {}

    def keep(name, fn):
        def run():
            last[name] = fn()
        return run

    subjects = {
        "philox": keep("philox", lambda: bl.philox_count(n, paths, workers=w)),
        "splitmix": keep("splitmix", lambda: bl.splitmix_count(n, paths, workers=w)),
        "graded": keep("graded", lambda: _simulate(sc_g, paths)),
        "tape": keep("tape", lambda: _simulate(sc_t, paths)),
        "naive": keep("naive", lambda: bl.naive_numpy_losses(
            book.pd, book.rho, book.exposure, book.lgd, book.sector, 1, naive_paths, seed=1)),
    }
    times = rounds(subjects, cfg.ratio_repeats)
    best = {k: min(v) for k, v in times.items()}
    size = f"{_n(n)} × {_n(paths)}, {w} thr"
    r_philox = obligor_rate(n, paths, 1, best["philox"])
    r_split = obligor_rate(n, paths, 1, best["splitmix"])
    r_naive = obligor_rate(n, naive_paths, 1, best["naive"])
    hits = last["philox"] / (n * paths)
    rows.append(Row("hotloop", "philox4x32_10", size, r_philox, "uniforms/s",
                    note=f"bare loop, 4 uniforms (32-bit) per call, u < 0.02 counted "
                         f"(hit rate {hits:.4f}); {best['philox']:.2f} s"))
    rows.append(Row("hotloop", "splitmix_bare", size, r_split, "uniforms/s",
                    note=f"simpool.engine.rng.uniform per loan, same consumption; "
                         f"{best['splitmix']:.2f} s"))
    rows.append(Row("hotloop", "naive_numpy", f"{_n(n)} × {_n(naive_paths)}, 1 thr", r_naive,
                    "obligor-paths/s",
                    note=f"textbook numpy, chunks of 1,000 paths; {best['naive']:.2f} s"))
    naive_loss = last["naive"]
    for label, sc in (("graded", sc_g), ("tape", sc_t)):
        t = best[label]
        rate = obligor_rate(n, paths, 1, t)
        res = last[label]
        rows.append(Row(label, "engine", size, rate, "obligor-paths/s",
                        note=f"{t:.2f} s incl. plan {res.timing.get('plan_s', 0.0):.3f} s; "
                             f"{_buckets(sc)}"))
        # ratios: the median over rounds of the same round's ratio (times[...] per round)
        med, lo, hi = paired_ratio(times["philox"], times[label])
        rows.append(Row(label, "vs_philox", size, med, "×", (">=", 0.5),
                        note=f"median over {len(times[label])} rounds of the round's ratio "
                             f"(range {lo:.3f}-{hi:.3f}); ratio of the best times "
                             f"{rate / r_philox:.3f}"))
        med, lo, hi = paired_ratio(times["splitmix"], times[label])
        rows.append(Row(label, "vs_splitmix", size, med, "×",
                        note=f"the engine's own limit: one uniform per loan-path; range "
                             f"{lo:.3f}-{hi:.3f}, best times {rate / r_split:.3f}"))
        med, lo, hi = paired_ratio(times["naive"], times[label])
        scale = paths / naive_paths  # the naive baseline runs fewer paths
        rows.append(Row(label, "vs_naive_numpy", size, med * scale, "×", (">=", 30.0),
                        note=f"engine on {w} threads vs naive numpy on 1; range "
                             f"{lo * scale:.1f}-{hi * scale:.1f}, best times "
                             f"{rate / r_naive:.1f}"))
    # the naive baseline simulates the same model as the graded book: compare EL
    loss_g = last["graded"].samples("gross")
    diff = loss_g.mean() - naive_loss.mean()
    se = math.sqrt(loss_g.var(ddof=1) / len(loss_g) + naive_loss.var(ddof=1) / len(naive_loss))
    rows.append(Row("graded", "el_vs_naive_z", f"{_n(paths)} vs {_n(naive_paths)} paths",
                    abs(diff / se), "|z|", ("<=", 4.0),
                    note="|EL(engine) - EL(naive numpy)| / SE: the baseline is the same model"))
    return rows


def bench_fund(cfg: Config) -> list[Row]:
    """The angel funds: the single fund of scenarios/examples/angel_single_fund.toml and the
    guidance fund over two sub-funds of scenarios/angel_fund.toml: deal-paths per second, all
    threads."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "scenarios"
    paths = cfg.pick(200_000, 5_000)
    rows = []
    for tag, file, deal_measures, note in (
            ("single", root / "examples" / "angel_single_fund.toml",
             ["fund:hubei_angel:deals"], "two waterfalls and two IRRs per path"),
            ("guidance", root / "angel_fund.toml",
             [f"fund:hubei_angel_guidance:sub:{s}:deals" for s in ("seed_fund", "angel_fund")],
             "per sub-fund: one waterfall, two LP splits, two IRRs, the NAV")):
        sc = _load(file)
        _simulate(sc, 1000)
        best = interleaved({"f": lambda: _simulate(sc, paths)}, cfg.repeats)["f"]
        res = _simulate(sc, 2000)
        deals = float(sum(res.samples(m).mean() for m in deal_measures))
        size = f"{tag}: ~{deals:.0f} deals × {_n(paths)} paths, {cfg.workers} thr"
        rows += [Row("fund", f"{tag}_deal_paths", size, deals * paths / best, "deal-paths/s",
                     note=f"{best:.2f} s incl. {note}"),
                 Row("fund", f"{tag}_paths", size, paths / best, "paths/s")]
    return rows


# ---------------------------------------------------------------------------------------
# 3. Cohort mode
# ---------------------------------------------------------------------------------------


def bench_cohorts(cfg: Config) -> list[Row]:
    """Binomial cohorts: 20 cohorts x 10,000 loans; obligor-paths = loans x paths."""
    n_coh, per = 20, 10_000
    paths = cfg.pick(1_000_000, 20_000)
    w = cfg.workers
    sc = _load(graded_scenario(n_coh * per, mode="binomial"))
    _simulate(sc, 1000)
    best = interleaved({"c": lambda: _simulate(sc, paths)}, cfg.repeats)["c"]
    rate = obligor_rate(n_coh * per, paths, 1, best)
    size = f"{n_coh} × {_n(per)} loans × {_n(paths)}, {w} thr"
    return [
        Row("cohorts", "engine", size, rate, "obligor-paths/s", note=f"{best:.2f} s"),
        Row("cohorts", "per_core", size, rate / w, "obligor-paths/s/core", (">=", 1e9),
            note=f"all-threads rate / {w} threads"),
        Row("cohorts", "binomial_draws", size, n_coh * paths / best, "draws/s",
            note="one conditional binomial inversion per cohort-path-year"),
    ]


# ---------------------------------------------------------------------------------------
# 3b. One binomial draw
# ---------------------------------------------------------------------------------------

#: Cohort sizes of the ``binomial`` group (loans in the cohort, n of Binomial(n, p)).
BINOMIAL_NS = (10**3, 10**4, 10**6, 10**9)


def _binom_draw_loop():
    """A numba loop summing ``binom_inv(u[i], n, p[i])`` over arrays (compiled here)."""
    from numba import njit

    from simpool.engine.binomial import binom_inv

    @njit(cache=False)
    def loop(u, p, n):
        s = 0
        for i in range(u.size):
            s += binom_inv(u[i], n, p[i])
        return s

    return loop


def bench_binomial(cfg: Config) -> list[Row]:
    """Nanoseconds per binomial draw (``binom_inv``: one uniform inverted exactly into a
    Binomial(n, p) count, one thread) at n = 10^3, 10^4, 10^6, 10^9.

    Two laws of p, each draw with its own p and u (fixed seed): ``pd``, p log-uniform on
    [0.005, 0.1] (unconditional PDs); ``conditional``, p uniform on (0, 1) (PDs conditional
    on a factor draw, as the engine's cohorts use). ``flatness`` = the largest ÷ the smallest
    time over the four n: the cost of a draw must not grow with the cohort size.
    """
    loop = _binom_draw_loop()
    m = cfg.pick(400_000, 20_000)
    g = np.random.default_rng(20240808)
    u = g.random(m)
    laws = {"pd": np.exp(g.uniform(math.log(0.005), math.log(0.1), m)), "conditional": g.random(m)}
    loop(u[:10], laws["pd"][:10], 10)
    subjects = {(law, n): (lambda law=law, n=n: loop(u, laws[law], n))
                for law in laws for n in BINOMIAL_NS}
    best = interleaved(subjects, cfg.pick(max(cfg.repeats, 5), cfg.repeats))
    rows = []
    for law, label in (("pd", "p log-uniform [0.005, 0.1]"), ("conditional", "p uniform (0, 1)")):
        ns = {n: best[(law, n)] / m * 1e9 for n in BINOMIAL_NS}
        for n in BINOMIAL_NS:
            size = f"n = 10^{round(math.log10(n))}, {label}"
            rows.append(Row("binomial", f"{law}.ns_per_draw", size, ns[n], "ns",
                            note="" if n != BINOMIAL_NS[0] else
                            f"best of interleaved rounds over the four n, {_n(m)} draws each, "
                            "1 thread"))
        lo, hi = min(ns, key=ns.get), max(ns, key=ns.get)
        rows.append(Row("binomial", f"{law}.flatness", f"n = 10^3 … 10^9, {label}",
                        ns[hi] / ns[lo], "×", ("<=", 1.5),
                        note=f"slowest (n = {_n(hi)}, {ns[hi]:.0f} ns) ÷ fastest (n = {_n(lo)}, "
                             f"{ns[lo]:.0f} ns)"))
    return rows


# ---------------------------------------------------------------------------------------
# 4. Threads 1 -> 2, bit-identity
# ---------------------------------------------------------------------------------------


def _fingerprint(res) -> list[np.ndarray]:
    out = []
    for y in res.years:
        out.append(res.samples("gross", year=y))
        out.append(res.samples("defaults", year=y))
    out.append(np.zeros(0) if res.weights is None else res.weights)
    return out


def bench_threads(cfg: Config) -> list[Row]:
    """Speed-up from 1 to 2 threads (ThreadPoolExecutor passed as ``executor=``), and
    bit-identical results across threads and chunk sizes."""
    n = 10_000
    paths = cfg.pick(100_000, 4_000)
    sc = _load(graded_scenario(n))
    _simulate(sc, 1000)
    ex1, ex2 = ThreadPoolExecutor(max_workers=1), ThreadPoolExecutor(max_workers=2)
    try:
        # paired rounds: each round times 1 and 2 threads back to back (alternating which
        # goes first), so a disturbance of the shared machine lasting seconds hits both
        # sides of the round's ratio; the median of the rounds' ratios is the figure (the
        # ratio of the two best times pairs runs from different rounds, each side's
        # luckiest, and is noted)
        rounds = cfg.pick(max(cfg.ratio_repeats, THREAD_ROUNDS), cfg.repeats)
        walls = {1: [], 2: []}
        cpus = {1: [], 2: []}
        for r in range(rounds):
            order = ((1, ex1), (2, ex2)) if r % 2 == 0 else ((2, ex2), (1, ex1))
            for k, ex in order:
                c0 = process_cpu_s()
                t, _ = timed(lambda: _simulate(sc, paths, executor=ex))
                walls[k].append(t)
                cpus[k].append(process_cpu_s() - c0)
        ratios = [a / b for a, b in zip(walls[1], walls[2])]
        speedup = statistics.median(ratios)
        w1, w2 = min(walls[1]), min(walls[2])
        c1, c2 = statistics.median(cpus[1]), statistics.median(cpus[2])
        size = f"graded {_n(n)} × {_n(paths)}"
        rows = [Row("threads", "speedup_1_to_2", size, speedup, "×", (">=", 1.8),
                    note=f"median over {rounds} paired rounds of (1-thread wall / 2-thread "
                         f"wall) of the same round (range {min(ratios):.2f}-{max(ratios):.2f}); "
                         f"best times 1 thread {w1:.2f} s, 2 threads {w2:.2f} s (their ratio "
                         f"{w1 / w2:.2f})"),
                Row("threads", "cpu_2_vs_1", size, c2 / c1, "×",
                    note=f"process CPU time for the same work (medians), 2 threads / 1 thread ({c2:.2f} / "
                         f"{c1:.2f} s): ≈ 1 means no threading overhead (contention, false "
                         f"sharing), whatever the wall-clock speed-up"),
                Row("threads", "cores_obtained", size,
                    statistics.median(c / w for c, w in zip(cpus[2], walls[2])), "cores",
                    note="CPU time / wall time of the 2-thread runs (median): below 2, other "
                         "processes held a core, and the speed-up target cannot be judged")]

        # bit-identity
        id_paths = cfg.pick(6_000, 3_000)
        tape = write_tape(lognormal_book(n), cfg.tmp / "tape_identity.csv")
        scen = {
            "graded": sc,
            "tape": _load(tape_scenario(tape)),
            "hubei_base(5y)": _load_file(REPO / "scenarios" / "hubei_base.toml"),
            "graded_t_3y": _load({**graded_scenario(2_000, years=3),
                                  "model": {"sectors": ["tech"], "copula": "t", "dof": 5,
                                            "factor_persistence": 0.4}}),
        }
        configs = [(ex, cs) for ex in ((1, ex1), (2, ex2)) for cs in (1000, 4099)]
        bad = []
        for name, s in scen.items():
            ref = _fingerprint(_simulate(s, id_paths, seed=7))
            for (k, ex), cs in configs:
                got = _fingerprint(_simulate(s, id_paths, seed=7, executor=ex, chunk_size=cs))
                if not all(np.array_equal(a, b) for a, b in zip(ref, got)):
                    bad.append(f"{name} threads={k} chunk={cs}")
        total = len(scen) * len(configs)
        rows.append(Row("threads", "bit_identical", f"{len(scen)} scenarios × {{1,2}} thr × "
                        f"chunk {{1000,4099}}", float(not bad), "bool", (">=", 1.0), check=True,
                        note=(f"{total} runs of {_n(id_paths)} paths equal the default run bit "
                              f"for bit" if not bad else "MISMATCH: " + "; ".join(bad))))
    finally:
        ex1.shutdown()
        ex2.shutdown()
    if bad:
        cfg.log("!! results differ across threads/chunk sizes: " + "; ".join(bad))
    return rows


def _load_file(path: Path):
    from simpool import load_scenario

    return load_scenario(path)


# ---------------------------------------------------------------------------------------
# 5. Scaling
# ---------------------------------------------------------------------------------------


def bench_scaling(cfg: Config) -> list[Row]:
    """Throughput vs loans (100 .. 1,000,000), paths, threads and years (graded book, loans
    mode). Paths per loan count keep each point at about ``budget`` obligor-paths."""
    rows: list[Row] = []
    w = cfg.workers
    budget = cfg.pick(2_000_000_000, 20_000_000)
    lo, hi = cfg.pick((2_000, 2_000_000), (500, 50_000))
    loans = cfg.pick([100, 1_000, 10_000, 100_000, 1_000_000], [100, 10_000])
    reps = max(1, cfg.repeats - 1)
    for n in loans:
        p = int(min(hi, max(lo, budget // n)))
        sc = _load(graded_scenario(n))
        _simulate(sc, min(p, 1000))
        t = interleaved({"x": lambda: _simulate(sc, p)}, reps)["x"]
        rate = obligor_rate(n, p, 1, t)
        rows.append(Row("scaling", f"loans={_n(n)}", f"{_n(n)} × {_n(p)}, {w} thr", rate,
                        "obligor-paths/s", note=f"{t:.2f} s, {1e9 / rate * w:.2f} ns per "
                                                f"obligor-path per thread"))
    n = 10_000
    sc = _load(graded_scenario(n))
    _simulate(sc, 1000)
    for p in cfg.pick([1_000, 10_000, 100_000, 300_000], [1_000, 4_000]):
        t = interleaved({"x": lambda: _simulate(sc, p)}, reps)["x"]
        rows.append(Row("scaling", f"paths={_n(p)}", f"{_n(n)} × {_n(p)}, {w} thr",
                        obligor_rate(n, p, 1, t), "obligor-paths/s", note=f"{t:.3f} s"))
    p = cfg.pick(100_000, 4_000)
    times = {}
    for k in cfg.pick([1, 2, 4], [1, 2]):
        ex = ThreadPoolExecutor(max_workers=k)
        try:
            times[k] = interleaved({"x": lambda: _simulate(sc, p, executor=ex)}, reps)["x"]
        finally:
            ex.shutdown()
        rows.append(Row("scaling", f"threads={k}", f"{_n(n)} × {_n(p)}",
                        obligor_rate(n, p, 1, times[k]), "obligor-paths/s",
                        note=f"{times[k]:.2f} s, ×{times[1] / times[k]:.2f} vs 1 thread"))
    # loan tapes with one PD per loan, just below and above plan()'s exact-bucket limit
    p = cfg.pick(20_000, 1_000)
    for n_tape in (4_000, 5_000):
        tape = write_tape(lognormal_book(n_tape), cfg.tmp / f"tape_scaling_{n_tape}.csv")
        sct = _load(tape_scenario(tape))
        _simulate(sct, 200)
        t = interleaved({"x": lambda: _simulate(sct, p)}, reps)["x"]
        rate = obligor_rate(n_tape, p, 1, t)
        rows.append(Row("scaling", f"tape_loans={_n(n_tape)}", f"{_n(n_tape)} × {_n(p)}, {w} thr",
                        rate, "obligor-paths/s",
                        note=f"{t:.2f} s, {1e9 / rate * w:.2f} ns per obligor-path per thread; "
                             f"{_buckets(sct)}"))
    p = cfg.pick(40_000, 2_000)
    for years in (1, 5):
        scy = _load(graded_scenario(n, years=years))
        _simulate(scy, 200)
        t = interleaved({"x": lambda: _simulate(scy, p)}, reps)["x"]
        rows.append(Row("scaling", f"years={years}", f"{_n(n)} × {_n(p)} × {years} y, {w} thr",
                        obligor_rate(n, p, years, t), "obligor-path-years/s", note=f"{t:.2f} s"))
    return rows


# ---------------------------------------------------------------------------------------
# 6. Compile time and whole commands
# ---------------------------------------------------------------------------------------


def bench_compile(cfg: Config) -> list[Row]:
    """Compile time: the kernels compiled as ``pip install`` compiles them, the first
    ``simpool`` call of a fresh process after that install, the same with an empty cache
    (what a first call pays when the install could not compile), and with a warm cache;
    wall time of ``simpool --help`` and ``simpool run`` (subprocesses)."""
    sys.path.insert(0, str(REPO / "build_backend"))
    from simpool_build import precompile_kernels

    rows: list[Row] = []
    installed = cfg.tmp / "numba_cache_install"
    shutil.rmtree(installed, ignore_errors=True)
    installed.mkdir(parents=True)
    t0 = time.perf_counter()
    done = precompile_kernels(REPO, cache_root=str(installed))
    t_install = time.perf_counter() - t0
    rows.append(Row("compile", "install_compile", "every kernel variant", t_install, "s",
                    note="what `pip install` adds to compile the kernels "
                         "(build_backend/simpool_build.py, a subprocess running "
                         "simpool.engine.precompile into an empty cache)"
                         + ("" if done else "; FAILED")))
    wall_first, first = run_child(["first-call"], env=child_env(NUMBA_CACHE_DIR=str(installed)))
    cache = cfg.tmp / "numba_cache_compile"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    env = child_env(NUMBA_CACHE_DIR=str(cache))
    wall, cold = run_child(["first-call"], env=env)
    cfg.warm_cache_dir = cache  # now warm: later groups' children reuse it
    rows.append(Row("compile", "cold_first_call", "new process after install",
                    first["numba_init_s"] + first["first_call_s"], "s", ("<=", 3.0),
                    note=f"numba's set-up and the first simulate() of a fresh process on the "
                         f"cache the install compiled (numba import "
                         f"{first['numba_import_s']:.2f} s not included); process wall "
                         f"{wall_first:.2f} s"))
    rows.append(Row("compile", "install_cache_serves_first_call", "new process after install",
                    first["cache_misses"], "kernels", ("<=", 0), check=True,
                    note="kernel signatures that process compiled because the cache lacked "
                         f"them (numba's cache misses; {cold['cache_misses']} with an empty "
                         "cache): none, or the install compiled other signatures than a "
                         "simulation uses"))
    rows.append(Row("compile", "compile_first_call", "empty NUMBA_CACHE_DIR",
                    cold["numba_init_s"] + cold["first_call_s"], "s",
                    note=f"the same first call when nothing was compiled at install (a wheel "
                         f"built on another machine, SIMPOOL_PRECOMPILE=0, numba upgraded "
                         f"since): numba compiles the kernels it needs; import "
                         f"{cold['import_s']:.2f} s, second call {cold['second_call_s']:.3f} s, "
                         f"process wall {wall:.2f} s"))
    rows.append(Row("compile", "compiled_functions", "empty NUMBA_CACHE_DIR", cold["compiled"],
                    "functions", note="function bodies numba compiled for that first call "
                                      "(simpool's kernels and the numpy implementations they "
                                      "use): the compile volume, free of timing noise"))
    walls, warm = [], []
    for _ in range(cfg.pick(3, 1)):
        wl, out = run_child(["first-call"], env=env)
        walls.append(wl)
        warm.append(out)
    best = min(warm, key=lambda o: o["first_call_s"])
    rows.append(Row("compile", "cached_first_call", "warm NUMBA_CACHE_DIR", best["first_call_s"],
                    "s", ("<=", 0.3),
                    note=f"new process, first simulate() with the kernels loaded from the "
                         f"cache, after numba's one-off start-up (next row); process wall "
                         f"{min(walls):.2f} s"))
    numba_start = best["numba_import_s"] + best["numba_init_s"]
    rows.append(Row("compile", "numba_startup", "new process", numba_start, "s",
                    note=f"import numba {best['numba_import_s']:.2f} s + the first call of any "
                         f"jitted function (numba sets up its typing and target contexts) "
                         f"{best['numba_init_s']:.2f} s: once per process, whatever the kernels"))
    rows.append(Row("compile", "cached_process_first_call", "warm NUMBA_CACHE_DIR",
                    numba_start + best["first_call_s"], "s",
                    note="numba start-up + cached_first_call: what a new process waits for"))
    rows.append(Row("compile", "import_simpool_engine", "new process", best["import_s"], "s",
                    note="import simpool + simpool.engine (numpy; numba and scipy load at "
                         "the first call)"))

    cmd = simpool_command()
    t_help = min(run_command([*cmd, "--help"], env=env) for _ in range(3))
    rows.append(Row("compile", "cli_help", "simpool --help", t_help, "s", ("<=", 1.0),
                    note="process wall, best of 3"))
    out = cfg.tmp / "cli_run"
    run_args = [*cmd, "run", str(REPO / "scenarios" / "hubei_base.toml"), "--paths", "10000",
                "--quiet", "--out", str(out)]
    t_run = min(run_command(run_args, env=env) for _ in range(cfg.pick(3, 1)))
    rows.append(Row("compile", "cli_run", "hubei_base, 10,000 paths × 5 y", t_run, "s",
                    ("<=", 2.0), note="process wall with a warm numba cache, best of "
                                      f"{cfg.pick(3, 1)}; writes summary.csv etc."))
    if not cfg.smoke:
        cold_cache = cfg.tmp / "numba_cache_cli_cold"
        shutil.rmtree(cold_cache, ignore_errors=True)
        cold_cache.mkdir()
        t_cold = run_command(run_args, env=child_env(NUMBA_CACHE_DIR=str(cold_cache)))
        rows.append(Row("compile", "cli_run_cold", "hubei_base, 10,000 paths × 5 y", t_cold, "s",
                        note="process wall with an empty numba cache (first run after install)"))
    return rows


# ---------------------------------------------------------------------------------------
# 7. Peak memory
# ---------------------------------------------------------------------------------------


def bench_memory(cfg: Config) -> list[Row]:
    """Peak memory in child processes: it must grow with paths x years, not paths x loans.

    Each point is a fresh process (``child.py memory``) sharing one warm numba cache
    (:meth:`Config.warm_cache`).
    ``value`` is the process's peak RSS (MiB, ``VmHWM``); the note gives the traced
    (numpy) peak of the ``simulate`` call alone. Derived rows use the traced peaks:

    * bytes per path-year: slope over paths at 1,000 loans;
    * bytes per loan: slope over loans at the smaller path count;
    * bytes per obligor-path: the loans x paths interaction
      ``[(M(N2,P2) - M(N2,P1)) - (M(N1,P2) - M(N1,P1))] / ((N2 - N1)(P2 - P1))``, which
      is 0 when memory is a + b paths + c loans; storing anything per loan-path would
      make it at least 0.125 B (one bit).
    """
    rows: list[Row] = []
    env = child_env(NUMBA_CACHE_DIR=str(cfg.warm_cache()))

    def point(loans: int, paths: int, years: int = 1, tape: Path | None = None) -> dict:
        args = ["memory", "--loans", str(loans), "--paths", str(paths), "--years", str(years)]
        if tape is not None:
            args += ["--tape", str(tape)]
        wall, out = run_child(args, env=env, timeout=1800)
        kind = "tape loans" if tape is not None else "loans"
        rows.append(Row("memory", "peak_rss", f"{_n(out['loans'])} {kind} × {_n(paths)} × "
                        f"{years} y", out["maxrss_after_mib"], "MiB",
                        note=f"simulate traced peak {out['traced_peak_mib']:.1f} MiB, RSS before "
                             f"{out['rss_before_mib']:.0f} MiB, simulate {out['simulate_s']:.1f} s"
                             + (f", tape load {out['load_s']:.1f} s" if tape is not None else "")))
        cfg.log(f"   memory {out['loans']:,} loans × {paths:,} × {years} y: peak RSS "
                f"{out['maxrss_after_mib']:.0f} MiB, traced {out['traced_peak_mib']:.1f} MiB "
                f"({wall:.1f} s)")
        return out

    n1, n2 = 1_000, cfg.pick(100_000, 10_000)
    p1, p2 = cfg.pick((10_000, 100_000), (10_000, 50_000))
    p_big = cfg.pick(4_000_000, p2)
    m11, m12 = point(n1, p1), point(n1, p2)
    m1b = point(n1, p_big) if p_big != p2 else m12
    p_year = cfg.pick(1_000_000, p2)
    m1y = point(n1, p_year, years=5)
    m21, m22 = point(n2, p1), point(n2, p2)

    mib = 2.0 ** 20
    per_py = (m1b["traced_peak_mib"] - m11["traced_peak_mib"]) * mib / (p_big - p1)
    rows.append(Row("memory", "bytes_per_path_year", f"{_n(n1)} loans, {_n(p1)}→{_n(p_big)} "
                    "paths", per_py, "B",
                    note="slope of the traced simulate peak over paths (output rows: loss, "
                         "defaults, log-weight, and their per-chunk copies)"))
    per_py5 = (m1y["traced_peak_mib"] - m11["traced_peak_mib"]) * mib / (5 * p_year - p1)
    rows.append(Row("memory", "bytes_per_path_year_5y", f"{_n(n1)} loans × {_n(p_year)} × 5 y",
                    per_py5, "B", note="the same slope over path-years with a 5-year horizon"))
    per_loan = (m21["traced_peak_mib"] - m11["traced_peak_mib"]) * mib / (n2 - n1)
    rows.append(Row("memory", "bytes_per_loan", f"{_n(n1)}→{_n(n2)} loans × {_n(p1)}", per_loan,
                    "B", note="slope of the traced simulate peak over loans (plan arrays)"))
    inter = (((m22["traced_peak_mib"] - m21["traced_peak_mib"])
              - (m12["traced_peak_mib"] - m11["traced_peak_mib"])) * mib
             / ((n2 - n1) * (p2 - p1)))
    rows.append(Row("memory", "bytes_per_obligor_path", f"{_n(n1)}/{_n(n2)} loans × "
                    f"{_n(p1)}/{_n(p2)} paths", abs(inter), "B", ("<=", 0.01),
                    note="|loans × paths interaction| of the traced peak; ≥ 0.125 B if "
                         "anything were stored per loan-path"))
    if not cfg.smoke:
        t0 = time.perf_counter()
        tape = write_tape(lognormal_book(1_000_000), cfg.tmp / "tape_1m.csv")
        cfg.log(f"   wrote the 1,000,000-row tape ({tape.stat().st_size / mib:.0f} MiB) in "
                f"{time.perf_counter() - t0:.1f} s")
        big = point(1_000_000, 100_000, tape=tape)
        rows.append(Row("memory", "tape_1m_x_100k", "1,000,000-loan tape × 100,000 paths",
                        big["maxrss_after_mib"], "MiB", ("<=", 2048.0),
                        note=f"whole-process peak RSS incl. reading the CSV tape "
                             f"({big['load_s']:.1f} s, peak {big['maxrss_before_mib']:.0f} MiB "
                             f"before simulating); simulate {big['simulate_s']:.0f} s"))
    rows.extend(_run_peaks(cfg, env))
    return rows


def _run_peak(cfg: Config, env, scenario: Path, paths: int, dask: int = 0) -> dict:
    args = ["run-peak", "--scenario", str(scenario), "--paths", str(paths)]
    if dask:
        args += ["--dask-workers", str(dask)]
    _, out = run_child(args, env=env, timeout=3600)
    cfg.log(f"   run-peak {scenario.name} × {paths:,}{' dask ' + str(dask) if dask else ''}: "
            f"peak {out['peak_tree_mib']:.0f} MiB, estimate {out['estimate_mib']:.0f} MiB "
            f"({out['wall_s']:.0f} s)")
    return out


def _run_peaks(cfg: Config, env) -> list[Row]:
    """``simpool run`` on the default scenario: peak memory (this process and its children)
    beside the estimate :mod:`simpool.engine.memory` makes before simulating; and a 1M-loan tape
    on threads and on a Dask LocalCluster (the planned inputs go to each worker once)."""
    rows = []
    base = REPO / "scenarios" / "hubei_base.toml"
    for paths in cfg.pick((1_000_000, 10_000_000), (20_000, 100_000)):
        out = _run_peak(cfg, env, base, paths)
        ratio = out["estimate_mib"] / out["peak_tree_mib"]
        rows.append(Row("memory", "run_peak_rss", f"hubei_base × {_n(paths)}",
                        out["peak_tree_mib"], "MiB",
                        note=f"estimate {out['estimate_mib']:.0f} MiB ("
                             + ", ".join(f"{k} {v:.0f}" for k, v in out["estimate_parts"].items())
                             + f"); run {out['wall_s']:.0f} s"))
        rows.append(Row("memory", "estimate_error", f"hubei_base × {_n(paths)}",
                        abs(ratio - 1.0), "", ("<=", 0.25),
                        note=f"|estimate / measured peak - 1|; estimate / peak = {ratio:.3f}"))
    n_tape, p_tape = cfg.pick((1_000_000, 20_000), (20_000, 5_000))
    book = lognormal_book(n_tape)
    tape = write_tape(book, cfg.tmp / f"tape_{n_tape}.csv")
    import tomli_w

    sc_file = cfg.tmp / f"tape_{n_tape}.toml"
    sc_file.write_text(tomli_w.dumps(tape_scenario(tape)), encoding="utf-8")
    threads = _run_peak(cfg, env, sc_file, p_tape)
    dask = _run_peak(cfg, env, sc_file, p_tape, dask=2)
    rows.append(Row("memory", "dask_local_peak", f"{_n(n_tape)}-loan tape × {_n(p_tape)}, 2 workers",
                    dask["peak_self_mib"], "MiB",
                    note=f"the simpool process (threads: {threads['peak_self_mib']:.0f} MiB); all "
                         f"processes {dask['peak_tree_mib']:.0f} MiB (threads "
                         f"{threads['peak_tree_mib']:.0f}); estimate {dask['estimate_mib']:.0f} "
                         f"MiB with the cluster (threads {threads['estimate_mib']:.0f})"))
    rows.append(Row("memory", "dask_vs_threads", f"{_n(n_tape)}-loan tape × {_n(p_tape)}",
                    dask["peak_self_mib"] / threads["peak_self_mib"], "×", ("<=", 1.5),
                    note="peak RSS of the simpool process with --dask local over the thread "
                         "pool's (the inputs are sent to each worker once, not with every chunk)"))
    rows.append(Row("memory", "dask_tree_vs_threads", f"{_n(n_tape)}-loan tape × {_n(p_tape)}",
                    dask["peak_tree_mib"] / threads["peak_tree_mib"], "×",
                    note="all processes (scheduler, 2 nannies, 2 workers of ~200 MiB each "
                         "with Python, numba and simpool) over the thread pool's one"))
    return rows


# ---------------------------------------------------------------------------------------
# 8. Importance sampling
# ---------------------------------------------------------------------------------------


def importance_available() -> bool:
    """True when the scenario model has the ``[importance_sampling]`` table."""
    from simpool.scenario import Scenario

    return "importance_sampling" in Scenario.model_fields


def bench_importance(cfg: Config) -> list[Row]:
    """Variance reduction of importance sampling on the Glasserman-Li portfolio.

    1000 obligors (see :func:`common.glasserman_li_book`) as a loan tape. ``x`` is the
    smallest integer loss with exact ``P(L > x) <= 1e-4`` (exact distribution by Bernoulli
    convolution over a factor grid). For each method, ``R`` seeds x ``n`` paths; the
    variance of the estimator over seeds, plain / IS, is the variance ratio at equal paths.
    P(L > x) runs target ``x``; ES_0.999 runs target the exact VaR_0.999.
    """
    if not importance_available():
        cfg.log("   importance sampling: not available (Scenario has no importance_sampling)")
        return [Row("importance", "not_available", "", None, "", status="skip",
                    note="not available: simpool.scenario.Scenario has no importance_sampling "
                         "field yet")]
    rows: list[Row] = []
    book = glasserman_li_book()
    tape = write_tape(book, cfg.tmp / "glasserman_li.csv")
    pmf = exact_loss_pmf(book, nodes=241)
    tail = exact_tail(pmf, 0.999)
    exceed = tail["exceed"]
    x = int(np.argmax(exceed <= 1e-4))
    p_exact = float(exceed[x])
    var999, es999 = tail["var"], tail["es"]
    rows.append(Row("importance", "exact_P(L>x)", f"x = {x} yuan", p_exact, "",
                    note=f"exact reference: VaR_0.999 = {var999} yuan, ES_0.999 = {es999:.2f} "
                         f"yuan, EL = {float(np.arange(len(pmf)) @ pmf):.2f} yuan"))
    seeds = cfg.pick(30, 3)
    n = cfg.pick(50_000, 4_000)

    def scenario(method: str, target: float | None):
        extra = {"importance_sampling": {"method": method}}
        if target is not None:
            extra["importance_sampling"]["target"] = float(target)
        return _load(tape_scenario(tape, extra=extra))

    def estimates(sc) -> tuple[dict[str, np.ndarray], float]:
        """P(L > x) and ES_0.999 of each seed's run; mean seconds per run."""
        vals: dict[str, list[float]] = {"P": [], "ES": []}
        t_total = 0.0
        for s in range(seeds):
            t, res = timed(lambda: _simulate(sc, n, seed=1000 + s))
            t_total += t
            est = res.describe(levels=[0.999], thresholds=[x])
            vals["P"].append(next(e.value for e in est if e.statistic == "P(L>x)"))
            vals["ES"].append(next(e.value for e in est if e.statistic == "ES"))
        return {k: np.asarray(v) for k, v in vals.items()}, t_total / seeds

    plain = scenario("none", None)
    _simulate(plain, 1000)
    size = f"{seeds} seeds × {_n(n)} paths"
    v0_all, t0 = estimates(plain)
    for stat, exact, target, label in (("P", p_exact, x, "P(L>x)"),
                                       ("ES", es999, var999, "ES_0.999")):
        v0 = v0_all[stat]
        var0 = v0.var(ddof=1)
        theory = ""
        if stat == "P" and var0 > 0:
            theory = (f"; the exact plain variance p(1-p)/n is ×"
                      f"{p_exact * (1 - p_exact) / n / var0:.2f} the empirical one")
        rows.append(Row("importance", f"plain.{label}.rel_se", size,
                        math.sqrt(var0) / exact, "",
                        note=f"plain MC: sd over seeds / exact; mean {v0.mean():.4g} vs exact "
                             f"{exact:.4g}, {t0:.2f} s per run{theory}"))
        for method in ("shift", "shift_twist"):
            sc = scenario(method, target)
            _simulate(sc, 1000)
            v1_all, t1 = estimates(sc)
            v1 = v1_all[stat]
            var1 = v1.var(ddof=1)
            ratio = var0 / var1 if var1 > 0 else math.inf
            z = (v1.mean() - exact) / math.sqrt(var1 / seeds) if var1 > 0 else math.inf
            rows.append(Row("importance", f"{method}.{label}.var_ratio", size, ratio, "×",
                            note=f"target {target} yuan; IS mean {v1.mean():.4g} vs exact "
                                 f"{exact:.4g}; time per run ×{t1 / t0:.2f} vs plain, "
                                 f"work-normalised gain ×{ratio * t0 / t1:.3g}"))
            rows.append(Row("importance", f"{method}.{label}.bias_z", size, abs(z), "|z|",
                            ("<=", 4.0), note="|mean over seeds - exact| / SE of that mean"))
    return rows


# ---------------------------------------------------------------------------------------
# 10. The province-sized default (scenarios/hubei_base.toml) at 10^6 paths
# ---------------------------------------------------------------------------------------


def _obligor_years(sc) -> int:
    """Loans on the planned book summed over the horizon's years (one path)."""
    from simpool.engine.plan import plan

    b = plan(sc).book
    H = sc.simulation.horizon_years
    return int(sum(int(b.c_n[(b.c_start <= y) & (y < b.c_end)].sum()) for y in range(H)))


def bench_province(cfg: Config) -> list[Row]:
    """``simpool run scenarios/hubei_base.toml --paths 1,000,000`` (process wall, warm numba
    cache, target under a minute on 2 cores), its rate in obligor-paths per second (loans on
    the planned book x years x paths / wall: the whole run, waterfall and summary included,
    beside the hot loop's loan-level rate), and the kernel alone (credit + waterfall, one
    thread, in process)."""
    import simpool
    from simpool.engine.runner import run_chunk

    scenario = REPO / "scenarios" / "hubei_base.toml"
    sc = simpool.load_scenario(scenario)
    paths = cfg.pick(1_000_000, 20_000)
    ob = _obligor_years(sc)
    env = child_env(NUMBA_CACHE_DIR=str(cfg.warm_cache()))
    cmd = [*simpool_command(), "run", str(scenario), "--paths", str(paths), "--quiet",
           "--out", str(cfg.tmp / "province")]
    t = min(run_command(cmd, env=env, timeout=900) for _ in range(cfg.pick(2, 1)))
    size = f"hubei_base: {_n(paths)} paths × {sc.simulation.horizon_years} y"
    rows = [Row("province", "cli_run", size, t, "s", ("<=", 60.0) if not cfg.smoke else None,
                note=f"process wall, {cfg.workers} threads, warm numba cache, best of "
                     f"{cfg.pick(2, 1)}; summary.csv written"),
            Row("province", "run_rate", size, ob * paths / t, "obligor-paths/s",
                note=f"{_n(ob)} loan-years a path (the planned book, {len(sc.cohorts)} "
                     "cohorts); compare hotloop/graded.engine (loan by loan, no waterfall)")]
    from simpool.engine.plan import plan

    ki = plan(sc)
    run_chunk(ki, 1, 0, 100)  # compiled (or loaded) before timing
    n = cfg.pick(20_000, 2_000)
    best = min(timed(lambda: run_chunk(ki, 1, 0, n))[0] for _ in range(cfg.pick(3, 1)))
    rows.append(Row("province", "kernel_us_per_path", f"hubei_base, {_n(n)} paths, 1 thr",
                    best / n * 1e6, "µs", note="credit (cohort binomial draws) and the policy "
                    f"waterfall, {sc.simulation.horizon_years} years a path"))
    rows.append(Row("province", "kernel_rate", f"hubei_base, {_n(n)} paths, 1 thr",
                    ob * n / best, "obligor-paths/s", note="the kernel alone"))
    return rows


def bench_calibrate(cfg: Config) -> list[Row]:
    """``simpool calibrate`` in process: 100 segments of 20 years (2,000 loans each, pd 0.02,
    rho 0.12) with the default intervals (profile likelihood, phi from 10 years), target under
    2 s on 2 cores; and the per-year likelihood's cost."""
    import numpy as np
    from scipy.special import ndtr, ndtri

    from simpool.analysis import calibrate as C
    from simpool.engine.vasicek import loglik_iid
    from simpool.scenario.history import History, Segment

    rng = np.random.default_rng(2)
    n_seg = cfg.pick(100, 10)
    segs = []
    for i in range(n_seg):
        z = rng.standard_normal(20)
        p = ndtr((ndtri(0.02) - np.sqrt(0.12) * z) / np.sqrt(0.88))
        segs.append(Segment(f"s{i}", np.arange(2000, 2020), rng.binomial(2000, p),
                            np.full(20, 2000)))
    C.calibrate(History("warm", segs[:2]))  # compiled (or loaded) before timing
    best = min(timed(lambda: C.calibrate(History("bench", segs)))[0]
               for _ in range(cfg.pick(3, 1)))
    d, n = segs[0].defaults.astype(float), segs[0].loans.astype(float)
    t = min(timed(lambda: [loglik_iid(d, n, -2.05, 0.12, C._GX, C._GW) for _ in range(1000)])[0]
            for _ in range(3))
    return [Row("calibrate", "segments_20y", f"{n_seg} segments × 20 years, {cfg.workers} thr",
                best, "s", ("<=", 2.0) if not cfg.smoke else None,
                note="MLE, standard errors, profile intervals of pd and rho, phi, correlations"),
            Row("calibrate", "year_loglik", "one year, 2,000 loans", t / 1000 / 20 * 1e6, "µs",
                note=f"adaptive Gauss-Hermite, {C.GH_NODES} nodes")]


GROUPS: dict[str, Callable[[Config], list[Row]]] = {
    "hotloop": bench_hotloop,
    "cohorts": bench_cohorts,
    "binomial": bench_binomial,
    "fund": bench_fund,
    "threads": bench_threads,
    "scaling": bench_scaling,
    "compile": bench_compile,
    "memory": bench_memory,
    "importance": bench_importance,
    "province": bench_province,
    "calibrate": bench_calibrate,
}
