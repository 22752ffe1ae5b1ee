"""The ``sweep`` kind: ``simpool sweep`` with mutated ``--sweep`` flags and ``[sweep]``
tables. The expected outcome is worked out from the documented rules (not from simpool's
code); a finished sweep's folder is checked variant by variant (params, seeds and paths,
resolved scenarios, summary.csv one block of rows per variant), and for some variants
against a plain ``run`` of the same values.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import tomllib
from pathlib import Path
from typing import Any

from .checks import (_check_flag_messages, _check_folder, _read_table, _rows_differ,
                     _snapshot, _sweep_names, _toml_value)
from .core import Case, _call_main
from .sources import _SWEEP_PATHS, _SWEEP_SEED, _SYN_SWEEP, Source, _is_number


#: Swept keys of the ``sweep`` kind: (valid values, invalid values).
_SWEEP_VALUES: dict[str, tuple[list, list]] = {
    "cohorts.a.pd": ([0.01, 0.02, 0.03, 0.05, 0.08], [1.5, -0.1, "abc", True]),
    "cohorts.b.lgd": ([0.3, 0.45, 0.6], [2.0, -1, "x"]),
    "cohorts.a.exposure": ([1_500_000, "100万", "250万", 2e6], [-5, "abc"]),
    "pools.p.cash": (["5000万", "1亿", 3e7], ["x", "1e3亿亿"]),
    "simulation.horizon_years": ([1, 2, 3], [0, 2.5, -1]),
    "model.copula": (["gaussian", "t"], ["gauss", 5]),
    "title": (["x", "情景甲", "y z"], []),
    "simulation.seed": ([0, 1, 7, 2**31], [-1, 2**64, 1.5]),
    "simulation.paths": ([40, 50, 60, 75], [0, -5, 2.5]),
}
#: Keys simpool does not know (every variant of them is refused, the key named).
_SWEEP_UNKNOWN = ("cohorts.a.pdd", "cohorts.zz.pd", "simulation.pathz", "nosuch", "cohorts.9.pd",
                  "pools.p.cahs", "cohorts.a", "cohorts.a.pd.x", "report.levelz")
#: ``--sweep`` value texts that read as one number with thousands separators.
_THOUSANDS_TEXTS = ("1,500,000", "300,700", "1,000", "12,345.5", "-1,000", "+2,500",
                    "999,999,999", " 1,500 ", "5,000,000.25")
#: Comma lists that are lists (not one number): (key, text).
_NEAR_THOUSANDS = (("pools.p.cash", "1500,2000"), ("cohorts.a.exposure", "1000000,2000000"),
                   ("cohorts.a.loans", "10,20"), ("cohorts.a.loans", "1,50"),
                   ("pools.p.cash", "1, 500"), ("cohorts.a.exposure", "1500000, 2000000"),
                   ("cohorts.a.loans", "1000,20"), ("pools.p.cash", "1,5000"),
                   ("cohorts.a.pd", "0.01,0.02"))
#: ``--sweep`` texts without a key, a ``=`` or a value.
_SWEEP_SYNTAX = ("cohorts.a.pd", "=0.1", "cohorts.a.pd=", "cohorts.a.pd=,", "cohorts.a.pd=0.1,",
                 "cohorts.a.pd=,0.1", "cohorts..pd=0.1", ".pd=0.1", "cohorts.a.pd.=0.1", " =1",
                 "cohorts.a.pd=0.02,,0.03", "=", "cohorts.a.pd = ")
#: ``--sweep`` TOML arrays: (key, text).
_SWEEP_ARRAYS = (("cohorts.a.exposure", "[1_500_000, 2e6]"), ("cohorts.a.pd", "[0.02, 0.03]"),
                 ("cohorts.a.exposure", '["100万", "200万"]'), ("cohorts.a.pd", "[0.02,]"),
                 ("cohorts.a.pd", "[ 0.02 , 0.05 ]"), ("report.levels", "[[0.9], [0.95, 0.99]]"),
                 ("cohorts.a.pd", "[]"), ("cohorts.a.pd", "[ ]"), ("cohorts.a.pd", "[0.01"),
                 ("cohorts.a.pd", "[0.01,,0.02]"), ("cohorts.a.pd", "[1 2]"),
                 ("cohorts.a.pd", "[0.01]]"), ("title", '["a]'), ("cohorts.a.pd", "[}"),
                 ("cohorts.a.pd", "[[0.01], [0.02]]"), ("cohorts.a.pd", '[0.01, "x"]'),
                 ("cohorts.a.pd", "[0.02, true]"), ("simulation.horizon_years", "[1, 2.0]"),
                 ("cohorts.a.pd", "[0.02, 0.02]"), ("pools.p.cash", '["1亿", 5e7]'),
                 ("model.copula", '["t", "gaussian"]'))
#: Axes holding an inline table, which simpool must refuse (``validate`` does); a sweep once ran
#: them as another number (the text after the table's first ``=``: ``[0.02, {lgd = 0.9}]`` ran
#: ``pd = 0.9``).
_SWEEP_INLINE_TABLES = (("cohorts.a.pd", "[0.02, {a = 1}]"), ("cohorts.a.pd", "[{lgd = 0.9}]"))
#: ``[sweep]`` tables written in the file: (text, at the top?, axes or None when refused,
#: needles of the refusal).
_SWEEP_TABLES: tuple[tuple[str, bool, dict | None, list[str]], ...] = (
    ('[sweep]\n"cohorts.a.pd" = [0.02, 0.04]\n', False, {"cohorts.a.pd": [0.02, 0.04]}, []),
    ("[sweep]\ncohorts.a.pd = [0.02, 0.04]\n", False, {"cohorts.a.pd": [0.02, 0.04]}, []),
    ("[sweep.cohorts.a]\npd = [0.02, 0.04]\nlgd = [0.4]\n", False,
     {"cohorts.a.pd": [0.02, 0.04], "cohorts.a.lgd": [0.4]}, []),
    ("[sweep]\nsimulation = {horizon_years = [1, 2]}\n", False,
     {"simulation.horizon_years": [1, 2]}, []),
    ('sweep = {"cohorts.b.lgd" = [0.3, 0.5]}\n', True, {"cohorts.b.lgd": [0.3, 0.5]}, []),
    ("[sweep]\n", False, {}, []),
    ('[sweep]\n"simulation.seed" = [1, 2]\n', False, {"simulation.seed": [1, 2]}, []),
    ("sweep = 5\n", True, None, ["^{root}/w/grid.toml", "sweep"]),
    ("sweep = [1, 2]\n", True, None, ["^{root}/w/grid.toml", "sweep"]),
    ('sweep = "cohorts.a.pd"\n', True, None, ["^{root}/w/grid.toml", "sweep"]),
    ('[[sweep]]\n"cohorts.a.pd" = [0.01]\n', False, None, ["^{root}/w/grid.toml", "sweep"]),
    ("[sweep]\nx = 5\n", False, None, ["^{root}/w/grid.toml", "sweep.x"]),
    ('[sweep]\n"cohorts.a.pd" = []\n', False, None, ["^{root}/w/grid.toml", "cohorts.a.pd"]),
    ('[sweep]\n"cohorts.a.pd" = 0.02\n', False, None, ["^{root}/w/grid.toml", "cohorts.a.pd"]),
    ('[sweep]\n"cohorts.a.pd" = {a = 1}\n', False, None, ["^{root}/w/grid.toml", "cohorts.a.pd"]),
    # well-formed axes with values simpool refuses (a --sweep flag of the key replaces them)
    ('[sweep]\n"cohorts.a.pd" = [[0.01]]\n', False, {"cohorts.a.pd": [[0.01]]}, []),
    ('[sweep]\n"cohorts.a.pd" = [0.02, "x"]\n', False, {"cohorts.a.pd": [0.02, "x"]}, []),
    ('[sweep]\n"cohorts.a.pd" = [0.02, 0.02]\n', False, {"cohorts.a.pd": [0.02, 0.02]}, []),
    ('[sweep]\n"cohorts.a.pdd" = [0.02]\n', False, {"cohorts.a.pdd": [0.02]}, []),
)
_THOUSANDS_RE = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def _parse_item(text: str) -> Any:
    """One value of a comma list: parsed as TOML, else kept as a string (as documented)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, ValueError, KeyError, RecursionError):
        return text


def _flag_values(text: str) -> list | str:
    """What the values of ``--sweep key=TEXT`` mean, read from the documented rules (not from
    simpool's code): a list, or why it is refused (``array``, ``empty``, ``thousands``)."""
    t = text.strip()
    if t.startswith("["):
        try:
            v = tomllib.loads(f"v = {t}")["v"]
        except (tomllib.TOMLDecodeError, ValueError, KeyError, RecursionError):
            return "array"
        if not isinstance(v, list):
            return "array"
        return v if v else "empty"
    items = [x.strip() for x in t.split(",")]
    if "" in items:
        return "empty"
    if len(items) > 1 and _THOUSANDS_RE.fullmatch(t):
        return "thousands"
    return [_parse_item(x) for x in items]


def _is_bad_value(key: str, value: Any) -> bool:
    bad = _SWEEP_VALUES.get(key, ([], []))[1]
    return any(type(value) is type(b) and value == b for b in bad)


_NUMERIC_KEYS = ("cohorts.a.pd", "cohorts.a.lgd", "cohorts.b.lgd", "cohorts.a.loans",
                 "simulation.horizon_years", "simulation.seed", "simulation.paths")


def _value_bad(key: str, value: Any) -> bool:
    """Whether simpool must refuse ``key = value`` (keys and values of this module only)."""
    if key in _SWEEP_UNKNOWN:
        return True
    if key == "report.levels":
        return not (isinstance(value, list) and value and all(
            _is_number(x) and 0 < x < 1 for x in value))
    if isinstance(value, (list, dict)) or _is_bad_value(key, value):
        return True
    if key in _NUMERIC_KEYS and isinstance(value, (str, bool)):
        return True
    return key == "model.copula" and value not in ("gaussian", "t")


def _label_of(value: Any) -> str:
    return value if isinstance(value, str) else _toml_value(value)


def _render_flag(rng: random.Random, key: str, values: list, form: str | None = None) -> str:
    form = form or rng.choice(["comma", "comma", "spaced", "array"])
    if form == "array":
        return f"{key}=[{', '.join(_toml_value(v) for v in values)}]"
    items = ["true" if v is True else "false" if v is False else str(v) for v in values]
    return f"{key}={(', ' if form == 'spaced' else ',').join(items)}"


def gen_sweep(rng: random.Random, srcs: list[Source], choice: int | None = None) -> Case | None:
    """``simpool sweep`` with mutated ``--sweep`` flags and ``[sweep]`` tables; the expected
    outcome is worked out from the documented rules, and a run must match it: exit 0 with a
    complete folder whose variants are the expected ones (their seeds and paths too, and for
    some their numbers against a plain ``run`` of the same values), or exit 2 with located
    messages naming the problem."""
    choice = rng.randrange(11) if choice is None else choice
    entry = "w/grid.toml"
    entries = [entry]
    tables: dict[str, tuple[str, bool, dict | None, list[str]]] = {}
    flags: list[str] = []
    args: list[str] = ["--paths", "50"] if rng.random() < 0.7 else []
    formats = ("csv",) + tuple(f for f in ("parquet", "xlsx") if rng.random() < 0.15)
    plain = [k for k in _SWEEP_VALUES if k not in ("simulation.seed", "simulation.paths")]

    def valid_axis(key: str | None = None, most: int = 3) -> tuple[str, list]:
        key = key or rng.choice(plain)
        pool = _SWEEP_VALUES[key][0]
        return key, rng.sample(pool, rng.randrange(1, min(most, len(pool)) + 1))

    if choice == 0:  # valid flags, perhaps with a valid [sweep] table
        for _ in range(rng.randrange(1, 3)):
            flags.append(_render_flag(rng, *valid_axis()))
        if rng.random() < 0.3:
            tables[entry] = rng.choice([t for t in _SWEEP_TABLES if t[2] and not any(
                _value_bad(k, v) for k, vs in t[2].items() for v in vs)])
        label = "valid axes"
    elif choice == 1:  # one number with thousands separators
        key = rng.choice(["cohorts.a.exposure", "pools.p.cash", "cohorts.a.loans", "cohorts.a.pd"])
        flags.append(f"{key}={rng.choice(_THOUSANDS_TEXTS)}")
        if rng.random() < 0.5:
            flags.insert(rng.randrange(2), _render_flag(rng, *valid_axis()))
        label = "thousands separators"
    elif choice == 2:  # comma lists that only look like it
        key, text = rng.choice(_NEAR_THOUSANDS)
        flags.append(f"{key}={text}")
        label = "comma list"
    elif choice == 3:  # TOML arrays: valid, empty, malformed, nested, mixed
        key, text = rng.choice(_SWEEP_ARRAYS + _SWEEP_INLINE_TABLES)
        flags.append(f"{key}={text}")
        if rng.random() < 0.3:
            flags.append(_render_flag(rng, *valid_axis()))
        label = "TOML array"
    elif choice == 4:  # no '=', no key, no value
        flags.append(rng.choice(_SWEEP_SYNTAX))
        if rng.random() < 0.4:
            flags.insert(rng.randrange(2), _render_flag(rng, *valid_axis()))
        label = "flag syntax"
    elif choice == 5:  # the same axis twice (two flags, or the file's and a flag)
        key, first = valid_axis()
        _, second = valid_axis(key)
        if rng.random() < 0.5:
            flags += [_render_flag(rng, key, first), _render_flag(rng, key, second)]
        else:
            text = f"[sweep]\n{json.dumps(key)} = [{', '.join(_toml_value(v) for v in first)}]\n"
            tables[entry] = (text, False, {key: first}, [])
            flags.append(_render_flag(rng, key, second))
        if rng.random() < 0.4:
            other = rng.choice([k for k in plain if k != key])
            flags.insert(rng.randrange(len(flags) + 1), _render_flag(rng, *valid_axis(other)))
        label = "duplicate axis"
    elif choice == 6:  # keys simpool does not know
        key = rng.choice(_SWEEP_UNKNOWN)
        flags.append(f"{key}={rng.choice(['0.1', '1,2', '[0.02, 0.03]', 'x'])}")
        label = "unknown key"
    elif choice == 7:  # seed and paths axes, with and without --seed / --paths
        keys = rng.choice([["simulation.seed"], ["simulation.paths"],
                           ["simulation.seed", "simulation.paths"]])
        for key in keys:
            vals = rng.sample(_SWEEP_VALUES[key][0], rng.randrange(2, 4))
            if rng.random() < 0.2:
                text = f"[sweep]\n{json.dumps(key)} = [{', '.join(map(str, vals))}]\n"
                tables[entry] = (text, False, {key: vals}, [])
            else:
                flags.append(_render_flag(rng, key, vals))
        args = []
        for flag, value in (("--seed", str(rng.choice([3, 11, 99]))), ("--paths", "50")):
            if rng.random() < 0.5:
                args += [flag, value]
        if rng.random() < 0.4:
            flags.append(_render_flag(rng, *valid_axis(most=2)))
        label = "seed/paths axes"
    elif choice == 8:  # [sweep] tables of every shape
        tables[entry] = rng.choice(_SWEEP_TABLES)
        if rng.random() < 0.3:
            flags.append(_render_flag(rng, *valid_axis(most=2)))
        label = "[sweep] table"
    elif choice == 9:  # a bad value on an otherwise good axis
        key = rng.choice([k for k in _SWEEP_VALUES if _SWEEP_VALUES[k][1]])
        _, vals = valid_axis(key, 2)
        vals.insert(rng.randrange(len(vals) + 1), rng.choice(_SWEEP_VALUES[key][1]))
        if "simulation.seed" == key or "simulation.paths" == key:
            args = []
        flags.append(_render_flag(rng, key, vals))
        label = "bad value"
    else:  # two files, each with its own [sweep]
        entries = [entry, "w/grid2.toml"]
        for e in entries:
            if rng.random() < 0.5:
                tables[e] = rng.choice([t for t in _SWEEP_TABLES if t[2] is not None])
        if rng.random() < 0.7:
            flags.append(_render_flag(rng, *valid_axis(most=2)))
        label = "two files"

    files: dict[str, bytes] = {}
    for e in entries:
        text = _SYN_SWEEP if e == entry else _SYN_SWEEP.replace("seed = 11", "seed = 12")
        table = tables.get(e)
        if table is not None:
            text = table[0] + "\n" + text if table[1] else text + "\n" + table[0]
        files[e] = text.encode("utf-8")
    seeds = {entry: _SWEEP_SEED, "w/grid2.toml": 12}

    # what should happen, from the documented rules
    needles: list[str] = []
    expect: int | None = 0
    flag_axes: dict[str, list] = {}
    keys = [t.partition("=")[0].strip() for t in flags if "=" in t]
    for key in sorted({k for k in keys if k and keys.count(k) > 1}):
        needles.append(f"^--sweep: {key}: given twice")  # one flag per key
    for text in flags:
        key, eq, values = text.partition("=")
        key = key.strip()
        if not eq or not key or any(not p for p in key.split(".")):
            needles.append(f"^--sweep: {text}: ")
            continue
        parsed = _flag_values(values)
        if isinstance(parsed, str):
            needles.append(f"^--sweep: {text}: ")
            if parsed == "thousands":
                needles.append("thousands separators")
            continue
        flag_axes[key] = parsed
    file_bad = [t for e, t in tables.items() if t[2] is None]
    variants: list[dict] = []
    repeated = False
    if file_bad:
        expect, needles = 2, [n.replace("/w/grid.toml", "/" + e) for e, t in tables.items()
                              if t[2] is None for n in t[3]]
    elif needles:
        expect = 2
    else:
        for e in entries:
            axes = dict(tables[e][2]) if e in tables else {}
            axes.update(flag_axes)
            for key, vals in axes.items():
                if any(_value_bad(key, v) for v in vals):
                    needles.append(f"^sweep: {key}: ")
                elif key == "simulation.horizon_years" and any(isinstance(v, float) for v in vals):
                    expect = None  # 2.0 years: read as 2 or refused, either is fine
                labels = [_label_of(v) for v in vals]
                repeated = repeated or len(set(labels)) != len(labels)
            keys = list(axes)
            for combo in itertools.product(*(axes[k] for k in keys)):
                params = dict(zip(keys, combo))
                seed = params.get("simulation.seed",
                                  int(args[args.index("--seed") + 1]) if "--seed" in args
                                  else seeds[e])
                paths = params.get("simulation.paths",
                                   int(args[args.index("--paths") + 1]) if "--paths" in args
                                   else _SWEEP_PATHS)
                variants.append({"file": e, "params": params, "seed": seed, "paths": paths})
        if not needles and repeated:  # checked once every variant is valid
            needles.append("repeated variant")
        if needles:
            expect = 2
        else:
            for flag, key in (("--seed", "simulation.seed"), ("--paths", "simulation.paths")):
                if flag in args and any(key in v["params"] for v in variants):
                    expect, needles = 2, [flag, key]
        if expect != 2 and len(variants) > 12:
            return None  # too many variants for a quick case
    check_numbers = expect != 2 and (choice == 7 or rng.random() < 0.4)
    refs = sorted(rng.sample(range(len(variants)), min(len(variants), 4 if choice == 7 else 1))) \
        if check_numbers and variants else []

    def steps(root: Path, case: Case) -> tuple[int | None, str, str | None]:
        out = root / "_out"
        argv = ["sweep", *(str(root / e) for e in entries)]
        for f in flags:
            argv += ["--sweep", f]
        argv += [*args, "--out", str(out), "--quiet", "--format", ",".join(formats)]
        rc, _, err, _, fail = _call_main(argv, 60.0)
        if fail is not None:
            return rc, err, fail
        if rc not in (0, 2):
            return rc, err, f"exit {rc}: {err.strip()[-300:]}"
        if expect == 2 and rc == 0:
            return rc, err, "bad input accepted (exit 0)"
        if expect == 0 and rc == 2:
            return rc, err, f"good input refused: {err.strip()[-300:]}"
        if rc == 2:
            failure = _check_flag_messages(case, root, err, needles)
            left = _snapshot(out)
            if failure is None and any(n.startswith(("summary.", "variants")) for n in left):
                failure = f"a refused sweep left files: {sorted(left)[:4]}"
            return rc, err, failure
        if expect is None:  # accepted either way: the variants are those of the values read
            return rc, err, _check_sweep_out(out, None, formats)
        failure = _check_sweep_out(out, variants, formats)
        for i in refs if failure is None else []:
            failure = _check_against_run(root, out, i, variants[i])
            if failure is not None:
                break
        return rc, err, failure

    shown = " ".join(f"--sweep {f!r}" for f in flags) + (" " + " ".join(args) if args else "")
    table = tables.get(entry)
    if table is not None:
        shown = f"[sweep] {table[0].strip()!r} " + shown
    return Case("sweep", f"{label}: {shown}"[:300], files, entry, expect=None if expect is None
                else ("ok" if expect == 0 else "error"), steps=steps, no_run=True, timeout=60.0)


def _same_params(got: Any, want: dict) -> bool:
    want = json.loads(json.dumps(want, default=str))
    return isinstance(got, dict) and got == want and list(got) == list(want)


def _check_sweep_out(out: Path, variants: list[dict] | None,
                     formats: tuple[str, ...]) -> str | None:
    """A finished sweep's folder: the folder invariants, the expected variants (params, seed,
    paths in batch.json and each variant's provenance), and summary.csv made of one block of
    rows per variant, in order, each equal to the variant's own file. ``variants`` None:
    whatever variants batch.json lists."""
    import numpy as np

    snap = _snapshot(out)
    try:
        batch = json.loads(snap["batch.json"].decode("utf-8"))
        items = batch["variants"]
        n = len(items)
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as e:
        return f"unreadable batch.json: {type(e).__name__}: {e}"
    failure = _check_folder({}, snap, 0, "sweep", _sweep_names(n, formats))
    if failure is not None:
        return failure
    if variants is not None and n != len(variants):
        return f"batch.json lists {n} variants, expected {len(variants)}"
    labels = []
    for i, item in enumerate(items):
        try:
            prov = json.loads(snap[f"variants/{i:04d}.json"].decode("utf-8"))
            resolved = tomllib.loads(snap[f"variants/{i:04d}.resolved.toml"].decode("utf-8"))
        except (ValueError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            return f"variant {i}: unreadable file: {e}"
        if variants is not None:
            want = variants[i]
            if not _same_params(item.get("params"), want["params"]):
                return f"variant {i}: params {item.get('params')!r}, expected {want['params']!r}"
            for what, src in (("batch.json", item), (f"variants/{i:04d}.json", prov)):
                if (src.get("seed"), src.get("paths")) != (want["seed"], want["paths"]):
                    return (f"variant {i}: {what} says seed {src.get('seed')}, paths "
                            f"{src.get('paths')}; expected seed {want['seed']}, paths {want['paths']}")
            for key, value in want["params"].items():
                got = _resolved_value(resolved, key)
                if _is_number(value) and not (_is_number(got) and float(got) == float(value)) \
                        or key in ("title", "model.copula", "report.levels") and got != value:
                    return (f"variant {i}: the resolved scenario has {key} = {got!r}, the "
                            f"variant's value is {value!r}")
        labels.append(str(item.get("label")))
    if len(set(labels)) != n:
        return f"repeated variant labels: {labels}"
    try:
        summary = _read_table(snap["summary.csv"])
        listing = _read_table(snap["variants.csv"])
    except Exception as e:  # noqa: BLE001
        return f"unreadable summary.csv / variants.csv: {type(e).__name__}: {e}"
    if len(listing) != n:
        return f"variants.csv has {len(listing)} rows for {n} variants"
    if "variant" not in summary.columns:
        return "summary.csv has no variant column"
    col = summary["variant"].astype(str).tolist()
    blocks = [v for j, v in enumerate(col) if j == 0 or col[j - 1] != v]
    if blocks != labels:
        return f"summary.csv's blocks of rows are {blocks[:6]}, expected one per variant: {labels[:6]}"
    for i, label in enumerate(labels):
        block = summary[summary["variant"].astype(str) == label].reset_index(drop=True)
        own = _read_table(snap[f"variants/{i:04d}.csv"])
        d = _rows_differ(block, own)
        if d is not None:
            return f"summary.csv's rows of variant {i} are not variants/{i:04d}.csv's: {d}"
        for key, value in (variants[i]["params"] if variants is not None else {}).items():
            if key not in block.columns:
                return f"summary.csv has no column for the swept key {key}"
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                import pandas as pd

                cells = pd.to_numeric(block[key], errors="coerce").to_numpy(dtype=float)
                if not np.all(cells == float(value)):
                    return f"summary.csv's {key} column of variant {i} is not {value!r}"
            elif isinstance(value, str) and block[key].astype(str).tolist() != [value] * len(block):
                return f"summary.csv's {key} column of variant {i} is not {value!r}"
    import pandas as pd

    for c in ("value", "se"):
        v = pd.to_numeric(summary[c], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(v).all():
            return f"summary.csv: {int((~np.isfinite(v)).sum())} non-finite {c}s"
    try:
        if "parquet" in formats and len(pd.read_parquet(out / "summary.parquet")) != len(summary):
            return "summary.parquet and summary.csv differ in length"
        if "xlsx" in formats:
            import zipfile

            with zipfile.ZipFile(out / "summary.xlsx") as z:
                if z.testzip() is not None:
                    return "summary.xlsx is corrupt"
    except Exception as e:  # noqa: BLE001
        return f"unreadable table: {type(e).__name__}: {e}"
    return None


def _resolved_value(resolved: dict, key: str) -> Any:
    """``key`` (dotted; named arrays by name) in a resolved scenario, or None."""
    cur: Any = resolved
    for part in key.split("."):
        if isinstance(cur, list):
            cur = next((x for x in cur if isinstance(x, dict) and x.get("name") == part), None)
        elif isinstance(cur, dict):
            cur = cur.get(part)
        else:
            return None
    return cur


def _check_against_run(root: Path, out: Path, i: int, want: dict) -> str | None:
    """Variant ``i`` of a sweep gives the numbers of a plain ``run`` of its values (its seed
    and paths passed as --seed and --paths, every other value as --set)."""
    ref = root / f"_ref{i}"
    argv = ["run", str(root / want["file"]), "--paths", str(want["paths"]), "--seed",
            str(want["seed"]), "--out", str(ref), "--quiet", "--set", "sweep={}"]
    for key, value in want["params"].items():
        if key not in ("simulation.seed", "simulation.paths"):
            argv += ["--set", f"{key}={_toml_value(value)}"]
    rc, _, err, _, fail = _call_main(argv, 60.0)
    if fail is not None or rc != 0:
        return f"the plain run of variant {i} fails: {fail or err.strip()[-300:]}"
    d = _rows_differ(_read_table((out / f"variants/{i:04d}.csv").read_bytes()),
                     _read_table((ref / "summary.csv").read_bytes()))
    return None if d is None else f"variant {i} differs from a plain run of its values: {d}"
