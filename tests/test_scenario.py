"""Scenario loading and validation: exact messages for broken fixture files."""

from __future__ import annotations

from pathlib import Path

import pytest

from simpool.analysis.simulation import simulate
from simpool.errors import ScenarioError
from simpool.scenario import apply_overrides, load_scenario, resolved_dict, resolved_toml, scenario_warnings

DATA = Path(__file__).parent / "data" / "bad"
ROOT = Path(__file__).resolve().parents[1]


def messages(path: Path, overrides=None) -> list[str]:
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path, overrides)
    rel = str(path)
    return [str(p).replace(rel, path.name) for p in exc.value.problems]


def test_unknown_keys_are_errors_with_did_you_mean():
    assert messages(DATA / "unknown_keys.toml") == [
        "unknown_keys.toml:3: simulation.seeed: unknown key 'seeed' (did you mean 'seed'?); "
        "allowed: paths, seed, start_year, horizon_years",
        "unknown_keys.toml:5: modle: unknown key 'modle' (did you mean 'model'?); "
        "allowed: title, description, simulation, model, cohorts, portfolio, report, importance_sampling, "
        "policy, government, banks, guarantors, reguarantor, pools, insurers, insurance_pool, payers, rewards, funds, guidance_funds, stress, "
        "sweep",
        "unknown_keys.toml:15: cohorts.ip_pledge.rhoo: unknown key 'rhoo' (did you mean 'rho'?); "
        "allowed: name, loans, exposure, pd, lgd, lgd_std, rho, sector, mode, product, bank, "
        "guarantor, pool, insurer, first_loan, premium_rate, small_micro, term_years, amortization, growth, rollover, "
        "borrowers, new_borrowers, new_borrower_growth, loans_per_new_borrower, interest_subsidy_rate, interest_subsidy_payer, interest_subsidy_years, premium_subsidy_rate, "
        "premium_subsidy_payer",
    ]


def test_bad_values_all_reported_at_once_with_lines():
    assert messages(DATA / "bad_values.toml") == [
        "bad_values.toml:2: simulation.paths: must be >= 1, got 0",
        "bad_values.toml:3: simulation.horizon_years: must be an integer, got 'five'",
        "bad_values.toml:6: model.copula: must be one of 'gaussian' or 't', got 'gauss'",
        "bad_values.toml:7: model.dof: must be > 2.0, got 1.5",
        "bad_values.toml:11: cohorts.credit.loans: must be >= 0, got -3",
        'bad_values.toml:12: cohorts.credit.exposure: expected yuan as a number or a string like '
        '"10亿", "500万", "1.5e8"; got \'abc万\'',
        "bad_values.toml:13: cohorts.credit.pd: must be <= 1.0, got 1.5: a fraction; did you "
        "mean 0.015? (or write \"1.5%\")",
        "bad_values.toml:15: cohorts.credit.rho: must be < 1.0, got 1.0",
    ]


def test_cross_references():
    assert messages(DATA / "cross_refs.toml") == [
        "cross_refs.toml:11: cohorts.a.sector: unknown sector 'optoelectronic' (did you mean "
        "'optoelectronics'?); model.sectors are: optoelectronics, life_sciences",
        "cross_refs.toml:13: cohorts.b.sector: required when there are several sectors; one of: "
        "optoelectronics, life_sciences",
    ]


def test_correlation_matrix_checked():
    assert messages(DATA / "bad_matrix.toml") == [
        "bad_matrix.toml:3: model.sector_correlation: must be symmetric: [0][1] != [1][0]",
    ]
    base = {"model": {"sectors": ["a", "b"], "sector_correlation": [[1, 0.99], [0.99, 1]]},
            "cohorts": [{"name": "c", "loans": 1, "exposure": 1, "pd": 0.1, "lgd": 1, "rho": 0.1,
                         "sector": "a"}]}
    load_scenario(base)  # valid
    for matrix, msg in [([[1, 1.2], [1.2, 1]], "entries must be in [-1, 1]"),
                        ([[1, 0.3]], "must be a 2x2 matrix"),
                        ([[2, 0.3], [0.3, 1]], "the diagonal must be 1")]:
        bad = {**base, "model": {"sectors": ["a", "b"], "sector_correlation": matrix}}
        with pytest.raises(ScenarioError, match=msg.replace("[", r"\[").replace("]", r"\]")):
            load_scenario(bad)
    three = {**base, "model": {"sectors": ["a", "b", "c"],
                               "sector_correlation": [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]}}
    with pytest.raises(ScenarioError, match="positive semi-definite"):
        load_scenario(three)


def test_invalid_toml_points_at_line():
    assert messages(DATA / "invalid_toml.toml") == [
        "invalid_toml.toml:3: invalid TOML: Cannot declare ('simulation',) twice"]


def test_missing_file_and_directory(tmp_path):
    assert messages(tmp_path / "nope.toml") == ["nope.toml: file not found"]
    with pytest.raises(ScenarioError, match="is a directory"):
        load_scenario(tmp_path)


def test_non_utf8_scenario(tmp_path):
    f = tmp_path / "gbk.toml"
    f.write_bytes('title = "湖北"\n'.encode("gbk"))
    assert messages(f)[0].startswith("gbk.toml: not UTF-8 text")


def test_warnings_not_errors():
    sc = load_scenario(DATA / "warnings.toml")
    got = [str(p).replace(str(DATA / "warnings.toml"), "w.toml") for p in scenario_warnings(sc)]
    assert got == [
        "w.toml:2: simulation.paths: warning: 500 paths give very wide standard errors",
        "w.toml:8: cohorts.risky.pd: warning: 0.5 is outside the typical range [0.0, 0.2]: "
        "typical annual PD of tech-SME loans is 0.02 (base) to 0.08 (stress)",
        "w.toml:10: cohorts.risky.rho: warning: 0.5 is outside the typical range [0.03, 0.3]: "
        "the Basel IRB range for SMEs is 0.10 to 0.24",
    ]


def test_empty_portfolio_is_an_error():
    with pytest.raises(ScenarioError, match="the scenario is empty"):
        load_scenario({})


def test_money_strings_echoed_as_yuan():
    sc = load_scenario(ROOT / "scenarios" / "hubei_base.toml")
    d = resolved_dict(sc)
    assert d["cohorts"][0]["exposure"] == 2_500_000.0  # "250万"
    assert d["report"]["exceedance"] == [5e9, 1e10, 2e10]  # "50亿", "100亿", "200亿"
    text = resolved_toml(sc)
    body = "\n".join(line for line in text.split("\n")[2:]
                     if not line.startswith(("title", "description")))  # (free text)
    assert "万" not in body and "亿" not in body
    # the resolved scenario loads again to the same thing
    import tomllib

    again = load_scenario(tomllib.loads(text))
    assert resolved_dict(again) == d


def test_overrides_by_name_index_and_string_fallback():
    raw = {"cohorts": [{"name": "ip_pledge", "pd": 0.02}, {"name": "b", "pd": 0.01}]}
    apply_overrides(raw, ["cohorts.ip_pledge.pd=0.03", "cohorts.1.lgd=0.4", "model.copula=t",
                          "simulation.paths=1_000"])
    assert raw["cohorts"][0]["pd"] == 0.03
    assert raw["cohorts"][1]["lgd"] == 0.4
    assert raw["model"]["copula"] == "t"
    assert raw["simulation"]["paths"] == 1000


def test_override_errors_name_the_flag():
    msgs = messages(ROOT / "scenarios" / "hubei_base.toml",
                    ["cohorts.nope.pd=0.1", "cohorts.kv_credit.pdd=0.1", "model.dof=abc", "junk"])
    assert msgs == [
        "--set: junk: expected dotted.key=value, e.g. cohorts.ip_pledge.pd=0.03",
        "--set: cohorts.nope.pd: no element named 'nope' in cohorts; known: guaranteed_tech, "
        "kv_credit, ip_pledge, first_loan_301, tech_innovation_special, insured_loan, "
        "other_credit_opto, other_credit_life",
        "--set: model.dof: must be a number, got 'abc'",
        "--set: cohorts.kv_credit.pdd: unknown key 'pdd' (did you mean 'pd'?); allowed: name, "
        "loans, exposure, pd, lgd, lgd_std, rho, sector, mode, product, bank, guarantor, pool, "
        "insurer, first_loan, premium_rate, small_micro, term_years, amortization, growth, rollover, "
        "borrowers, new_borrowers, new_borrower_growth, loans_per_new_borrower, interest_subsidy_rate, interest_subsidy_payer, interest_subsidy_years, premium_subsidy_rate, "
        "premium_subsidy_payer",
    ]


def test_dict_and_file_give_the_same_scenario():
    import tomllib

    path = ROOT / "scenarios" / "hubei_base.toml"
    a = load_scenario(path)
    b = load_scenario(tomllib.loads(path.read_text(encoding="utf-8")))
    assert resolved_dict(a) == resolved_dict(b)
    assert a.years == list(range(2025, 2030))


def test_loan_tape_relative_to_scenario(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "loans.csv").write_text(
        "name,exposure,pd,lgd,rho\nL1,100,0.02,0.5,0.1\nL2,200,0.03,0.4,0.1\n", encoding="utf-8")
    scen = tmp_path / "sub" / "s.toml"
    scen.write_text('[portfolio]\nloans_file = "loans.csv"\n', encoding="utf-8")
    sc = load_scenario(scen)
    assert len(sc.tape) == 2
    bad = tmp_path / "sub" / "loans_bad.csv"
    bad.write_text("name,exposure,pd,lgd,rho\nL1,100,1.5,0.5,0.1\n", encoding="utf-8")
    scen.write_text('[portfolio]\nloans_file = "loans_bad.csv"\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(scen)
    (p,) = exc.value.problems
    assert (p.line, p.path) == (2, "pd") and p.file.endswith("loans_bad.csv")


def test_tape_products_need_their_guarantor_and_insurer(tmp_path):
    (tmp_path / "loans.csv").write_text(
        "name,exposure,pd,lgd,rho,product\nL1,100,0.02,0.5,0.1,guaranteed\n"
        "L2,200,0.03,0.4,0.1,guaranteed\nL3,50,0.01,0.4,0.1,insured\nL4,50,0.01,0.4,0.1,credit\n",
        encoding="utf-8")
    scen = tmp_path / "s.toml"
    scen.write_text('[portfolio]\nloans_file = "loans.csv"\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(scen)
    got = {p.path: p for p in exc.value.problems}
    assert set(got) == {"portfolio.guarantor", "portfolio.insurer"}
    assert "has 2 guaranteed loans" in got["portfolio.guarantor"].message
    assert "none is defined" in got["portfolio.guarantor"].message
    assert "has 1 insured loan;" in got["portfolio.insurer"].message
    assert all(p.file == str(scen) and p.line == 1 for p in got.values())
    # the only guarantor and insurer defined are the tape's by default
    scen.write_text('[portfolio]\nloans_file = "loans.csv"\n[[guarantors]]\nname = "g"\nnet_assets = 1000\n'
                    '[[insurers]]\nname = "i"\n', encoding="utf-8")
    sc = load_scenario(scen)
    assert (sc.portfolio.guarantor, sc.portfolio.insurer) == ("g", "i")
    assert simulate(sc, paths=50, seed=1).samples("gross").shape == (50,)


def test_extends_merges_tables_and_named_arrays(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text('[simulation]\npaths = 1000\nseed = 3\n[[cohorts]]\nname = "a"\nloans = 10\n'
                    'exposure = 100\npd = 0.02\nlgd = 0.5\nrho = 0.1\n[[cohorts]]\nname = "b"\n'
                    'loans = 5\nexposure = 100\npd = 0.03\nlgd = 0.5\nrho = 0.1\n', encoding="utf-8")
    (tmp_path / "sub").mkdir()
    child = tmp_path / "sub" / "whatif.toml"
    child.write_text('extends = "../base.toml"\n[simulation]\nseed = 9\n[[cohorts]]\nname = "b"\npd = 0.05\n'
                     '[[cohorts]]\nname = "c"\nloans = 1\nexposure = 1\npd = 0.1\nlgd = 1\nrho = 0.2\n',
                     encoding="utf-8")
    sc = load_scenario(child)
    d = resolved_dict(sc)
    assert d["simulation"]["paths"] == 1000 and d["simulation"]["seed"] == 9
    assert [(c["name"], c["pd"], c["loans"]) for c in d["cohorts"]] == [("a", 0.02, 10), ("b", 0.05, 5),
                                                                          ("c", 0.1, 1)]
    assert "extends" not in d


def test_extends_errors_point_at_the_file_that_holds_the_key(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text('[[cohorts]]\nname = "a"\nloans = 10\nexposure = 100\npd = 2.0\nlgd = 0.5\nrho = 0.1\n',
                    encoding="utf-8")
    child = tmp_path / "child.toml"
    child.write_text('extends = "base.toml"\n[[cohorts]]\nname = "a"\nlgd = 1.5\n', encoding="utf-8")
    msgs = [str(p) for p in pytest.raises(ScenarioError, load_scenario, child).value.problems]
    hint = ": a fraction; did you mean {}? (or write \"{}%\")"
    assert msgs == [f"{base}:5: cohorts.a.pd: must be <= 1.0, got 2.0" + hint.format(0.02, 2),
                    f"{child}:4: cohorts.a.lgd: must be <= 1.0, got 1.5" + hint.format(0.015, 1.5)]


def test_extends_cycles_and_missing_bases(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"circular extends: a.toml -> b.toml -> a.toml"):
        load_scenario(tmp_path / "a.toml")
    (tmp_path / "c.toml").write_text('extends = "nope.toml"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"c.toml:1: extends: base scenario not found"):
        load_scenario(tmp_path / "c.toml")


def test_shipped_whatifs_load_and_differ_from_the_base():
    import tomllib

    for f in sorted((ROOT / "scenarios" / "whatif").glob("*.toml")):
        parent = tomllib.loads(f.read_text(encoding="utf-8"))["extends"]
        base = resolved_dict(load_scenario(f.parent / parent))
        d = resolved_dict(load_scenario(f))
        assert d != base, f.name
        assert len(d["cohorts"]) == len(base["cohorts"]), f.name
        # a what-if changes levers; only the combined one adds a programme (a fund)
        assert len(d["funds"]) == len(base["funds"]) + (f.stem == "hubei_with_angel_fund"), f.name


def test_rates_as_people_write_them_round_trip():
    """"2%" (and "2 %", "1.5‰") is accepted wherever a number that is not money is, and
    echoed as 0.02 in the resolved scenario; a plain number above 1 where a fraction is
    expected says "did you mean 0.02?"; money does not take a percentage."""
    import tomllib

    d = {"cohorts": [{"name": "c", "loans": 10, "exposure": "100万", "pd": "2%",
                      "lgd": "45 %", "rho": "12%", "growth": "20%"}],
         "guarantors": [{"name": "g", "net_assets": "1亿", "fee_rate": "1%"}],
         "report": {"levels": ["95%", 0.99, "999‰"]}}
    sc = load_scenario(d)
    c = sc.cohorts[0]
    assert (c.pd, c.lgd, c.rho, c.growth) == (0.02, 0.45, 0.12, 0.2)
    assert sc.guarantors[0].fee_rate == 0.01
    assert sc.report.levels == [0.95, 0.99, 0.999]
    text = resolved_toml(sc)
    assert "pd = 0.02" in text and "%" not in text.split("\n", 2)[2]
    again = load_scenario(tomllib.loads(text))
    assert resolved_dict(again) == resolved_dict(sc)
    # --set takes them too
    sc = load_scenario(d, ["cohorts.c.pd=3%", "cohorts.c.lgd='50 %'"])
    assert (sc.cohorts[0].pd, sc.cohorts[0].lgd) == (0.03, 0.5)


@pytest.mark.parametrize("key, value, msg", [
    ("pd", 2, 'cohorts.c.pd: must be <= 1.0, got 2: a fraction; did you mean 0.02? (or write "2%")'),
    ("lgd", 45, "did you mean 0.45?"),
    ("pd", "2x%", "cohorts.c.pd: must be a number, got '2x%'"),
    ("exposure", "2%", "cohorts.c.exposure: expected yuan"),
    ("pd", 250, "cohorts.c.pd: must be <= 1.0, got 250"),
])
def test_fraction_mistakes_are_explained(key, value, msg):
    c = {"name": "c", "loans": 10, "exposure": 1e6, "pd": 0.02, "lgd": 0.4, "rho": 0.1}
    c[key] = value
    with pytest.raises(ScenarioError) as e:
        load_scenario({"cohorts": [c]})
    assert msg in str(e.value)
    if value == 250:
        assert "did you mean" not in str(e.value)
