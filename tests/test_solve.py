"""Goal-seeking (simpool.analysis.solve, ``simpool solve``) against an exactly computed answer.

The case: one cohort of N credit loans (Vasicek one-factor, binomial given the factor) and a
pool that pays 40% of each year's defaulted principal while it has cash. It is depleted in
the first year iff 0.4 E K > C (K defaults), so the smallest cash C with P(depleted) <= 5% is
0.4 E k*, k* the 95% quantile of K, computed here by quadrature of the binomial mixture
(scipy), independently of the engine.
"""

from __future__ import annotations

import json
import math

import pytest
import tomli_w
from scipy import integrate, special, stats

from simpool.cli import main
from simpool.errors import UsageError
from simpool.analysis.solve import Figure, solve

N, E, PD, RHO, SHARE = 2000, 1e6, 0.02, 0.15, 0.4


def exact_cash(target: float) -> float:
    c = special.ndtri(PD)

    def sf(k):  # P(K > k)
        f = lambda z: stats.binom.sf(k, N, special.ndtr((c - math.sqrt(RHO) * z) / math.sqrt(1 - RHO))) \
            * stats.norm.pdf(z)  # noqa: E731
        return integrate.quad(f, -10, 10, limit=200)[0]

    k = 0
    while sf(k) > target:
        k += 1
    return SHARE * E * k


@pytest.fixture
def case(tmp_path):
    sc = {"simulation": {"paths": 20000, "seed": 3, "start_year": 2025},
          "cohorts": [{"name": "a", "loans": N, "exposure": E, "pd": PD, "lgd": 0.5, "rho": RHO,
                       "pool": "p"}],
          "pools": [{"name": "p", "cash": 1e8, "share": SHARE}]}
    f = tmp_path / "case.toml"
    f.write_bytes(tomli_w.dumps(sc).encode())
    return f


FIG = Figure("pool:p", "P(depleted by year)", 2025)


@pytest.mark.parametrize("target", [0.05, 0.01])
def test_solve_hits_the_exact_pool_size(case, target):
    exact = exact_cash(target)
    sol = solve(str(case), "pools.p.cash", 1e6, 4e8, FIG, target, z=4.0)
    assert sol.low <= exact <= sol.high, (sol, exact)
    assert abs(sol.value - exact) / exact < 0.08
    assert abs(sol.achieved - target) <= 4 * sol.se
    # monotone: more cash never depletes more often (on the same draws)
    ev = sorted(sol.evaluations)
    assert all(a[1] >= b[1] for a, b in zip(ev, ev[1:]))


def test_unbracketed_target_and_unknown_figure_are_usage_errors(case):
    with pytest.raises(UsageError, match="not bracketed"):
        solve(str(case), "pools.p.cash", 1e6, 2e6, FIG, 0.05, paths=2000)
    with pytest.raises(UsageError, match="not in the summary; statistics of pool:p: "):
        solve(str(case), "pools.p.cash", 1e6, 2e8, Figure("pool:p", "P(depleted)"), 0.05, paths=2000)
    with pytest.raises(UsageError, match="low < high"):
        solve(str(case), "pools.p.cash", 2e8, 1e6, FIG, 0.05, paths=2000)


def test_cli_solve(case, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["solve", str(case), "--lever", "pools.p.cash", "--bracket", "1e6,4亿",
               "--measure", "pool:p", "--statistic", "P(depleted by year)", "--year", "2025",
               "--target", "0.05", "--paths", "5000", "--out", str(out), "--quiet"])
    assert rc == 0
    rec = json.loads((out / "solve.json").read_text(encoding="utf-8"))
    assert rec["low"] <= rec["value"] <= rec["high"] and len(rec["evaluations"]) > 5
    assert "pools.p.cash = " in capsys.readouterr().out
    assert (out / "scenario.resolved.toml").exists() and (out / "provenance.json").exists()
    # the folder's resolved scenario holds the solved value: running it gives the answer
    import tomllib

    resolved = tomllib.loads((out / "scenario.resolved.toml").read_text(encoding="utf-8"))
    assert resolved["pools"][0]["cash"] == pytest.approx(rec["value"], rel=1e-12)
    prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert prov["solved"] == {"pools.p.cash": rec["value"]}
    assert main(["solve", str(case), "--lever", "pools.p.cash", "--bracket", "1e6",
                 "--measure", "pool:p", "--statistic", "x", "--target", "0.05"]) == 2
    assert main(["solve", str(case), "--lever", "pools.p.cash", "--bracket", "1e6,2e6",
                 "--measure", "pool:p", "--statistic", "P(depleted by year)", "--year", "2025",
                 "--target", "0.05", "--paths", "1000", "--out", str(out)]) == 2
    assert main(["solve", str(case), "--lever", "pools.p.cahs", "--bracket", "1e6,2e8",
                 "--measure", "pool:p", "--statistic", "P(depleted by year)",
                 "--target", "0.05", "--paths", "1000", "--out", str(out)]) == 2


def test_unreachable_target_names_the_constraint_that_binds(tmp_path):
    """The guarantee balance cannot reach 10亿 by 2026 however fast lending grows: the
    guarantor's leverage cap (10 x 1,000万 of net assets on a weighted liability of 0.3 per
    yuan lent) stops it. The error says so, and from which year, instead of only "not
    bracketed"."""
    sc = {"simulation": {"paths": 200, "seed": 3, "start_year": 2025, "horizon_years": 2},
          "cohorts": [{"name": "g", "loans": 100, "exposure": 1e6, "pd": 0.0, "lgd": 0.5,
                       "rho": 0.1, "product": "guaranteed", "guarantor": "hubei", "growth": 0.1}],
          "guarantors": [{"name": "hubei", "net_assets": 1e7, "leverage_cap": 10}],
          "report": {"guarantee_balance_year": 2026, "guarantee_balance_target": 1e9}}
    f = tmp_path / "g.toml"
    f.write_bytes(tomli_w.dumps(sc).encode())
    fig = Figure("guarantee_balance", "end of year", 2026)
    with pytest.raises(UsageError, match=r"not bracketed.*at cohorts\.g\.growth = 5: the "
                                         r"guarantor hubei's leverage cap binds from 2026 "
                                         r"\(removes .* of new lending\)"):
        solve(str(f), "cohorts.g.growth", 0.0, 5.0, fig, 1e9)
    # and a lever that can reach it is solved (the same figure, a cap that does not bind)
    sc["guarantors"][0]["net_assets"] = 1e9
    f.write_bytes(tomli_w.dumps(sc).encode())
    sol = solve(str(f), "cohorts.g.growth", 0.0, 10.0, fig, 1e9, xtol=0.01)
    assert sol.achieved == pytest.approx(1e9, rel=0.02)


def test_figure_labels_name_a_programme_and_a_basis():
    from simpool.analysis.solve import parse_figure

    f = parse_figure("bank [guaranteed] (ultimate)/EL")
    assert (f.measure, f.statistic, f.product, f.basis) == ("bank", "EL", "guaranteed", "ultimate")
    f = parse_figure("pool:p/P(depleted by year)@2029")
    assert (f.measure, f.product, f.basis, f.year) == ("pool:p", None, None, 2029)
