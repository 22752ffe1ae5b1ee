"""``simpool calibrate``'s outputs: the console table, the CSV, the JSON and the TOML fragment."""

from __future__ import annotations

import csv
import io
import json
import math

CSV_COLUMNS = ("segment", "years", "defaults", "loans", "pd", "pd_se", "pd_ci_low", "pd_ci_high",
               "rho", "rho_se", "rho_ci_low", "rho_ci_high", "phi", "phi_se", "phi_ci_low",
               "phi_ci_high")


def _pct(x: float) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.3%}"


def _num(x: float) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.4f}"


def _ci(ci, fmt) -> str:
    lo, hi = ci
    return "" if not (math.isfinite(lo) and math.isfinite(hi)) else f"[{fmt(lo)}, {fmt(hi)}]"


def format_table(fits, how: str, source: str) -> str:
    """The console table: each segment's estimates with standard errors and 95% intervals."""
    from .files import _ljust, _rjust

    lines = [f"{source}: {len(fits)} segment{'s' if len(fits) != 1 else ''}, maximum likelihood "
             "of the Vasicek binomial mixture; 95% intervals from the profile likelihood",
             f"  {'segment':<20} {'years':>5} {'pd':>9} {'± se':>8} {'95% interval':>22} "
             f"{'rho':>7} {'± se':>7} {'95% interval':>18} {'phi':>7} {'95% interval':>18}",
             "  " + "-" * 128]
    for f in fits:
        phi = f.phi
        lines.append(
            f"  {_ljust(f.segment[:20], 20)} {f.years:>5} {_pct(f.pd.value):>9} {_pct(f.pd.se):>8} "
            f"{_ci(f.pd.ci, _pct):>22} {_num(f.rho.value):>7} {_num(f.rho.se):>7} "
            f"{_ci(f.rho.ci, _num):>18} {_num(phi.value) if phi else '':>7} "
            f"{_ci(phi.ci, _num) if phi else '':>18}")
    notes = sorted({n for f in fits for n in f.notes})
    if notes:
        lines.append("  notes: " + "; ".join(notes))
    if len(fits) > 1:
        lines.append(f"  factor correlation between segments: {how}")
        names = [f.segment for f in fits]
        if fits[0].factor_corr:
            lines.append("  " + " " * 20 + "".join(_rjust(n[:10], 11) for n in names))
            for f in fits:
                row = [1.0 if n == f.segment else f.factor_corr.get(n) for n in names]
                lines.append(f"  {_ljust(f.segment[:20], 20)}" + "".join(f"{v:>11.3f}" for v in row))
    return "\n".join(lines)


def to_csv(fits) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for f in fits:
        phi = f.phi
        w.writerow([f.segment, f.years, f.defaults, f.loans, f.pd.value, f.pd.se, *f.pd.ci,
                    f.rho.value, f.rho.se, *f.rho.ci,
                    *((phi.value, phi.se, *phi.ci) if phi else ("", "", "", ""))])
    return buf.getvalue()


def to_json(fits) -> str:
    """A list with one object per segment (``segment``, ``years``, ``pd``, ``pd_se``, ``pd_ci``,
    ``rho``, ``rho_se``, ``rho_ci``, and ``phi``, ``phi_se``, ``phi_ci`` when estimated);
    missing values are null."""
    return json.dumps([f.as_dict() for f in fits], indent=2, ensure_ascii=False)


def to_toml(fits, how: str, source: str) -> str:
    """A TOML fragment to ``extends`` from or paste: one ``[[cohorts]]`` per segment with its
    pd and rho (cohorts of the same name in the scenario that extends it take them), the
    intervals in comments, and the persistence when every segment has one."""
    out = [f"# simpool calibrate {source}: maximum likelihood of the Vasicek binomial mixture",
           "# (95% intervals from the profile likelihood). Extend it from a scenario whose",
           "# [[cohorts]] carry these names, or paste the values.", ""]
    phis = [f.phi.value for f in fits if f.phi is not None]
    if phis and len(phis) == len(fits):
        med = sorted(phis)[len(phis) // 2]
        out += ["[model]",
                f"factor_persistence = {max(0.0, med):.4f}  # median of the segments' phi "
                f"({', '.join(f'{p:.3f}' for p in phis)}); simpool's factor persistence is >= 0",
                ""]
    for f in fits:
        out += ["[[cohorts]]", f"name = {json.dumps(f.segment, ensure_ascii=False)}",
                f"pd = {f.pd.value:.6g}    # se {f.pd.se:.3g}, 95% [{f.pd.ci[0]:.4g}, "
                f"{f.pd.ci[1]:.4g}], {f.years} years",
                f"rho = {f.rho.value:.6g}   # se {f.rho.se:.3g}, 95% [{f.rho.ci[0]:.4g}, "
                f"{f.rho.ci[1]:.4g}]", ""]
    if len(fits) > 1:
        out.append(f"# factor correlation between segments: {how}")
    return "\n".join(out) + "\n"
