"""Run simpool's benchmark suite and print one table.

    python benchmarks/run.py                    # everything, full sizes (several minutes)
    python benchmarks/run.py --smoke            # tiny sizes, about 90 s (CI)
    python benchmarks/run.py --only hotloop threads --json out.json
    python benchmarks/run.py --list

Exit status: 0 when every benchmark ran (missed *timing* targets never fail the run); 1 when
a benchmark crashed or a correctness check (Philox known answers, bit-identity across
threads and chunk sizes) failed; 2 on bad usage.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _env import pin_blas_single_thread  # noqa: E402

pin_blas_single_thread()  # before numpy is imported: the naive baseline is single-threaded

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from common import Row, default_workers, format_table, loadavg  # noqa: E402
from suite import GROUPS, Config  # noqa: E402


def _meta(args, workers: int) -> dict:
    import numba
    import numpy

    import simpool

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "smoke": args.smoke,
        "repeats": args.repeats,
        "workers": workers,
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "simpool": simpool.__version__,
        "loadavg_start": loadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="simpool benchmark suite (one table).")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (about 90 s), no timing gates")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=list(GROUPS),
                    help=f"run only these groups: {', '.join(GROUPS)}")
    ap.add_argument("--json", metavar="FILE", help="also write the rows and metadata as JSON")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timings are the best of this many runs (default 3, smoke 1)")
    ap.add_argument("--list", action="store_true", help="list the groups and exit")
    args = ap.parse_args(argv)
    if args.list:
        import suite

        print(suite.__doc__.split("Groups (``--only NAME``):")[1].split("Every timing")[0].strip())
        return 0
    args.repeats = args.repeats or (1 if args.smoke else 3)
    workers = default_workers()
    meta = _meta(args, workers)
    names = args.only or list(GROUPS)
    print(f"simpool benchmarks ({'smoke' if args.smoke else 'full'}): {meta['cpu']}, "
          f"{workers} worker threads, best of {args.repeats}; load average {meta['loadavg_start']}",
          flush=True)
    rows: list[Row] = []
    crashed: list[str] = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="simpool-bench-") as tmp:
        cfg = Config(smoke=args.smoke, repeats=args.repeats, workers=workers, tmp=Path(tmp),
                     log=lambda s: print(s, flush=True))
        for name in names:
            t0 = time.perf_counter()
            print(f"-- {name} ...", flush=True)
            try:
                got = [r.finish() for r in GROUPS[name](cfg)]
            except Exception as e:  # noqa: BLE001 - report, carry on, exit 1 at the end
                traceback.print_exc()
                crashed.append(name)
                got = [Row(name, "crashed", "", None, "", status="error",
                           note=f"{type(e).__name__}: {e}".splitlines()[0][:200])]
            rows += got
            for r in got:
                print(f"   {r.group}.{r.name}: {r.status} ({r.value!r} {r.unit})", flush=True)
            print(f"   ({time.perf_counter() - t0:.1f} s, load average {loadavg()})", flush=True)
    meta["loadavg_end"] = loadavg()
    meta["total_s"] = time.perf_counter() - t_start
    print()
    print(format_table(rows))
    failed_checks = [f"{r.group}.{r.name}" for r in rows if r.check and r.status == "fail"]
    n_pass = sum(r.status == "pass" for r in rows)
    n_fail = sum(r.status == "fail" for r in rows)
    print(f"\n{n_pass} targets met, {n_fail} missed; {meta['total_s']:.0f} s in all; "
          f"load average {meta['loadavg_start']} at start, {meta['loadavg_end']} at end "
          f"({meta['cpus']} CPUs).\nratio = value/target (≥ targets) or target/value "
          f"(≤ targets): ≥ 1 meets the target.")
    if crashed:
        print(f"CRASHED: {', '.join(crashed)}")
    if failed_checks:
        print(f"CORRECTNESS CHECKS FAILED: {', '.join(failed_checks)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": [r.as_dict() for r in rows]},
                                              indent=2, ensure_ascii=False), encoding="utf-8")
    return 1 if crashed or failed_checks else 0


if __name__ == "__main__":
    sys.exit(main())
