"""The command line's arguments: one argparse parser for every command and its flags."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``simpool`` and its commands."""
    p = argparse.ArgumentParser(
        prog="simpool",
        description="Monte Carlo simulator for credit-guarantee and risk-compensation pools.",
        epilog="Exit codes: 0 ok, 1 runtime/I-O error, 2 bad input, 130 interrupted.",
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add_set(sp):
        sp.add_argument("--lang", choices=("en", "zh"),
                        help="language of labels: the label column of the tables, the console "
                             "(default: SIMPOOL_LANG, else the scenario's report.lang, else en)")
        sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a scenario key, e.g. cohorts.ip_pledge.pd=0.03 or model.copula=t "
                             "(value parsed as TOML, else a string); repeatable")
        sp.add_argument("--stress", action="append", default=[], metavar="YEAR=QUANTILE",
                        help="fix every systematic factor of YEAR at its QUANTILE, e.g. 2026=0.01 "
                             "(a 1-in-100 bad year); repeatable; replaces the file's [[stress]]")

    def add_exec(sp, threads=True):
        if threads:
            sp.add_argument("--threads", type=int, help="worker threads (default: all cores)")
        sp.add_argument("--dask", metavar="ADDRESS",
                        help="run the path chunks on Dask: 'local' starts a LocalCluster, "
                             "tcp://host:port joins a scheduler (needs simpool[dask])")
        sp.add_argument("--dask-workers", type=int, help="worker processes of --dask local")
        sp.add_argument("--max-memory", metavar="SIZE",
                        help="most memory the run may use, e.g. 8G or 512M (default: what is "
                             "available); a run estimated above it stops at once (exit 2)")

    run = sub.add_parser("run", help="simulate a scenario and write its summary",
                         description="Simulate a scenario file; write summary.csv, the resolved "
                                     "scenario and a provenance file to --out, and print the summary.")
    run.add_argument("file", help="scenario file (TOML)")
    run.add_argument("--paths", type=int, help="Monte Carlo paths (default: simulation.paths)")
    run.add_argument("--seed", type=int, help="seed (default: simulation.seed)")
    run.add_argument("--out", help="output folder (default: simpool-out/<scenario name>)")
    add_exec(run)
    run.add_argument("--chunk-size", type=int, help="paths per chunk (never changes results)")
    run.add_argument("--quiet", action="store_true", help="print no table and no progress bar")
    run.add_argument("--importance-sampling", choices=["none", "shift", "shift_twist"],
                     help="importance sampling for tail figures (same as "
                          "--set importance_sampling.method=...)")
    run.add_argument("--is-target", metavar="YUAN",
                     help='loss level the importance sampler aims at, e.g. 5e8 or "5亿"')
    run.add_argument("--target-se", action="append", default=[], metavar="FIGURE=SE",
                     help="run paths in batches until this figure's standard error is at most "
                          "SE, e.g. net/EL=2e7 or 'pool:knowledge_value/P(depleted by year)@2029"
                          "=0.002' (--paths is the first batch); repeatable")
    run.add_argument("--max-paths", type=int, default=10_000_000,
                     help="most paths in all with --target-se (default 10,000,000)")
    run.add_argument("--format", default="csv", metavar="LIST",
                     help="tables to write: csv (default), parquet, xlsx; comma-separated")
    add_set(run)

    rep = sub.add_parser(
        "report", help="one self-contained HTML report (plots embedded), optionally with what-ifs",
        description="Simulate a scenario (and --compare what-ifs on common random numbers) and "
                    "write one HTML file: headline figures with standard errors, plots, the "
                    "assumptions marked as such, the resolved scenario.")
    rep.add_argument("file", help="scenario file (TOML)")
    rep.add_argument("--compare", nargs="+", default=[], metavar="WHATIF",
                     help="what-if scenario files compared with the base")
    rep.add_argument("--out", help="the HTML file (default: simpool-out/<name>-report.html)")
    rep.add_argument("--pdf", action="store_true", help="also write the plots as a PDF beside it")
    rep.add_argument("--paths", type=int, help="Monte Carlo paths (default: simulation.paths)")
    rep.add_argument("--seed", type=int, help="seed (default: simulation.seed)")
    rep.add_argument("--targets", action="store_true",
                     help="add the smallest change of each lever that reaches the plan's "
                          "targets (as simpool targets; a minute or so)")
    rep.add_argument("--targets-paths", type=int, default=3000, metavar="N",
                     help="paths per run of the --targets search (default 3,000)")
    rep.add_argument("--quiet", action="store_true", help="print nothing but errors")
    add_exec(rep)
    add_set(rep)

    sw = sub.add_parser(
        "sweep", help="run a grid of what-if variants (or several files) into one table",
        description="Expand the scenario's [sweep] table and --sweep flags into a cross product "
                    "of variants (every variant validated first), run them on the same seed "
                    "and paths, and write one tidy table with a variant column. Each finished "
                    "variant is written at once: rerun the same command to resume.")
    sw.add_argument("files", nargs="+", help="scenario files (TOML); each with its own [sweep]")
    sw.add_argument("--sweep", dest="sweeps", action="append", default=[], metavar="KEY=V1,V2",
                    help="add an axis, e.g. pools.knowledge_value.cash=5亿,10亿; repeatable "
                         "(the axes form a cross product)")
    sw.add_argument("--paths", type=int, help="paths per variant (default: the scenario's)")
    sw.add_argument("--seed", type=int, help="seed of every variant (default: the scenario's)")
    sw.add_argument("--out", help="output folder (default: simpool-out/<name>-sweep)")
    sw.add_argument("--fresh", action="store_true",
                    help="start afresh in an output folder made by a different batch")
    sw.add_argument("--format", default="csv", metavar="LIST",
                    help="tables to write: csv (default), parquet, xlsx; comma-separated")
    add_exec(sw)
    sw.add_argument("--quiet", action="store_true", help="print no table and no progress bar")
    add_set(sw)

    cmp_ = sub.add_parser(
        "compare", help="what-ifs against a base on common random numbers",
        description="Run a base scenario and what-ifs on the same seed and paths (common random "
                    "numbers) and report each figure's difference with the standard error of "
                    "the difference (batch means), in compare.csv and a plot.")
    cmp_.add_argument("base", help="base scenario (TOML)")
    cmp_.add_argument("whatifs", nargs="+", help="what-if scenarios (TOML)")
    cmp_.add_argument("--paths", type=int, help="paths (default: the base's)")
    cmp_.add_argument("--seed", type=int, help="seed (default: the base's)")
    cmp_.add_argument("--out", help="output folder (default: simpool-out/<base>-compare)")
    cmp_.add_argument("--format", default="csv", metavar="LIST",
                      help="tables to write: csv (default), parquet, xlsx; comma-separated")
    cmp_.add_argument("--no-plot", action="store_true", help="do not draw compare.png")
    add_exec(cmp_)
    cmp_.add_argument("--quiet", action="store_true", help="print no table")
    add_set(cmp_)

    sol = sub.add_parser(
        "solve", help="find the lever value at which a figure meets a target",
        description="Goal-seek one lever (a dotted key, as for --set) so that one summary figure "
                    "equals a target, on common random numbers with a bracketing root finder; "
                    "reports the answer and the range of lever values within --z standard "
                    "errors of the target. Example: the smallest pool with P(depleted by 2029) "
                    "<= 5%%: --lever pools.knowledge_value.cash --bracket 1亿,100亿 --measure "
                    "pool:knowledge_value --statistic 'P(depleted by year)' --year 2029 --target 0.05")
    sol.add_argument("file", help="scenario file (TOML)")
    sol.add_argument("--lever", required=True, metavar="KEY", help="dotted key of the lever")
    sol.add_argument("--bracket", required=True, metavar="LOW,HIGH",
                     help='lever values that bracket the answer, e.g. 1e8,1e10 or "1亿,100亿"')
    sol.add_argument("--measure", required=True, help="summary measure, e.g. pool:knowledge_value")
    sol.add_argument("--statistic", required=True, help="summary statistic, e.g. 'P(depleted by year)'")
    sol.add_argument("--year", type=int, help="calendar year of the figure (default: whole horizon)")
    sol.add_argument("--param", type=float, help="the row's param (level or threshold) if needed")
    sol.add_argument("--product", choices=("guaranteed", "insured", "credit"),
                     help="the figure of one programme (default: all)")
    sol.add_argument("--basis", choices=("cash", "ultimate"),
                     help="basis of a loss figure (default: cash where a loss has both)")
    sol.add_argument("--target", required=True, help="target value of the figure")
    sol.add_argument("--z", type=float, default=1.96, help="width of the answer's range in SE")
    sol.add_argument("--paths", type=int, help="paths per evaluation (default: the scenario's)")
    sol.add_argument("--seed", type=int, help="seed (default: the scenario's)")
    sol.add_argument("--out", help="output folder (default: simpool-out/<name>-solve)")
    sol.add_argument("--quiet", action="store_true", help="print only the answer")
    add_exec(sol)
    add_set(sol)

    tg = sub.add_parser(
        "targets", help="the plan's targets: P(reached), what binds, the levers that reach them",
        description="For the plan's targets (tech-guarantee balance >= 500亿 by the end of 2026; "
                    "tech-SME borrowers +70%% on the base; loan balance +20%% a year: "
                    "[report] keys of the scenario), print P(reached) with its SE, the new "
                    "lending each constraint removed by year, and the smallest change of each "
                    "lever (guarantor capital injection, national-fund credit line, pool cash, "
                    "demand) that reaches each target with P >= 50%% and >= 90%%, with the public "
                    "money it costs by level; writes targets.csv, targets_levers.csv and "
                    "targets.txt to --out.")
    tg.add_argument("file", help="scenario file (TOML)")
    tg.add_argument("--paths", type=int, help="paths per run (default 3,000)")
    tg.add_argument("--seed", type=int, help="seed (default: simulation.seed)")
    tg.add_argument("--out", help="output folder (default: simpool-out/<name>-targets)")
    tg.add_argument("--levers", metavar="LIST",
                    help="only these levers, comma-separated: capital_injection, credit_line, "
                         "pool_cash, demand, or one by name (pool_cash:knowledge_value)")
    tg.add_argument("--quiet", action="store_true", help="print only the table")
    add_exec(tg)
    add_set(tg)

    sen = sub.add_parser(
        "sensitivity", help="tornado (one-at-a-time) and Sobol sensitivity of one figure",
        description="Move each real-valued lever of the scenario by +/- --delta (one at a time, "
                    "common random numbers) and rank the swings of one summary figure; with "
                    "--sobol K, Sobol indices (SALib) of the top K levers.")
    sen.add_argument("file", help="scenario file (TOML)")
    sen.add_argument("--measure", required=True, help="summary measure, e.g. fiscal or bank")
    sen.add_argument("--statistic", required=True, help="summary statistic, e.g. NPV or EL")
    sen.add_argument("--year", type=int, help="calendar year of the figure (default: whole horizon)")
    sen.add_argument("--param", type=float, help="the row's param (level or threshold) if needed")
    sen.add_argument("--product", choices=("guaranteed", "insured", "credit"),
                     help="the figure of one programme (default: all)")
    sen.add_argument("--basis", choices=("cash", "ultimate"),
                     help="basis of a loss figure (default: cash where a loss has both)")
    sen.add_argument("--delta", type=float, default=0.2, help="relative move of each lever (0.2)")
    sen.add_argument("--levers", help="comma-separated levers (default: every real-valued key)")
    sen.add_argument("--sobol", type=int, default=0, metavar="K",
                     help="also Sobol indices of the top K levers (K >= 2)")
    sen.add_argument("--sobol-samples", type=int, default=32, metavar="N",
                     help="Saltelli base samples (a power of 2; N x (K + 2) runs)")
    sen.add_argument("--paths", type=int, help="paths per run (default: the scenario's)")
    sen.add_argument("--seed", type=int, help="seed (default: the scenario's)")
    sen.add_argument("--out", help="output folder (default: simpool-out/<name>-sensitivity)")
    sen.add_argument("--quiet", action="store_true", help="print no table and no progress bar")
    add_exec(sen)
    add_set(sen)

    val = sub.add_parser("validate", help="check scenario files and report every problem",
                         description="Validate scenario files (and their loan tapes) without simulating.")
    val.add_argument("files", nargs="+", help="scenario files (TOML)")
    add_set(val)

    show = sub.add_parser("show", help="print the fully resolved scenario (TOML)",
                          description="Print the scenario with every default filled in and money in yuan.")
    show.add_argument("file", help="scenario file (TOML)")
    add_set(show)

    cal = sub.add_parser(
        "calibrate", help="estimate pd, asset correlation and persistence from default histories",
        description="Read annual default histories per segment (CSV: year, segment, defaults "
                    "and loans, or default_rate and loans; Chinese headers and GBK accepted) and "
                    "estimate each segment's pd, asset correlation rho and, with 10 or more "
                    "consecutive years, the factor's persistence phi, by maximum likelihood of "
                    "the Vasicek binomial mixture, each with its standard error and a 95%% "
                    "profile-likelihood interval; and the factors' correlation between segments.")
    cal.add_argument("file", help="default history (CSV)")
    cal.add_argument("--format", choices=("table", "csv", "json"), default="table",
                     help="what to print: a table (default), CSV, or JSON (only the JSON)")
    cal.add_argument("--out", metavar="CSV", help="also write the estimates to this CSV file")
    cal.add_argument("--toml", metavar="FILE",
                     help="write a TOML fragment (one [[cohorts]] per segment) to FILE, or - "
                          "for standard output")
    cal.add_argument("--no-intervals", action="store_true",
                     help="skip the profile-likelihood intervals (faster)")

    sub.add_parser("compile", help="compile the kernels into the numba cache now",
                   description="Compile every simulation kernel (or load it from the numba "
                               "cache), so that the first run does not pay it: once per "
                               "simpool version and machine. The cache is specific to the "
                               "CPU: run it where the simulations run (e.g. on new cluster "
                               "workers), or share NUMBA_CACHE_DIR between identical machines.")
    return p
