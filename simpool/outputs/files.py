"""Writing a run's files (atomically) and formatting its summary for people.

A run folder holds ``summary.csv`` (UTF-8 with BOM, so Excel on Chinese Windows opens it
right), ``scenario.resolved.toml`` (every default filled in, money in yuan) and
``provenance.json`` (versions, seed, paths, timing, command line, input fingerprints).
Each file is written to a temporary name and renamed into place: a file is either complete
or absent, never half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from ..scenario.units import format_yuan
from ..analysis.headline import format_value, row_label


from .atomic import atomic_write_bytes  # noqa: F401  (a run's files are written with it)


def summary_csv(rows, lang: str | None = None) -> str:
    """The text of summary.csv from :meth:`Results.summary_rows` rows: the same text as
    ``Results.summary(lang).to_csv(index=False)`` (pandas' float formatting, missing year and
    NaN as empty fields, minimal quoting), without importing pandas. Beside the columns
    programs read, ``unit`` and ``label`` (in ``lang``: :func:`simpool.analysis.labels.language`)."""
    from ..analysis.labels import label, language, unit

    lang = language(lang)
    import csv
    import io

    import numpy as np

    from ..analysis.results import SummaryRow

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=os.linesep)
    writer.writerow(SummaryRow._fields + ("unit", "label"))
    numbers = np.array([(r.param, r.value, r.se) for r in rows], dtype=np.float64).reshape(-1, 3)
    text = numbers.astype(str)  # what pandas writes for a float64 column
    text[np.isnan(numbers)] = ""
    for r, (param, value, se) in zip(rows, text):
        writer.writerow((r.scenario, "" if r.year is None else int(r.year), r.measure,
                         r.product, r.basis, r.statistic, param, value, se,
                         unit(r.measure, r.statistic),
                         label(r.measure, r.statistic, r.param, r.product, r.basis, lang)))
    return buf.getvalue()


def package_versions() -> dict[str, str]:
    """Versions of Python and of the numerical packages a result depends on, read without
    importing a package that is not loaded yet (pandas costs a third of a second)."""
    from importlib.metadata import version

    out = {"python": sys.version.split()[0]}
    for name in ("numpy", "numba", "scipy", "pandas"):
        out[name] = sys.modules[name].__version__ if name in sys.modules else version(name)
    return out


#: SHA-256 of files already hashed, by (path, device, inode, size, modification time): a
#: sweep's variants fingerprint the same loan tape once, not once each.
_HASHES: dict[tuple, str] = {}


def _file_sha256(path: Path) -> str:
    st = os.stat(path)
    key = (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if len(_HASHES) > 64:
            _HASHES.clear()
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def source_revision() -> dict:
    """Which simpool ran: the git commit of its checkout (and whether files differ from it),
    or, installed from a package, its version."""
    import subprocess

    from .._version import __version__

    here = Path(__file__).resolve().parents[2]
    out = {"version": __version__}
    if (here / ".git").exists():
        try:
            commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"],
                                    capture_output=True, text=True, timeout=10)
            dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain",
                                    "--untracked-files=no"], capture_output=True, text=True,
                                   timeout=10)
            if commit.returncode == 0:
                out["git_commit"] = commit.stdout.strip()
                out["git_dirty"] = bool(dirty.stdout.strip()) if dirty.returncode == 0 else None
        except (OSError, subprocess.SubprocessError):
            pass
    if "git_commit" not in out:
        out["installed"] = "no git checkout: the installed package's version"
    return out


def provenance(res, argv: list[str] | None, wall_s: float | None, resolved: str) -> dict:
    """Everything needed to reproduce and audit a run."""
    from .._version import __version__

    sc = res.scenario
    prov = {
        "simpool": __version__,
        "simpool_source": source_revision(),
        "scenario_label": sc.label,
        "overrides": sc.overrides,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command_line": list(argv) if argv is not None else None,
        "scenario_file": sc.source,
        "scenario_sha256": hashlib.sha256(resolved.encode()).hexdigest(),
        "seed": res.seed,
        "paths": res.paths,
        "years": res.years,
        "loans": res.n_loans,
        "importance_sampling": res.importance,
        "timing_s": {**{k: round(v, 4) for k, v in res.timing.items()},
                     **({"wall": round(wall_s, 4)} if wall_s is not None else {})},
        "versions": package_versions(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    if sc.tape is not None and sc.portfolio.loans_file:
        p = Path(sc.portfolio.loans_file)
        full = p if p.is_absolute() else Path(sc._base_dir) / p
        prov["loans_file"] = {"path": str(p), "sha256": _file_sha256(full), "rows": len(sc.tape)}
    return prov


def run_files(res, rows, argv: list[str] | None = None, wall_s: float | None = None,
              tables: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """A run's files as ``{name: bytes}``: summary.csv (from ``rows``:
    :meth:`Results.summary_rows`), scenario.resolved.toml, provenance.json and any other
    ``tables`` (summary.parquet, summary.xlsx)."""
    from ..scenario.load import resolved_toml

    resolved = resolved_toml(res.scenario, paths=res.paths, seed=res.seed)
    prov = provenance(res, argv, wall_s, resolved)
    files = dict(tables or {})
    files["scenario.resolved.toml"] = resolved.encode("utf-8")
    files["provenance.json"] = (json.dumps(prov, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    from ..analysis.labels import language

    files["summary.csv"] = summary_csv(rows, language(None, res.scenario)).encode("utf-8-sig")
    return files


def write_run(out: Path, res, rows, argv: list[str] | None = None,
              wall_s: float | None = None, tables: dict[str, bytes] | None = None,
              folder=None) -> list[Path]:
    """Write a run's files (:func:`run_files`) into ``out`` as one set: summary.csv, whose
    presence marks a finished run, is removed first and written last, and files of an
    earlier run that this one does not write (an older summary.parquet) are removed. The
    folder is locked for the call (:class:`~simpool.outputs.outdir.OutputFolder`) unless ``folder``,
    an open one of kind ``run``, is given."""
    from .outdir import OutputFolder

    files = run_files(res, rows, argv, wall_s, tables)
    if folder is None:
        with OutputFolder(out, "run", argv) as own:
            return own.replace_set(files, marker="summary.csv")
    return folder.replace_set(files, marker="summary.csv")


def _label(row) -> str:
    st, param = row["statistic"], row["param"]
    if st in ("VaR", "ES"):
        return f"{st} {param:.4g}"
    if st == "P(L>x)":
        return f"P(L > {format_yuan(param)})"
    if st in ("ES (fixed parameters)", "VaR (fixed parameters)"):
        return f"{st.split()[0]} {param:.4g} (fixed parameters)"
    if st == "parameter uncertainty share of ES":
        return f"parameter uncertainty share of ES {param:.4g}"
    return st


#: Console rows: whole-horizon figures only (the CSV holds every year).
_CONSOLE_STATS = {"EL", "std", "VaR", "ES", "P(L>x)", "mean", "NPV", "subsidy rate",
                  "leverage of public money"}


def _keep(row, last_year) -> bool:
    """Whether the console shows a summary row: whole-horizon losses (ultimate first, as the
    summary orders them; one programme's only as EL), the policy figures of the last year."""
    st, year, m = row["statistic"], row["year"], row["measure"]
    horizon = year is None
    last = str(year) == str(last_year)
    if m in ("guarantee_balance", "borrowers", "loan_balance"):
        return True
    if m.split(":")[0] in ("fiscal", "public_money"):  # (per level and year: their own table)
        return horizon and ":" not in m and st in ("NPV", "subsidy rate",
                                                   "leverage of public money") and not row["product"]
    if row["product"]:
        return horizon and st == "EL"
    if m.startswith(("pool:", "guarantor:", "bank:", "insurer:")) or m in (
            "national_fund", "government", "reguarantor") and not horizon:
        if st.startswith(("P(depleted", "P(insolvent", "P(government fund", "P(new loans",
                          "P(a bank")):
            return last
        if st.startswith(("top-up", "P(NPL", "P(bank", "P(cap binds", "P(leverage")):
            return horizon or last
        return False
    if m in ("national_fund", "government") or m == "lending_removed":
        return horizon and not st.startswith("payout rate")
    if m.startswith("lending:") or m == "lending":
        return last and m.count(":") <= 1
    if m == "national_fund:payout_rate_before_cap":
        return last and (st == "EL" or st == "VaR" and row["param"] >= 0.99)
    if not horizon:
        return False
    if st in ("VaR", "ES", "ES (fixed parameters)", "parameter uncertainty share of ES"):
        return row["param"] >= 0.99
    if m.startswith("fund:"):
        return True
    return st in _CONSOLE_STATS


def _columns(text: str) -> int:
    """Terminal columns ``text`` takes (a CJK character takes two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _ljust(text: str, width: int) -> str:
    """``text`` padded on the right to ``width`` terminal columns (a CJK character takes two)."""
    return text + " " * max(width - _columns(text), 0)


def _rjust(text: str, width: int) -> str:
    """``text`` padded on the left to ``width`` terminal columns (a CJK character takes two)."""
    return " " * max(width - _columns(text), 0) + text


def format_summary(res, rows) -> str:
    """A readable text table of the main figures: money as 万/亿, SE beside each figure.

    Whole-horizon figures, and each pool's, guarantor's and bank's figures for the last year;
    summary.csv holds every year and statistic.
    """
    from ..analysis.labels import label, language

    zh = language(None, res.scenario) == "zh"
    years = res.calendar_years
    funds = f", {len(res.funds)} fund{'s' if len(res.funds) > 1 else ''}" if res.funds else ""
    lines = [f"{res.scenario.label}: {res.paths:,} paths, seed {res.seed}, "
             f"{res.n_loans_at_start:,} loans at the start{funds}, years {years[0]}-{years[-1]}"
             f" ({res.timing.get('simulate_s', float('nan')):.2f} s)"]
    if res.importance:
        imp = res.importance
        lines.append(f"  importance sampling: {imp['method']}, target {format_yuan(imp.get('target', float('nan')))}, "
                     f"shift {', '.join(f'{v:.3f}' for v in imp['shift'])}, "
                     f"{imp.get('defensive', 0):.0%} of paths from the original model")
    header = f"  {'period':<10} {'measure [programme] (basis)':<40} {'statistic':<40} {'value':>14} {'± se':>12}"
    if zh:
        header = (f"  {_ljust('期间', 10)} {_ljust('指标（项目，口径）：统计量', 72)} "
                  f"{_ljust('数值', 14)} ± 标准误")
    lines.append(header)
    lines.append("  " + "-" * (len(header) - 2))
    last = res.years[-1]
    for row in rows:
        if not _keep(row, last):
            continue
        period = row.period
        st = row["statistic"]
        # one number format with compare, sweep, the report and notebooks
        val = format_value(row["value"], st, row["measure"])
        se = format_value(row["se"], st, row["measure"])
        if zh:
            text = label(row["measure"], st, row["param"], row["product"], row["basis"], "zh")
            shown = "全部年份" if row["year"] is None else str(row["year"])
            lines.append(f"  {_ljust(shown, 10)} {_ljust(text, 72)} {val:>14} {se:>12}")
        else:
            lines.append(f"  {period:<10} {row_label(row):<40} {_label(row):<40} {val:>14} {se:>12}")
    lines.append("  (ultimate: what each party finally bears of the horizon's defaults, pending claims "
                 "and recoveries included;\n   cash: paid minus received within the horizon; "
                 "every year and statistic: summary.csv)")
    lines.extend(format_public_money(rows))
    return "\n".join(lines)


def public_money_table(rows, measure: str = "fiscal") -> dict:
    """{level ("" for all levels): {year: {statistic or (statistic, level): (value, se)}}}
    of the summary's public-money rows of ``measure`` (``fiscal``: budget money;
    ``public_money``: budget money and state-owned capital); year None for the horizon."""
    out: dict = {}
    for r in rows:
        m = r["measure"]
        if r["product"] or not (m == measure or m.startswith(measure + ":")):
            continue
        level = m.partition(":")[2]
        st = r["statistic"]
        key = (st, r["param"]) if st in ("VaR", "ES") else st
        out.setdefault(level, {}).setdefault(r["year"], {})[key] = (r["value"], r["se"])
    return out


def public_money_grid(rows):
    """(years, [(level label, [(expected outlay, se, 99% VaR) per year], (NPV, se))]) of the
    summary's budget rows, levels from the top and "all levels" last (empty years: none)."""
    table = public_money_table(rows)
    if not table:
        return [], []
    nan2 = (float("nan"), float("nan"))
    years = sorted({y for lv in table.values() for y in lv if y is not None})
    order = [lv for lv in ("central", "provincial", "city", "district") if lv in table] + [""]
    grid = []
    for lv in order:
        by_year = table.get(lv, {})
        cells = [by_year.get(y, {}).get("expected outlay", nan2)
                 + (by_year.get(y, {}).get(("VaR", 0.99), nan2)[0],) for y in years]
        grid.append((lv or "all levels", cells, by_year.get(None, {}).get("NPV", nan2)))
    return years, grid


def format_public_money(rows) -> list[str]:
    """The console's "public money" section: each level's expected budget outlay per year
    with its SE, and the budget at risk (99% VaR), then the NPV per level."""
    years, grid = public_money_grid(rows)
    if not grid:
        return []
    lines = ["", "  public money, budget (fiscal cost, cash, per year): expected outlay ± se, "
                 "and 99% VaR (the budget at risk in a bad year)"]
    head = f"  {'level':<12}" + "".join(f"  {y:>24}" for y in years) + f"  {'NPV (all years)':>24}"
    lines += [head, "  " + "-" * (len(head) - 2)]
    for label, cells, npv in grid:
        text = [f"{format_yuan(m)} ±{format_yuan(se)} / {format_yuan(v99)}" for m, se, v99 in cells]
        text.append(f"{format_yuan(npv[0])} ±{format_yuan(npv[1])}")
        lines.append(f"  {label:<12}" + "".join(f"  {c:>24}" for c in text))
    lines.append("  (a co-funded line counts at each level by its share; state-owned capital, "
                 "e.g. the national fund's, is in public_money rows of summary.csv)")
    return lines
