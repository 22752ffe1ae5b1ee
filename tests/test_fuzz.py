"""Fuzzed inputs (simpool.testing.fuzz): every bad scenario or loan tape ends in exit 2 with located
messages -- never a traceback, a hang, a silently wrong number or a partial output file.

``test_fuzz_fixed_seed`` runs a fixed-seed set of mutated inputs through ``simpool.cli.main``
in-process; the tests below it pin each bug the fuzzer found (the input, the exit code and the
message). ``python -m simpool.testing.fuzz --cases 50000 --seed 7`` runs the same fuzzer for longer.
"""

from __future__ import annotations

import io
import os
import random
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from simpool import fuzz
from simpool.cli import main

SMALL = """\
[simulation]
paths = 2000
horizon_years = 2

[[cohorts]]
name = "a"
loans = 300
exposure = "100万"
pd = 0.03
lgd = 0.5
rho = 0.15
"""


def cli(*argv: str, timeout: float = 30.0) -> tuple[int, str]:
    """``main(argv)`` in-process with a time limit (a hang fails the test, not the suite)."""
    rc, _, err, _, failure = fuzz._call_main(list(argv), timeout)
    assert failure is None, failure
    assert "Traceback" not in err and "internal error" not in err, err
    return rc, err


def scenario(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --------------------------------------------------------------------------- the fuzzer


#: Kinds with tests of their own below (command sequences: slower per case).
NEW_KINDS = ("sweep", "folders", "taperows")


def test_fuzz_fixed_seed(tmp_path):
    kinds = tuple(k for k in fuzz.KINDS if k != "bigtape" and k not in NEW_KINDS)
    t0 = time.perf_counter()
    outcomes = fuzz.fuzz(cases=3250, seed=20240808, kinds=kinds, run_fraction=0.01,
                         workdir=tmp_path, max_items=200)
    print(f"\n{fuzz.format_counts(outcomes)}\n{len(outcomes)} cases in "
          f"{time.perf_counter() - t0:.1f} s")
    failures = [o for o in outcomes if o.status == "FAILURE"]
    assert not failures, "\n".join(
        f"{o.case.kind}: {o.case.label}: {o.reason}\n{o.stderr[-600:]}" for o in failures[:15])
    counts = fuzz.counts(outcomes)
    assert set(counts) == set(kinds)
    for kind, c in counts.items():
        assert c["error"] > 0, kind  # every kind reaches the validation
    assert sum(c["ran"] for c in counts.values()) >= 20  # and some are simulated


@pytest.mark.parametrize("kind, cases, seed", [("sweep", 160, 18), ("folders", 60, 18),
                                                ("taperows", 250, 18)])
def test_new_kinds_fixed_seed(tmp_path, kind, cases, seed):
    """Sweep syntax, shared output folders and tape rows: no failure, both outcomes seen."""
    t0 = time.perf_counter()
    outcomes = fuzz.fuzz(cases=cases, seed=seed, kinds=(kind,), workdir=tmp_path)
    print(f"\n{fuzz.format_counts(outcomes)}\n{len(outcomes)} cases in "
          f"{time.perf_counter() - t0:.1f} s")
    failures = [o for o in outcomes if o.status == "FAILURE"]
    assert not failures, "\n".join(
        f"{o.case.label}: {o.reason}\n{o.stderr[-600:]}" for o in failures[:10])
    c = fuzz.counts(outcomes)[kind]
    assert c["ok"] + c["error"] == cases
    assert c["ok"] > cases // 5 and c["error"] > cases // 20  # finished work and refusals


# ----------------------------------------------------------------- the new kinds can fail
# Each test puts a defect into the product in-process (monkeypatch; nothing on disk changes)
# and runs the cases of one mutation that must notice it.


def _run_choice(tmp_path, gen, choice: int, n: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    outs = []
    for _ in range(n):
        case = gen(rng, [], choice=choice)
        if case is not None:
            outs.append(fuzz.run_case(case, tmp_path))
    return [o for o in outs if o.status == "FAILURE"]


def test_folders_notice_fresh_deleting_foreign_files(tmp_path, monkeypatch):
    from simpool import outdir

    assert not _run_choice(tmp_path, fuzz.gen_folders, 2, 3)

    def clear_everything(self):  # the defect: --fresh deletes every file in the folder
        for p in sorted(self.path.rglob("*"), reverse=True):
            if p.is_file() and p.name != outdir.LOCK:
                p.unlink()
            elif p.is_dir():
                p.rmdir()
        self.manifest["files"] = {}
        self._save_manifest(True)
        return 0

    monkeypatch.setattr(outdir.OutputFolder, "clear", clear_everything)
    failures = _run_choice(tmp_path, fuzz.gen_folders, 2, 3)
    assert len(failures) == 3
    assert all("a file simpool did not write was deleted" in o.reason for o in failures)


def test_folders_notice_an_edited_variant_being_combined(tmp_path, monkeypatch):
    from simpool import outdir

    def verified(self, name):  # the defect: listed files are trusted without the checksum
        try:
            return (self.path / name).read_bytes() if name in self.files else None
        except OSError:
            return None

    monkeypatch.setattr(outdir.OutputFolder, "verified", verified)
    failures = _run_choice(tmp_path, fuzz.gen_folders, 3, 12)
    # caught by the first check that sees it: the manifest no longer vouches for the edited
    # file, the summary is not an unedited run's, or no message names the file
    assert len(failures) >= 6, [o.case.label for o in failures]
    assert any("variants/" in o.reason for o in failures)


def test_folders_notice_a_missing_lock_and_stale_tables(tmp_path, monkeypatch):
    from simpool import outdir

    with monkeypatch.context() as m:
        m.setattr(outdir.OutputFolder, "_lock", lambda self: None)  # no lock at all
        failures = _run_choice(tmp_path, fuzz.gen_folders, 6, 3)
        assert len(failures) == 3 and all("expected 1" in o.reason for o in failures)
    replace_set = outdir.OutputFolder.replace_set
    monkeypatch.setattr(outdir.OutputFolder, "replace_set",  # an older summary.parquet kept
                        lambda self, files, marker, keep=(): replace_set(self, files, marker,
                                                                         tuple(self.files)))
    reasons = [o.reason for o in _run_choice(tmp_path, fuzz.gen_folders, 5, 12)]
    assert any("that this command does not write" in r for r in reasons), reasons


def test_sweep_notices_thousands_read_as_a_list(tmp_path, monkeypatch):
    import re

    from simpool import sweep

    monkeypatch.setattr(sweep, "_THOUSANDS", re.compile(r"(?!x)x"))  # never refused
    failures = _run_choice(tmp_path, fuzz.gen_sweep, 1, 4)
    assert len(failures) == 4


def test_sweep_notices_seed_paths_and_values_not_honoured(tmp_path, monkeypatch):
    import dataclasses

    from simpool import batch

    run_variant = batch._run_variant
    with monkeypatch.context() as m:  # every variant on the file's seed
        m.setattr(batch, "_run_variant", lambda folder, i, v, seed, paths, *a:
                  run_variant(folder, i, v, fuzz._SWEEP_SEED, paths, *a))
        reasons = [o.reason for o in _run_choice(tmp_path, fuzz.gen_sweep, 7, 16)]
        assert any("expected seed" in r for r in reasons), reasons
    first = {}

    def first_scenario(folder, i, v, seed, paths, *a):  # every variant runs the first's values
        first.setdefault(folder.path, v.scenario)
        return run_variant(folder, i, dataclasses.replace(v, scenario=first[folder.path]), seed,
                           paths, *a)

    monkeypatch.setattr(batch, "_run_variant", first_scenario)
    reasons = [o.reason for o in _run_choice(tmp_path, fuzz.gen_sweep, 0, 8)]
    assert any("the resolved scenario has" in r for r in reasons), reasons


def test_taperows_notice_missing_tape_checks(tmp_path, monkeypatch):
    import numpy as np

    from simpool import loantape

    assert not _run_choice(tmp_path, fuzz.gen_taperows, 4, 30)
    with monkeypatch.context() as m:
        m.setattr(loantape, "_check_duplicate_ids", lambda *a, **k: None)
        assert any(o.reason == "bad input accepted (exit 0)"
                   for o in _run_choice(tmp_path, fuzz.gen_taperows, 0, 6))
    with monkeypatch.context() as m:
        m.setattr(loantape, "_total_rows", lambda nrows, *a, **k: np.zeros(nrows, bool))
        assert len(_run_choice(tmp_path, fuzz.gen_taperows, 2, 4)) == 4
    with monkeypatch.context() as m:
        m.setattr(loantape, "_check_median_exposure", lambda *a, **k: None)
        assert any("the median loan is" in o.reason
                   for o in _run_choice(tmp_path, fuzz.gen_taperows, 3, 8))
    products = dict(loantape._PRODUCT_OF)
    products[loantape._norm_header("担保")] = "credit"  # a Chinese name mapped wrongly
    monkeypatch.setattr(loantape, "_PRODUCT_OF", products)
    assert any(o.reason.startswith("product names: ")
               for o in _run_choice(tmp_path, fuzz.gen_taperows, 4, 30))


# ----------------------------------------------------------------- open bugs the kinds found


def test_sweep_refuses_an_inline_table_value(tmp_path):
    """Found by the fuzzer: an inline table in a sweep axis ran as the number after its first
    '=' (``{lgd = 0.9}`` as pd = 0.9)."""
    f = scenario(tmp_path, SMALL + '\n[sweep]\n"cohorts.a.pd" = [0.02, {lgd = 0.9}]\n')
    assert cli("validate", str(f))[0] == 2  # validate refuses it
    rc, err = cli("sweep", str(f), "--paths", "50", "--out", str(tmp_path / "o"), "--quiet")
    assert rc == 2, "ran pd = 0.9 for the value {lgd = 0.9}"


def test_sweep_notices_an_edited_resolved_scenario(tmp_path):
    """Found by the fuzzer: an edited variants/NNNN.resolved.toml was neither rerun nor
    reported, and stayed listed with its old checksum."""
    import hashlib
    import json

    f = scenario(tmp_path, SMALL)
    out = tmp_path / "o"
    argv = ("sweep", str(f), "--sweep", "cohorts.a.pd=0.02,0.03", "--paths", "50", "--out",
            str(out), "--quiet")
    assert cli(*argv)[0] == 0
    with open(out / "variants" / "0000.resolved.toml", "a", encoding="utf-8") as fh:
        fh.write("# edited\n")
    rc, err = cli(*argv)
    assert rc == 0
    files = json.loads((out / "simpool-manifest.json").read_text(encoding="utf-8"))["files"]
    for name, entry in files.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == entry["sha256"], name


def test_million_row_tape_reports_the_bad_line(tmp_path):
    case = fuzz.gen_bigtape(random.Random(3), fuzz.sources(), rows=1_000_000)
    out = fuzz.run_case(case, tmp_path)
    assert out.status == "error", f"{out.reason}\n{out.stderr[-2000:]}"
    line = case.at[0][1]
    assert line > 999_000
    (msg,) = [m for m in out.stderr.splitlines() if m.strip()]
    assert f"loans.csv:{line}: " in msg


def test_outcomes_are_classified(tmp_path):
    """The classifier itself: a known-bad input accepted, or an unlocated message, fails."""
    good = fuzz.Case("t", "good", {"s.toml": SMALL.encode()}, "s.toml", expect="error")
    assert fuzz.run_case(good, tmp_path).reason == "bad input accepted (exit 0)"
    bad = fuzz.Case("t", "bad", {"s.toml": SMALL.replace("pd = 0.03", "pd = 1.5").encode()},
                    "s.toml", expect="error", at=[("s.toml", "pd")], run=True)
    out = fuzz.run_case(bad, tmp_path)
    assert (out.status, out.ran) == ("error", True), out.reason
    wrong_line = fuzz.Case("t", "x", bad.files, "s.toml", expect="error", at=[("s.toml", "lgd")])
    assert "expected a problem in s.toml" in fuzz.run_case(wrong_line, tmp_path).reason


def test_fuzz_command(capsys):
    assert fuzz.main(["--cases", "30", "--seed", "1", "--kinds", "types", "extra",
                      "--run-fraction", "0"]) == 0
    out = capsys.readouterr().out
    assert "types" in out and "FAILURE" in out and "30 cases" in out


# --------------------------------------------------------------------------- regressions


@pytest.mark.parametrize("key, old, new, message", [
    ("pd", "pd = 0.03", "pd = true", "cohorts.a.pd: must be a number, got true"),
    ("loans", "loans = 300", "loans = false", "cohorts.a.loans: must be an integer, got false"),
    ("paths", "paths = 2000", "paths = true", "simulation.paths: must be an integer, got true"),
])
def test_booleans_are_not_numbers(tmp_path, key, old, new, message):
    # pydantic reads true as 1: pd = true was a PD of 100%, paths = true one path
    f = scenario(tmp_path, SMALL.replace(old, new))
    rc, err = cli("validate", str(f))
    line = next(i for i, t in enumerate(f.read_text().splitlines(), 1) if t.startswith(key))
    assert rc == 2 and f"{f}:{line}: {message}" in err


def test_boolean_in_a_list_of_numbers(tmp_path):
    f = scenario(tmp_path, SMALL + "[report]\nlevels = [0.9, true]\n")
    rc, err = cli("validate", str(f))
    assert rc == 2 and f"{f}:13: report.levels.1: must be a number, got true" in err


def test_integer_of_5000_digits(tmp_path):
    # tomllib raises a plain ValueError (int max str digits): was an internal error
    f = scenario(tmp_path, SMALL.replace("loans = 300", "loans = 1" + "0" * 5000))
    rc, err = cli("validate", str(f))
    assert rc == 2 and f"{f}:7: invalid TOML: an integer with too many digits" in err
    rc, err = cli("validate", str(scenario(tmp_path, SMALL, "t.toml")), "--set",
                  "cohorts.a.loans=1" + "0" * 5000)
    assert rc == 2 and err.startswith("--set: cohorts.a.loans: must be an integer (this one is too "
                                     "large), got '1000")
    assert len(err) < 300  # the value is shortened in the message


def test_integer_too_large_for_a_float(tmp_path):
    f = scenario(tmp_path, SMALL.replace("pd = 0.03", "pd = 1" + "0" * 400))
    rc, err = cli("validate", str(f))
    assert rc == 2 and f"{f}:9: cohorts.a.pd: must be a finite number (this integer is too " \
                       "large), got an integer of 401 digits" in err


def test_deeply_nested_arrays(tmp_path):
    # tomllib recursed until RecursionError: was an internal error
    f = scenario(tmp_path, "x = " + "[" * 5000 + "]" * 5000 + "\n" + SMALL)
    rc, err = cli("validate", str(f))
    assert rc == 2 and f"{f}:1: invalid TOML: arrays or tables nested more than 100 deep" in err


def test_huge_amounts_are_refused(tmp_path):
    # 1e308 yuan passed validation and summed to inf / NaN in the results
    f = scenario(tmp_path, SMALL.replace('exposure = "100万"', "exposure = 1e308"))
    rc, err = cli("validate", str(f))
    assert rc == 2 and f"{f}:8: cohorts.a.exposure: must be at most 1e+15 yuan" in err
    tape = tmp_path / "loans.csv"
    tape.write_text("exposure,pd,lgd,rho\n100,0.02,0.5,0.1\n1e308,0.02,0.5,0.1\n", encoding="utf-8")
    g = scenario(tmp_path, '[portfolio]\nloans_file = "loans.csv"\n', "t.toml")
    rc, err = cli("validate", str(g))
    assert rc == 2 and "loans.csv:3: exposure: must be at most 1e+15 yuan (1,000万亿), got 1e+308" in err


def test_book_growth_and_single_loans_are_bounded(tmp_path, tmp_path_factory):
    # growth 10 over 100 years overflowed int64 loan counts in the run (internal error);
    # mode = "loans" with 10**9 loans allocated arrays of 10**9 loans
    f = scenario(tmp_path, SMALL.replace("horizon_years = 2", "horizon_years = 100")
                 .replace("rho = 0.15", "rho = 0.15\ngrowth = 10.0"))
    rc, err = cli("run", str(f), "--paths", "50", "--out", str(tmp_path / "o"), "--quiet")
    assert rc == 2 and "cohorts.a.growth: the book grows to about" in err
    assert not (tmp_path / "o").exists()
    g = scenario(tmp_path, SMALL.replace("loans = 300", "loans = 1_000_000_000")
                 .replace("rho = 0.15", 'rho = 0.15\nmode = "loans"'), "g.toml")
    rc, err = cli("validate", str(g))
    assert rc == 2 and 'cohorts.a.loans: cohorts with mode = "loans" hold 1,000,000,000 loans' in err


def test_too_many_sectors_or_funds(tmp_path):
    # 20,000 sectors made the run factorise a 20,000 x 20,000 matrix (memory exhausted)
    sectors = ", ".join(f'"s{i}"' for i in range(1001))
    f = scenario(tmp_path, SMALL + f"[model]\nsectors = [{sectors}]\n")
    rc, err = cli("validate", str(f))
    assert rc == 2 and "model.sectors: must have at most 1000 item(s), got 1001" in err
    # 20,000 funds took minutes to simulate with 50 paths
    fund = ('[[funds]]\nname = "f{i}"\nsize = "1亿"\ngovernment_share = 0.5\n'
            'deals_per_year = 5\nticket = "100万"\n')
    g = scenario(tmp_path, "".join(fund.format(i=i) for i in range(101)), "g.toml")
    rc, err = cli("validate", str(g))
    assert rc == 2 and "funds: must have at most 100 item(s), got 101" in err


def test_control_characters_in_names(tmp_path):
    # a pool named "p\x01" made `run --format xlsx` fail (openpyxl IllegalCharacterError) after
    # summary.csv was written: exit 1 and a partial output folder
    f = scenario(tmp_path, SMALL.replace('name = "a"', 'name = "a"\npool = "p\\u0001"')
                 + '\n[[pools]]\nname = "p\\u0001"\ncash = "1亿"\n')
    out = tmp_path / "out"
    rc, err = cli("run", str(f), "--paths", "50", "--out", str(out), "--quiet", "--format",
                  "csv,xlsx")
    assert rc == 2 and f"{f}:15: pools.\"p\\u0001\".name: must not contain control characters, " \
                       "got '\\x01' in 'p\\x01'" in err
    assert not out.exists()


def test_importance_shift_is_bounded(tmp_path):
    # shift = [1e300] made the likelihood ratios infinite: internal error in the run
    f = scenario(tmp_path, SMALL.replace("horizon_years = 2", "horizon_years = 1")
                 + '[importance_sampling]\nmethod = "shift"\nshift = [1e300]\n')
    rc, err = cli("run", str(f), "--paths", "50", "--out", str(tmp_path / "o"), "--quiet")
    assert rc == 2 and "importance_sampling.shift.0: must be <= 10.0, got 1e+300" in err


def test_lgd_std_overflow(tmp_path):
    # lgd_std ** 2 raised OverflowError inside a validator: internal error
    f = scenario(tmp_path, SMALL.replace("rho = 0.15", "rho = 0.15\nlgd_std = 1e300"))
    rc, err = cli("validate", str(f))
    assert rc == 2 and "cohorts.a: lgd_std must be below sqrt(lgd*(1-lgd)) = 0.5 for a Beta " \
                       "LGD with mean 0.5, got 1e+300" in err


@pytest.mark.parametrize("value, message", [
    ("a\\u0000.csv", ":6: portfolio.loans_file: the file name contains a NUL character"),
    ("a" * 300 + ".csv", "cannot open the file: File name too long"),
    ("loop.csv", "cannot open the file: "),
    ("pipe.csv", "is not a regular file"),
    ("dir.csv", "is a directory"),
    ("../../../../../../../../etc/passwd", "unsupported file type '(none)'"),
])
def test_odd_loans_files(tmp_path, value, message):
    # NUL: ValueError (internal error); long name: OSError (exit 1); a symlink loop:
    # RuntimeError from resolve() (internal error); a FIFO: read_bytes() blocked forever
    os.symlink("loop.csv", tmp_path / "loop.csv")
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "dir.csv").mkdir()
    f = scenario(tmp_path, f'[model]\nsectors = ["x"]\n\n[portfolio]\n# the tape\n'
                           f'loans_file = "{value}"\n')
    rc, err = cli("validate", str(f), timeout=20)
    assert rc == 2 and message in err, err


def test_odd_tape_encodings(tmp_path):
    # punycode raises a plain UnicodeError: was an internal error
    (tmp_path / "loans.csv").write_text("exposure,pd,lgd,rho\n100,0.02,0.5,0.1\n", encoding="utf-8")
    f = scenario(tmp_path, '[portfolio]\nloans_file = "loans.csv"\nencoding = "punycode"\n')
    rc, err = cli("validate", str(f))
    assert rc == 2 and "loans.csv: cannot decode the file as 'punycode' (" in err, err


def test_odd_scenario_files(tmp_path):
    os.mkfifo(tmp_path / "pipe.toml")
    rc, err = cli("validate", str(tmp_path / "pipe.toml"), timeout=20)
    assert rc == 2 and "pipe.toml: is not a regular file" in err
    f = scenario(tmp_path, 'extends = "pipe.toml"\n' + SMALL, "child.toml")
    rc, err = cli("validate", str(f), timeout=20)
    assert rc == 2 and f"{f}:1: extends: base scenario" in err and "not a regular file" in err
    f = scenario(tmp_path, f'extends = "{"a" * 5000}.toml"\n' + SMALL, "long.toml")
    rc, err = cli("validate", str(f))  # was exit 1 (an I/O error for bad input)
    assert rc == 2 and "File name too long" in err


def test_circular_extends_points_at_the_line(tmp_path):
    f = scenario(tmp_path, '# a what-if\nextends = "s.toml"\n' + SMALL)
    rc, err = cli("validate", str(f))
    assert rc == 2 and err.strip() == f"{f}:2: extends: circular extends: s.toml -> s.toml"
    scenario(tmp_path, '# b\nextends = "a.toml"\n', "b.toml")
    a = scenario(tmp_path, 'extends = "b.toml"\n', "a.toml")
    rc, err = cli("validate", str(a))
    assert rc == 2 and f"{tmp_path / 'b.toml'}:2: extends: circular extends: a.toml -> " \
                       "b.toml -> a.toml" in err


def test_sweep_tables_are_validated(tmp_path):
    # a misspelled or bad [sweep] axis passed `validate` (and `run`) silently
    f = scenario(tmp_path, SMALL + '\n[sweep]\n"cohorts.a.pdd" = [0.02]\n')
    rc, err = cli("validate", str(f))
    assert rc == 2 and f"{f}:14: sweep.\"cohorts.a.pdd\": value 0.02: unknown key 'pdd'" in err
    f = scenario(tmp_path, SMALL + '\n[sweep]\n"cohorts.a.pd" = [0.02, true]\nx = []\n', "t.toml")
    rc, err = cli("validate", str(f))
    assert rc == 2 and f"{f}:15: sweep.x: must be a non-empty list of values" in err
    rc, err = cli("validate", str(scenario(tmp_path, SMALL + '\n[sweep]\n"cohorts.a.pd" = '
                                                    '[0.02, true]\n', "u.toml")))
    assert rc == 2 and 'sweep."cohorts.a.pd": value true: must be a number, got true' in err
    rc, err = cli("validate", str(scenario(tmp_path, SMALL, "v.toml")), "--set",
                  'sweep={"cohorts.a.lgd" = [2.0]}')
    assert rc == 2 and err.startswith('--set: sweep."cohorts.a.lgd": value 2.0: must be <= 1.0')
    ok = scenario(tmp_path, SMALL + '\n[sweep]\n"cohorts.a.pd" = [0.02, 0.04]\n'
                                    'simulation.horizon_years = [1, 3]\n', "w.toml")
    assert cli("validate", str(ok))[0] == 0


def test_set_into_a_missing_named_array(tmp_path):
    # the problem was reported at line 1 of the file, not at --set
    f = scenario(tmp_path, '[model]\nsectors = ["m"]\n\n[[funds]]\nname = "f"\nsize = "1亿"\n'
                           'government_share = 0.5\ndeals_per_year = 5\nticket = "100万"\n')
    rc, err = cli("validate", str(f), "--set", "cohorts.nope.pd=0.1")
    assert rc == 2 and "--set: cohorts.nope.pd: no element named 'nope' in cohorts; known: " \
                       "none\n" in err


def test_union_field_gives_one_message(tmp_path):
    f = scenario(tmp_path, SMALL + "[policy]\nsharing = true\n")
    rc, err = cli("validate", str(f))
    assert rc == 2 and err.strip() == (
        f"{f}:13: policy.sharing: must be one of 'hubei_4222', 'national_tech_4222' or "
        "'hubei_4321', or a table, got True")


def test_whatif_element_without_a_name_points_at_the_whatif(tmp_path):
    # an unnamed (appended) element of a what-if was located at its base's first element
    base = scenario(tmp_path, SMALL, "base.toml")
    child = scenario(tmp_path, f'extends = "{base.name}"\n\n[[cohorts]]\nname = true\npd = 0.5\n',
                     "child.toml")
    rc, err = cli("validate", str(child))
    assert rc == 2 and f"{child}:4: cohorts.1.name: must be a string, got True" in err


def test_long_values_are_shortened(tmp_path):
    f = scenario(tmp_path, SMALL.replace('name = "a"', 'name = "a"\nsector = "' + "x" * 200_000
                                         + '"'))
    rc, err = cli("validate", str(f))
    assert rc == 2 and max(len(x) for x in err.splitlines()) < 400


def test_many_named_elements_in_a_whatif_validate_quickly(tmp_path):
    # merging by name was quadratic: 20,000 cohorts took minutes
    n = 20_000
    rows = "".join(f'[[cohorts]]\nname = "c{i}"\nloans = 1\nexposure = 1\npd = 0.02\nlgd = 0.5\n'
                   f'rho = 0.1\n' for i in range(n))
    scenario(tmp_path, "[simulation]\npaths = 1000\n" + rows, "base.toml")
    child = scenario(tmp_path, 'extends = "base.toml"\n' + "".join(
        f'[[cohorts]]\nname = "c{i}"\npd = 0.03\n' for i in range(0, n, 2)), "child.toml")
    t0 = time.perf_counter()
    rc, err = cli("validate", str(child), timeout=60)
    assert rc == 0, err
    assert time.perf_counter() - t0 < 30


def test_run_after_a_bad_scenario_leaves_no_summary(tmp_path):
    out = tmp_path / "out"
    f = scenario(tmp_path, SMALL.replace("pd = 0.03", "pd = nan"))
    buf = io.StringIO()
    with redirect_stderr(buf), redirect_stdout(io.StringIO()):
        assert main(["run", str(f), "--paths", "50", "--out", str(out), "--quiet"]) == 2
    assert not (out / "summary.csv").exists()


def test_a_problem_inside_a_nested_multi_line_value_is_at_its_key():
    """The fuzzer's line check walks up a multi-line value through the lines that close its
    nested values (``], x = [``) to the key it belongs to, and stops at another key."""
    from simpool.testing.fuzz.core import _line_holds

    text = ["[[guidance_funds]]", "sub_funds = [", "    { name = \"a\", stages = [",
            "        { name = \"seed\" },", "], outcomes = { preset = \"x\" } },", "    [",
            "        1,", "    ],", "]", "other = 1", "more = ["]
    assert _line_holds(text, 6, "sub_funds") and _line_holds(text, 7, "sub_funds")
    assert not _line_holds(text, 11, "sub_funds")  # another key's value
