"""The command line, ``python -m simpool.testing.fuzz``: generate and run the cases, print
each failure with its reason and a table of outcomes per kind; exit status 0 when no case
failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import time

from .campaign import format_counts, fuzz
from .core import KINDS, Outcome


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simpool.testing.fuzz",
                                description="Fuzz simpool's scenario and loan-tape validation.")
    p.add_argument("--cases", type=int, default=2000, help="number of cases (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generator (default 0)")
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS),
                   help="mutation kinds (default: all)")
    p.add_argument("--run-fraction", type=float, default=0.05,
                   help="share of cases also simulated with `run --paths 50` (default 0.05)")
    p.add_argument("--bigtape-rows", type=int, default=1_000_000,
                   help="rows of the big-tape case (default 1,000,000)")
    p.add_argument("--max-items", type=int, default=20000,
                   help="longest list of the inflate kind (default 20,000)")
    p.add_argument("--keep", metavar="DIR", help="copy each failing case's files into DIR")
    p.add_argument("--workdir", metavar="DIR", help="scratch folder (default: a temporary one)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every case")
    args = p.parse_args(argv)
    t0 = time.perf_counter()

    def log(o: Outcome) -> None:
        if args.verbose or o.status == "FAILURE":
            print(f"[{o.status}] {o.case.kind}: {o.case.label}"
                  + (f"\n    {o.reason}" if o.reason else ""), flush=True)

    outcomes = fuzz(args.cases, args.seed, tuple(args.kinds), args.run_fraction, args.workdir,
                    args.keep, args.bigtape_rows, log, args.max_items)
    print(format_counts(outcomes))
    print(f"{len(outcomes)} cases in {time.perf_counter() - t0:.1f} s")
    return 1 if any(o.status == "FAILURE" for o in outcomes) else 0
