"""Fuzz simpool's inputs: mutated scenarios and loan tapes through the real command line.

Every bad scenario or loan tape must end in exit code 2 with every problem printed to stderr
as ``file[:line]: dotted.path: message`` (the line may be absent when there is none, e.g. a
``--set`` value or a whole-file problem): never a traceback, a hang, a silently wrong
number or a partial output file. This module generates mutated inputs, runs each through
:func:`simpool.cli.main` in-process (``validate``, and for a sample also ``run --paths 50``)
and classifies the outcome:

``ok``
    exit 0 (and, for a run, complete output files with finite figures);
``error``
    a clean error: exit 2 and every stderr line shaped ``file[:line]: [path: ]message`` with a
    line number inside the file, and where the mutation is known to be bad, the problem
    reported at the mutated key's line (``folders``: a sequence whose last command is a
    refusal it expects);
``FAILURE``
    anything else: exit 1 ("internal error" or an I/O error for bad input), an exception
    escaping ``main``, exit 2 without a located message, a known-bad input accepted, a wrong
    line, a run that disagrees with ``validate``, a partial output folder (``summary.csv``
    after a nonzero exit; a missing, unreadable or non-finite file after exit 0), numeric
    warnings during a run, or a hang (per-case timeout).

Mutation kinds (``KINDS``):

``types``       wrong types for every kind of field (string for number, list for table, table
                for list, bool for number, control characters in names);
``missing``     a key or table removed;
``extra``       extra or misspelled keys at every level (``[[funds]]``, ``[[funds.stages]]``,
                ``[[stress]]``, ``[sweep]``, ``policy.sharing`` ...);
``numbers``     NaN / inf / negative / huge numbers (``1e308``, ``10**400`` as a TOML integer,
                ``"1e308亿"``);
``extremes``    a number at or just inside the edge its field allows, always simulated;
``combo``       two to four of the above at once;
``inflate``     a list made long (thousands of cohorts, pools, funds, sectors, thresholds);
``text``        whole-file damage: empty, binary junk, truncation, GBK, BOM, UTF-16, CRLF,
                doubled lines (duplicate keys), deep nesting, 10,000-digit integers, NUL bytes;
``extends``     cycles, missing bases, directories, FIFOs, NUL bytes, long names, bad bases;
``loans_file``  path traversal, absolute paths, directories, FIFOs, symlink loops, NUL bytes,
                long names, odd ``portfolio.encoding`` values;
``tape``        CSV tapes with bad rows (NaN, negative exposure, pd > 1, unknown sector, blank
                cells, extra fields; the reported line is checked), empty, header only, GBK,
                BOM, UTF-16, binary junk, zip/xls/Parquet bytes, other separators and line ends,
                guaranteed/insured rows with and without their guarantor/insurer;
``parquet``     Parquet tapes with bad values (``(row N)`` checked), odd types, no rows, damage;
``set``         bad ``--set`` and ``--stress`` flags;
``bigtape``     one 1,000,000-row CSV tape with one bad row near the end (its line checked);
``sweep``       ``simpool sweep`` with mutated axes: comma lists that read as one number with
                thousands separators (``1,500,000``, ``300,700``) and near misses (``1,50``),
                TOML arrays (valid, empty, malformed, nested, mixed types), no ``=``, no key
                or value, the same axis twice, unknown keys, bad values, seed and paths axes
                with and without ``--seed`` / ``--paths``, ``[sweep]`` tables of every shape,
                two files. The expected outcome is worked out from the documented rules:
                exit 0 with a complete folder (every file in the manifest with its SHA-256,
                the expected variants with their seeds and paths in batch.json, provenance and
                resolved scenarios, summary.csv one block of rows per variant equal to the
                variant's own file, and for some variants the numbers of a plain ``run`` of
                its values), or exit 2 with located messages naming the problem; never exit 1;
``folders``     commands in sequence into one ``--out``: a run into a sweep's folder and the
                reverse (exit 2, nothing changed), foreign files (notes, ``variants/0000.csv``,
                a bogus ``batch.json``), a bogus or truncated manifest, a stale lock, a lock
                held by a live process (exit 1 naming its pid, nothing changed), ``--fresh``,
                a variant or run file edited (GBK, Excel line ends, rounded values, cut,
                deleted: rerun, with a message), ``--format`` changed between reruns. After
                every command: no temporary or lock file; the manifest lists exactly the files
                of the command with their checksums; a file simpool did not write is never
                deleted or changed; a finished command's summary.csv is byte-identical to the
                same command's into an empty folder;
``taperows``    tape rows as people write them: repeated loan ids (``loan_id``, ``id``,
                借据号, ``name``, ...; ``allow_duplicate_ids``), repeating borrower names
                (借款人, 企业名称: ok), Excel total rows (合计, 总计, 小计, Total ... in any
                column, in the middle or at the end, unlabelled sums, GBK), amounts in 万元
                under a header without unit (a warning; with the unit in the header or the
                cells, the numbers of the same tape in yuan), product names in Chinese and
                English (the numbers of the same tape with canonical names) and unknown ones,
                guaranteed and insured rows with and without their guarantor / insurer, values
                outside the typical ranges (warnings at the first line). Every error and
                warning is checked at its line with its message.

The ``sweep``, ``folders`` and ``taperows`` kinds run their own commands (``Case.steps``)
or check more than the exit code (``Case.verify``); a usage message ``simpool: --flag ...``
counts as located at its flag.

Mutations start from the shipped scenarios (``scenarios/``, when this is a source checkout)
and from small synthetic ones that cover what those leave out (``[sweep]``, a
``policy.sharing`` table, stage outcomes, importance sampling, a loan tape).

Command line::

    python -m simpool.testing.fuzz                       # 2,000 cases, seed 0, every kind
    python -m simpool.testing.fuzz --cases 50000 --seed 7 --run-fraction 0.05 --keep /tmp/fails
    python -m simpool.testing.fuzz --kinds tape parquet --cases 500
    python -m simpool.testing.fuzz --kinds sweep folders taperows --cases 3000 --seed 5

Exit status 0 when no case failed, 1 otherwise (each failure is printed with its reason).
"""

from __future__ import annotations

import argparse
import contextlib
import csv as _csv
import hashlib
import io
import itertools
import json
import math
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import tomllib
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["KINDS", "Case", "Outcome", "generate", "run_case", "fuzz", "main"]

#: Mutation kinds, in the order cases are dealt out.
KINDS = ("types", "missing", "extra", "numbers", "extremes", "combo", "inflate", "text",
         "extends", "loans_file", "tape", "parquet", "set", "bigtape", "sweep", "folders",
         "taperows")

#: Whole-file or flag messages without a ``path`` part that are fine as they are.
_FLAG_PREFIXES = ("--set", "--stress", "--sweep", "--format", "--paths", "--seed", "--threads",
                  "--chunk-size", "sweep")

# ----------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One fuzzed input.

    ``files`` maps paths relative to the case folder to their bytes; ``entry`` is the scenario
    handed to the CLI. ``expect`` is ``"error"`` (must exit 2), ``"ok"`` (must exit 0) or None
    (either). ``at`` lists ``(file, needle)``: some problem must be reported in that file at a
    line whose text contains ``needle`` (``needle`` None: at the file without a line; an int:
    exactly that line).
    """

    kind: str
    label: str
    files: dict[str, bytes]
    entry: str
    args: list[str] = field(default_factory=list)
    expect: str | None = None
    at: list[tuple[str, Any]] = field(default_factory=list)
    run: bool = False
    setup: Callable[[Path], None] | None = None
    timeout: float = 20.0
    no_run: bool = False  # too slow to simulate even with 50 paths (e.g. 20,000 cohorts)
    #: a further check after ``validate`` is classified: ``verify(root, rc, stderr)`` ->
    #: None, or why the case fails (a message missing, two spellings that run differently)
    verify: Callable[[Path, int, str], str | None] | None = None
    #: commands of their own instead of ``validate`` (and ``run``): ``steps(root, case)`` ->
    #: ``(last exit code, stderr, None or why the case fails)`` (kinds sweep and folders)
    steps: Callable[[Path, "Case"], tuple[int | None, str, str | None]] | None = None


@dataclass
class Outcome:
    case: Case
    status: str  # "ok", "error" or "FAILURE"
    reason: str = ""
    rc: int | None = None
    stderr: str = ""
    seconds: float = 0.0
    ran: bool = False


class _Timeout(BaseException):
    """Raised in the main thread when a case runs past its time (a hang)."""


# ----------------------------------------------------------------------------- sources

_SYN_SMALL = """\
title = "fuzz: small"

[simulation]
paths = 2000
seed = 5
start_year = 2025
horizon_years = 2

[model]
copula = "t"
dof = 5
sectors = ["alpha", "beta"]
sector_correlation = [[1.0, 0.3], [0.3, 1.0]]
factor_persistence = 0.2

[[cohorts]]
name = "ip_pledge"
loans = 300
exposure = "100万"
pd = 0.03
lgd = 0.5
lgd_std = 0.1
rho = 0.15
sector = "alpha"
term_years = 2
growth = 0.1

[[cohorts]]
name = "credit"
loans = 20
exposure = 2500000
pd = 0.02
lgd = 0.45
rho = 0.12
sector = "beta"
mode = "loans"

[report]
levels = [0.95, 0.99]
exceedance = ["500万", 1e8]
depletion_target = 0.05

[[stress]]
name = "bad year"
year = 2026
quantile = 0.01
sectors = ["alpha"]

[sweep]
"cohorts.ip_pledge.pd" = [0.02, 0.04]
simulation.horizon_years = [2, 3]
"""

_SYN_POLICY = """\
title = "fuzz: policy"

[simulation]
paths = 1000
horizon_years = 3

[model]
sectors = ["tech"]

[policy]
claim_lag_days = 60
recovery_timing = "curve"
lending_feedback = false

[policy.sharing]
national_fund = 0.2
reguarantor = 0.2
guarantor = 0.3
bank = 0.2
government = 0.1

[government]
fund = "5亿"
annual_budget = "1亿"
annual_cap = "2亿"

[[banks]]
name = "bank_a"
overall_npl_tolerance = 0.03

[[guarantors]]
name = "g1"
net_assets = "20亿"
fee_rate = 0.01
leverage_cap = 8

[reguarantor]
net_assets = "50亿"

[[pools]]
name = "sme"
preset = "provincial_sme"
cash = "10亿"
corridor = [0.0, 0.5]
annual_cap = "3亿"

[[insurers]]
name = "ins"
premium_rate = 0.015

[insurance_pool]
cash = "10亿"
mode = "quota_share"
beta = 0.4

[[cohorts]]
name = "guaranteed"
loans = 500
exposure = "300万"
pd = 0.03
lgd = 0.5
rho = 0.15
product = "guaranteed"
guarantor = "g1"
first_loan = true

[[cohorts]]
name = "credit"
loans = 400
exposure = "200万"
pd = 0.025
lgd = 0.55
rho = 0.15
pool = "sme"
amortization = "linear"
term_years = 3

[[cohorts]]
name = "insured"
loans = 100
exposure = "100万"
pd = 0.04
lgd = 0.6
rho = 0.12
product = "insured"
insurer = "ins"
"""

_SYN_FUND = """\
title = "fuzz: fund"

[simulation]
paths = 1000
horizon_years = 2

[model]
sectors = ["market"]

[[funds]]
name = "angel"
size = "5亿"
government_share = 0.8
life_years = 8
investment_years = 4
deals_per_year = 10
management_fee = 0.02
carry = 0.2
hurdle = 0.08
catch_up = true
profit_concession = 0.5
first_loss = 0.1
tolerance = 0.5
tolerance_basis = "portfolio_weighted"

[funds.outcomes]
preset = "vc_harsh"
alpha = 1.05

[[funds.stages]]
name = "seed"
share = 0.5
ticket = "200万"

[funds.stages.outcomes]
p_loss = 0.4
p_partial = 0.2
alpha = 0.9
cap = 150

[[funds.stages]]
name = "angel"
share = 0.5
ticket = "500万"

[[stress]]
year = 2025
z = -2.0
"""

_SYN_IS = """\
title = "fuzz: importance sampling"

[simulation]
paths = 1000
horizon_years = 1

[model]
sectors = ["a", "b"]

[importance_sampling]
method = "shift"
shift = [-1.0, -0.5]
defensive = 0.2
target = "5亿"

[[cohorts]]
name = "c"
loans = 1000
exposure = "100万"
pd = 0.02
lgd = 0.5
rho = 0.2
sector = "a"

[[cohorts]]
name = "d"
loans = 500
exposure = "100万"
pd = 0.02
lgd = 0.5
rho = 0.2
sector = "b"
"""

_SYN_TAPE = """\
title = "fuzz: tape"

[simulation]
paths = 1000

[model]
sectors = ["alpha", "beta", "gamma"]

[portfolio]
loans_file = "loans.csv"
"""

TAPE_SECTORS = ("alpha", "beta", "gamma")


def _shipped_root() -> Path | None:
    root = Path(__file__).resolve().parents[2] / "scenarios"
    return root if (root / "hubei_base.toml").is_file() else None


@dataclass
class Source:
    """A starting scenario: its entry path, the files it needs and its parsed data."""

    entry: str
    files: dict[str, bytes]
    data: dict

    @property
    def text(self) -> str:
        return self.files[self.entry].decode("utf-8-sig")


def _tape_csv(rng: random.Random, n: int) -> tuple[list[str], list[list[str]]]:
    header = ["name", "exposure", "pd", "lgd", "rho", "sector"]
    rows = []
    for i in range(n):
        rows.append([f"L{i + 1}", str(rng.choice([100000, 1500000, 2500000, 8000000])),
                     f"{rng.uniform(0.005, 0.08):.4f}", f"{rng.uniform(0.2, 0.8):.3f}",
                     f"{rng.uniform(0.05, 0.25):.3f}", rng.choice(TAPE_SECTORS)])
    return header, rows


def _csv_bytes(header: list[str], rows: list[list[str]], sep: str = ",") -> bytes:
    buf = io.StringIO()
    w = _csv.writer(buf, delimiter=sep, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def sources() -> list[Source]:
    """The starting scenarios: shipped ones (with their bases) and synthetic ones."""
    out: list[Source] = []
    root = _shipped_root()
    if root is not None:
        texts = {str(p.relative_to(root)).replace(os.sep, "/"): p.read_bytes()
                 for p in sorted(root.rglob("*.toml"))}
        for rel, data in texts.items():
            files = {rel: data}
            parsed = tomllib.loads(data.decode("utf-8-sig"))
            cur, cur_data = rel, parsed
            for _ in range(8):  # the extends chain
                base = cur_data.get("extends")
                if not isinstance(base, str):
                    break
                cur = os.path.normpath(os.path.join(os.path.dirname(cur), base)).replace(os.sep, "/")
                if cur not in texts:
                    break
                files[cur] = texts[cur]
                cur_data = tomllib.loads(texts[cur].decode("utf-8-sig"))
            out.append(Source(rel, files, parsed))
    rng = random.Random(12345)
    header, rows = _tape_csv(rng, 40)
    for name, text in (("synthetic/small.toml", _SYN_SMALL), ("synthetic/policy.toml", _SYN_POLICY),
                       ("synthetic/fund.toml", _SYN_FUND), ("synthetic/is.toml", _SYN_IS),
                       ("synthetic/tape.toml", _SYN_TAPE)):
        files = {name: text.encode("utf-8")}
        if "loans.csv" in text:
            files["synthetic/loans.csv"] = _csv_bytes(header, rows)
        out.append(Source(name, files, tomllib.loads(text)))
    return out


# ----------------------------------------------------------------------------- data walking


def _nodes(data: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every (path, value) below ``data`` (tables, arrays and leaves), depth first."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield path + (k,), v
            yield from _nodes(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield path + (i,), v
            yield from _nodes(v, path + (i,))


def _get(data: Any, path: tuple) -> Any:
    for p in path:
        data = data[p]
    return data


def _set(data: Any, path: tuple, value: Any) -> None:
    _get(data, path[:-1])[path[-1]] = value


def _delete(data: Any, path: tuple) -> None:
    parent = _get(data, path[:-1])
    del parent[path[-1]]


def _key_of(path: tuple) -> str | None:
    """The last key name of a path (what the mutated line holds)."""
    for p in reversed(path):
        if isinstance(p, str):
            return p
    return None


def _dumps(data: dict) -> bytes | None:
    import tomli_w

    try:
        return tomli_w.dumps(data).encode("utf-8")
    except Exception:  # noqa: BLE001 - a value tomli_w cannot write: no case
        return None


def _copy(data: Any) -> Any:
    import copy

    return copy.deepcopy(data)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_MONEY_RE = re.compile(r"^\s*[-+]?[\d.,_eE+]+\s*(万|亿|千万|百万|元)?\s*元?\s*$")


def _in_sweep(path: tuple) -> bool:
    return bool(path) and path[0] == "sweep"


# ----------------------------------------------------------------------------- generators


def _with(src: Source, data: dict) -> dict[str, bytes] | None:
    text = _dumps(data)
    if text is None:
        return None
    files = dict(src.files)
    files[src.entry] = text
    return files


_WRONG = {
    # category of the original value -> [(replacement, always invalid?)]
    "number": [("abc", True), (True, True), ([1, 2], True), ({"a": 1}, True), ("", True)],
    "str": [(True, True), ([1, 2], True), ({"a": 1}, True), (7, False), (["x"], True),
            ("x\u0007y", False), ("", False), ("名\u3000称", False)],
    "bool": [(7, True), ("abc", True), ([True], True), ({"a": True}, True)],
    "list": [({"a": 1}, True), ("abc", True), (7, True), (True, True)],
    "dict": [([1, 2], True), ("abc", True), (7, True), (False, True), ([], True)],
}


def _category(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if _is_number(v):
        return "number"
    if isinstance(v, str):
        return "str"
    if isinstance(v, list):
        return "list"
    return "dict"


def gen_types(rng: random.Random, src: Source) -> Case | None:
    nodes = [(p, v) for p, v in _nodes(src.data) if p != ("extends",)]
    if not nodes:
        return None
    path, value = rng.choice(nodes)
    new, always = rng.choice(_WRONG[_category(value)])
    new = _copy(new)
    if isinstance(value, list) and path and path[-1] == "sweep":
        always = True
    data = _copy(src.data)
    _set(data, path, new)
    files = _with(src, data)
    if files is None:
        return None
    key = _key_of(path)
    expect = "error" if always else None
    at = []
    if always and key:
        at = [(src.entry, None if _in_sweep(path) else key)]
    return Case("types", f"{src.entry}: {_fmt_path(path)} = {new!r} (was {_short(value)})",
                files, src.entry, expect=expect, at=at)


def gen_missing(rng: random.Random, src: Source) -> Case | None:
    nodes = [p for p, _ in _nodes(src.data)]
    if not nodes:
        return None
    path = rng.choice(nodes)
    data = _copy(src.data)
    _delete(data, path)
    files = _with(src, data)
    if files is None:
        return None
    return Case("missing", f"{src.entry}: without {_fmt_path(path)}", files, src.entry)


def _misspell(rng: random.Random, word: str) -> str:
    if not word:
        return "x"
    i = rng.randrange(len(word))
    op = rng.randrange(5)
    letters = "abcdefghijklmnopqrstuvwxyz_"
    if op == 0:
        return word[:i] + word[i + 1:] or word + "s"
    if op == 1:
        return word[:i] + rng.choice(letters) + word[i:]
    if op == 2 and len(word) > 1:
        j = min(i + 1, len(word) - 1)
        s = list(word)
        s[i], s[j] = s[j], s[i]
        return "".join(s)
    if op == 3:
        return word[:i] + rng.choice(letters) + word[i + 1:]
    return word + rng.choice(["s", "_", "2", "x", "_rate"])


def _allowed_keys(path: tuple) -> set[str] | None:
    from ..scenario.core import _model_for

    try:
        cls = _model_for(path)
    except Exception:  # noqa: BLE001
        return None
    if cls is None:
        return None
    out = set(cls.model_fields)
    if path == ():
        out.add("extends")
    return out


def gen_extra(rng: random.Random, src: Source) -> Case | None:
    tables = [((), src.data)] + [(p, v) for p, v in _nodes(src.data) if isinstance(v, dict)]
    path, table = rng.choice(tables)
    data = _copy(src.data)
    target = _get(data, path)
    if _in_sweep(path) and len(path) == 1:
        if not table:
            return None
        old = rng.choice(list(table))
        parts = old.split(".")
        parts[-1] = _misspell(rng, parts[-1])
        new_key = ".".join(parts)
        if new_key == old or new_key in table:
            return None
        target[new_key] = table[old]
        needle = parts[-1]
        # the new key's line: quoted dotted keys are written as they are
    elif _in_sweep(path):
        return None  # a nested sweep table is a dotted key; covered above
    else:
        allowed = _allowed_keys(path)
        if allowed is None:
            return None
        base = rng.choice(sorted(table)) if table and rng.random() < 0.8 else \
            rng.choice(["nmae", "cohort", "fund", "stage", "seeed", "paths_", "外键", "x y"])
        new_key = _misspell(rng, base) if rng.random() < 0.9 else base
        if new_key in allowed or new_key in table:
            return None
        value = table[base] if base in table else rng.choice([1, "x", 0.5, True, [1], {"a": 1}])
        target[new_key] = _copy(value)
        needle = new_key
    files = _with(src, data)
    if files is None:
        return None
    return Case("extra", f"{src.entry}: extra key {_fmt_path(path + (new_key,))}", files,
                src.entry, expect="error", at=[(src.entry, needle)])


_BAD_NUMBERS = [math.nan, math.inf, -math.inf, 10**400, -(10**400), "nan", "-inf", "1e400",
                "1e308亿", "nan万"]
_ODD_NUMBERS = [1e308, -1e308, -1, -1.5, 0, 0.0, -0.0, 1e-320, 2**63, 2**63 - 1, 10**19, 1e15,
                1e16, 1.0, 2, 0.5, 100, 10**12, 10**13, 1e-9, 0.999999, "1e15", "-5亿", "0万"]


def gen_numbers(rng: random.Random, src: Source) -> Case | None:
    nodes = [(p, v) for p, v in _nodes(src.data)
             if _is_number(v) or (isinstance(v, str) and _MONEY_RE.match(v) and p[-1] != "name")]
    if not nodes:
        return None
    path, value = rng.choice(nodes)
    bad = rng.random() < 0.4
    new = rng.choice(_BAD_NUMBERS if bad else _ODD_NUMBERS)
    data = _copy(src.data)
    _set(data, path, new)
    files = _with(src, data)
    if files is None:
        return None
    key = _key_of(path)
    at = [(src.entry, key)] if bad and key and not _in_sweep(path) else []
    return Case("numbers", f"{src.entry}: {_fmt_path(path)} = {_short(new)}", files, src.entry,
                expect="error" if bad else None, at=at)


def _field_bounds(path: tuple) -> tuple[float | None, bool, float | None, bool, bool] | None:
    """(low, low inclusive, high, high inclusive, integer) of the numeric field at ``path``."""
    from ..scenario.core import _model_for

    keys = [p for p in path if isinstance(p, str)]
    if not keys:
        return None
    parent = path[: len(path) - 1 - next(i for i, p in enumerate(reversed(path)) if isinstance(p, str))]
    try:
        cls = _model_for(tuple(parent))
    except Exception:  # noqa: BLE001
        return None
    f = getattr(cls, "model_fields", {}).get(keys[-1]) if cls is not None else None
    if f is None:
        return None
    lo = hi = None
    lo_inc = hi_inc = True
    for m in f.metadata:
        for attr, inc, is_lo in (("ge", True, True), ("gt", False, True), ("le", True, False),
                                 ("lt", False, False)):
            v = getattr(m, attr, None)
            if v is not None:
                if is_lo:
                    lo, lo_inc = float(v), inc
                else:
                    hi, hi_inc = float(v), inc
    ann = f.annotation
    integer = ann is int or (getattr(ann, "__args__", None) is not None and int in ann.__args__
                             and float not in ann.__args__)
    return lo, lo_inc, hi, hi_inc, integer


def _numeric_field(ann: Any) -> bool:
    import types as _types
    from typing import Union, get_args, get_origin

    if ann in (int, float):
        return True
    if get_origin(ann) in (Union, _types.UnionType):
        return any(a in (int, float) for a in get_args(ann))
    return False


def gen_extremes(rng: random.Random, src: Source) -> Case | None:
    """A number at (or just inside) the edge of what its field allows, then simulated: the
    run must give finite figures without numeric warnings, or validation must refuse it."""
    nodes = [(p, v) for p, v in _nodes(src.data) if _is_number(v) and not _in_sweep(p)]
    if rng.random() < 0.5:  # a field the source leaves at its default
        from ..scenario.core import _model_for

        tables = [((), src.data)] + [(p, v) for p, v in _nodes(src.data)
                                     if isinstance(v, dict) and not _in_sweep(p)]
        tpath, _ = rng.choice(tables)
        try:
            cls = _model_for(tpath)
        except Exception:  # noqa: BLE001
            cls = None
        fields = [k for k, f in getattr(cls, "model_fields", {}).items()
                  if _numeric_field(f.annotation)]
        nodes = [(tpath + (k,), None) for k in fields] or nodes
    if not nodes:
        return None
    path, value = rng.choice(nodes)
    b = _field_bounds(path)
    if b is None:
        return None
    lo, lo_inc, hi, hi_inc, integer = b
    cands: list[Any] = []
    for edge, inc, sign in ((lo, lo_inc, 1), (hi, hi_inc, -1)):
        if edge is None:
            cands += [sign * -1e15, sign * -1e300] if not integer else [sign * -(10**15)]
            continue
        if integer:
            e = int(math.ceil(edge)) if sign > 0 else int(math.floor(edge))
            cands.append(e if inc else e + sign)
        else:
            cands.append(edge if inc else math.nextafter(edge, edge + sign))
            cands.append(edge + sign * max(abs(edge), 1.0) * 1e-9)
    new = rng.choice(cands)
    data = _copy(src.data)
    _set(data, path, new)
    files = _with(src, data)
    if files is None:
        return None
    case = Case("extremes", f"{src.entry}: {_fmt_path(path)} = {new!r}", files, src.entry)
    case.run = True
    return case


def gen_combo(rng: random.Random, src: Source) -> Case | None:
    """Two to four of the mutations above at once (types, missing keys, extra keys, numbers)."""
    data = _copy(src.data)
    done = []
    for _ in range(rng.randrange(2, 5)):
        nodes = [(p, v) for p, v in _nodes(data) if p != ("extends",)]
        if not nodes:
            break
        path, value = rng.choice(nodes)
        op = rng.randrange(4)
        try:
            if op == 0:
                new, _ = rng.choice(_WRONG[_category(value)])
                _set(data, path, _copy(new))
            elif op == 1:
                _delete(data, path)
            elif op == 2 and isinstance(value, dict):
                value[_misspell(rng, rng.choice(sorted(value) or ["x"]))] = 1
            else:
                _set(data, path, _copy(rng.choice(_BAD_NUMBERS + _ODD_NUMBERS)))
        except (KeyError, IndexError, TypeError):
            continue
        done.append(f"{'~-+#'[op]}{_fmt_path(path)}")
    files = _with(src, data)
    if files is None or not done:
        return None
    return Case("combo", f"{src.entry}: {' '.join(done)}", files, src.entry)


#: Lengths the ``inflate`` kind gives a list (``max_items`` caps them).
INFLATE_SIZES = (200, 2000, 20000)


def gen_inflate(rng: random.Random, src: Source, max_items: int = 20000) -> Case | None:
    """A list made long: thousands of cohorts, sectors, stages, levels, thresholds, stresses."""
    lists = [(p, v) for p, v in _nodes(src.data) if isinstance(v, list) and v and not _in_sweep(p)]
    if not lists:
        return None
    path, items = rng.choice(lists)
    n = rng.choice([k for k in INFLATE_SIZES if k <= max_items] or [max(1, max_items)])
    data = _copy(src.data)
    big = []
    for i in range(n):
        item = _copy(items[i % len(items)])
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            item["name"] = f"{item['name']}_{i}"
        elif isinstance(item, str) and path[-1] in ("sectors",):
            item = f"{item}_{i}"
        big.append(item)
    _set(data, path, big)
    if path == ("model", "sectors"):
        data["model"].pop("sector_correlation", None)
    files = _with(src, data)
    if files is None:
        return None
    return Case("inflate", f"{src.entry}: {_fmt_path(path)} with {n:,} items", files, src.entry,
                timeout=30.0, no_run=n > 2000)


def _deep(n: int) -> str:
    return "x = " + "[" * n + "1" + "]" * n + "\n"


def gen_text(rng: random.Random, src: Source) -> Case | None:
    text = src.text
    raw = src.files[src.entry]
    choice = rng.randrange(16)
    expect, at = None, []
    if choice == 0:
        body, label, expect = b"", "empty file", "error"
    elif choice == 1:
        body, label, expect = b"  \n\t\n# only a comment\n", "blank file", "error"
    elif choice == 2:
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        label = "binary junk"
    elif choice == 3:
        cut = rng.randrange(len(raw) + 1)
        body, label = raw[:cut], f"truncated at byte {cut}"
    elif choice == 4:
        try:
            body = text.encode("gbk")
        except UnicodeEncodeError:
            return None
        label = "GBK-encoded"
        if body != text.encode("utf-8"):
            expect = "error"
    elif choice == 5:
        body, label = b"\xef\xbb\xbf" + text.encode("utf-8"), "UTF-8 with BOM"
        expect = "same"
    elif choice == 6:
        body, label = text.encode("utf-16"), "UTF-16"
        expect = "error"
    elif choice == 7:
        body, label = text.replace("\n", "\r\n").encode("utf-8"), "CRLF line ends"
        expect = "same"
    elif choice == 8:
        lines = text.split("\n")
        i = rng.randrange(len(lines))
        body = "\n".join(lines[:i] + lines[i + 1:]).encode("utf-8")
        label = f"line {i + 1} deleted"
    elif choice == 9:
        lines = text.split("\n")
        i = rng.randrange(len(lines))
        body = "\n".join(lines[:i + 1] + lines[i:]).encode("utf-8")
        label = f"line {i + 1} doubled"
    elif choice == 10:
        b = bytearray(raw)
        for _ in range(rng.randrange(1, 4)):
            if b:
                b[rng.randrange(len(b))] = rng.randrange(256)
        body, label = bytes(b), "bytes flipped"
    elif choice == 11:
        n = rng.choice([100, 1000, 5000, 50000])
        body, label, expect = (_deep(n) + text).encode("utf-8"), f"arrays nested {n} deep", "error"
        at = [(src.entry, 1)]
    elif choice == 12:
        digits = rng.choice([400, 4299, 4301, 10000])
        body = (text + f"\n[simulation_x]\nbig = 1{'0' * digits}\n").encode("utf-8")
        label, expect = f"{digits + 1}-digit integer", "error"
    elif choice == 13:
        body = (text + "\n[[cohorts]]\nname = \"" + "x" * 200000 + "\"\n").encode("utf-8")
        label, expect = "200,000-character name", "error"
    elif choice == 14:
        body = text.encode("utf-8") + b"\x00" + text.encode("utf-8")
        label, expect = "NUL byte in the middle", "error"
    else:
        body = ("a = \"\\uD800\"\n" + text).encode("utf-8")
        label, expect = "surrogate escape", "error"
    files = dict(src.files)
    files[src.entry] = body
    return Case("text", f"{src.entry}: {label}", files, src.entry, expect=expect, at=at)


def _fifo(name: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if hasattr(os, "mkfifo"):
            os.mkfifo(p)

    return setup


def _mkdir(name: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        (root / name).mkdir(parents=True, exist_ok=True)

    return setup


def gen_extends(rng: random.Random, srcs: list[Source]) -> Case | None:
    valid = [s for s in srcs if s.entry.startswith("synthetic/") or s.entry == "hubei_base.toml"]
    base = rng.choice(valid)
    choice = rng.randrange(14)
    files = {k: v for k, v in base.files.items() if k != base.entry}
    entry = "w/child.toml"
    child = '[simulation]\nseed = 9\n'
    setup = None
    expect, at = "error", [(entry, "extends")]
    if choice == 0:
        label, files[entry] = "extends itself", b'extends = "child.toml"\n' + child.encode()
    elif choice == 1:
        label = "a two-file cycle"
        files[entry] = b'extends = "other.toml"\n' + child.encode()
        files["w/other.toml"] = b'extends = "child.toml"\n'
        at = [("w/other.toml", "extends")]
    elif choice == 2:
        label = "a three-file cycle"
        files[entry] = b'extends = "b.toml"\n'
        files["w/b.toml"] = b'extends = "../c.toml"\n'
        files["c.toml"] = b'extends = "w/child.toml"\n'
        at = [("c.toml", "extends")]
    elif choice == 3:
        label, files[entry] = "missing base", b'extends = "../nope.toml"\n' + child.encode()
    elif choice == 4:
        target = rng.choice([".", "..", "sub", "/", "/tmp"])
        label = f"extends a directory {target!r}"
        files[entry] = f'extends = "{target}"\n{child}'.encode()
        setup = _mkdir("w/sub")
    elif choice == 5:
        label, files[entry] = "extends with a NUL byte", b'extends = "a\\u0000.toml"\n' + child.encode()
    elif choice == 6:
        label = "extends a 5000-character name"
        files[entry] = f'extends = "{"a" * 5000}.toml"\n{child}'.encode()
    elif choice == 7:
        bad = rng.choice(["5", "true", "[]", "{}", '""', '"   "', "1e400"])
        label, files[entry] = f"extends = {bad}", f"extends = {bad}\n{child}".encode()
    elif choice == 8:
        label = "extends a FIFO"
        files[entry] = b'extends = "pipe.toml"\n' + child.encode()
        setup = _fifo("w/pipe.toml")
    elif choice == 9:
        label = "extends binary junk"
        files[entry] = b'extends = "junk.toml"\n' + child.encode()
        files["w/junk.toml"] = bytes(rng.randrange(256) for _ in range(300))
        at = [("w/junk.toml", None)]
    elif choice == 10:
        # a base with a bad value: the problem is reported in the base, at its line
        data = _copy(base.data)
        # (not simulation.seed: the child sets it, so the base's value never counts)
        nums = [(p, v) for p, v in _nodes(data) if _is_number(v) and not _in_sweep(p)
                and p != ("simulation", "seed")]
        if not nums:
            return None
        path, _ = rng.choice(nums)
        _set(data, path, rng.choice(["abc", math.nan, True]))
        text = _dumps(data)
        if text is None:
            return None
        files["base.toml"] = text
        files[entry] = b'extends = "../base.toml"\n' + child.encode()
        label = f"the base has a bad {_fmt_path(path)}"
        at = [("base.toml", _key_of(path))]
        for k in list(files):  # keep the tape next to the base
            if k.endswith(".csv"):
                files[k.split("/")[-1]] = files.pop(k)
    elif choice == 11:
        label, expect, at = "extends by absolute path", "ok", []
        files["base.toml"] = base.files[base.entry]
        for k in list(files):
            if k.endswith(".csv"):
                files[k.split("/")[-1]] = files.pop(k)
        files[entry] = child.encode()

        def setup(root: Path, _e=entry) -> None:
            p = root / _e
            p.write_bytes(f'extends = "{(root / "base.toml").as_posix()}"\n'.encode() + p.read_bytes())
    elif choice == 12:
        n = rng.choice([5, 30])
        label, expect, at = f"a chain of {n} bases", "ok", []
        files["base.toml"] = base.files[base.entry]
        for k in list(files):
            if k.endswith(".csv"):
                files[k.split("/")[-1]] = files.pop(k)
        prev = "base.toml"
        for i in range(n):
            files[f"l{i}.toml"] = f'extends = "{prev}"\n'.encode()
            prev = f"l{i}.toml"
        files[entry] = f'extends = "../{prev}"\n{child}'.encode()
    else:
        label = "extends a file that is not TOML"
        files[entry] = b'extends = "notes.txt"\n' + child.encode()
        files["w/notes.txt"] = "这不是 TOML\n= = =\n".encode()
        at = [("w/notes.txt", None)]
    return Case("extends", label, files, entry, expect=expect, at=at, setup=setup)


def gen_loans_file(rng: random.Random, srcs: list[Source]) -> Case | None:
    tape_src = next(s for s in srcs if s.entry == "synthetic/tape.toml")
    files = dict(tape_src.files)
    choice = rng.randrange(17)
    setup = None
    expect = "error"
    value: Any
    encoding = None
    if choice == 0:
        value = "../../etc/passwd"
    elif choice == 1:
        value = "/etc/passwd"
    elif choice == 2:
        value = "../../../../../../../../etc/passwd.csv"
    elif choice == 3:
        value = rng.choice([".", "..", "/", "/tmp", "dir.csv"])
        setup = _mkdir("synthetic/dir.csv")
    elif choice == 4:
        value, setup = "pipe.csv", _fifo("synthetic/pipe.csv")
    elif choice == 5:
        value = "a\u0000.csv"
    elif choice == 6:
        value = "a" * rng.choice([300, 5000]) + ".csv"
    elif choice == 7:
        value = rng.choice([5, True, ["loans.csv"], {"a": 1}])
    elif choice == 8:
        value = rng.choice(["", " ", "loans", "loans.xlsx", "loans.CSV.bak"])
    elif choice == 9:
        value = "/dev/null.csv"
    elif choice == 10:
        value = "loop.csv"

        def setup(root: Path) -> None:
            with contextlib.suppress(OSError):
                os.symlink("loop.csv", root / "synthetic" / "loop.csv")
    elif choice == 11:
        value, expect = "../tapes/loans.csv", "ok"
        files["tapes/loans.csv"] = files.pop("synthetic/loans.csv")
    elif choice == 12:
        value, expect = None, "ok"  # absolute path, set up below

        def setup(root: Path) -> None:
            p = root / "synthetic" / "tape.toml"
            text = p.read_text(encoding="utf-8").replace(
                'loans_file = "loans.csv"',
                f'loans_file = "{(root / "synthetic" / "loans.csv").as_posix()}"')
            p.write_text(text, encoding="utf-8")
    elif choice == 13:
        value = "loans.csv"
        encoding = rng.choice(["rot13", "hex", "base64", "no-such-codec", "", "utf\u00008", "zlib",
                               "utf-32", 5, ["gbk"], "idna", "punycode", "undefined", "utf-7",
                               "unicode_escape", "cp037", "utf-16", "x" * 300])
        expect = None if encoding in ("idna", "punycode", "utf-32", "utf-7", "unicode_escape",
                                      "cp037", "utf-16") else "error"
    elif choice == 14:
        value = "/proc/self/status.csv"
    elif choice == 15:
        value = "loans.csv"
        encoding = rng.choice(["utf-8", "gbk", "UTF-8-SIG", "latin-1", "ascii"])
        expect = "ok"
    else:
        value = "~/loans.csv"
    text = tape_src.text
    if value is not None:
        import tomli_w

        text = text.replace('loans_file = "loans.csv"', tomli_w.dumps({"loans_file": value}).strip())
    if encoding is not None:
        import tomli_w

        text = text.replace("[portfolio]\n", "[portfolio]\n" + tomli_w.dumps({"encoding": encoding}))
    files[tape_src.entry] = text.encode("utf-8")
    at = [] if expect != "error" else [("*", None)]
    return Case("loans_file", f"loans_file = {_short(value)!r}" + (f", encoding = {encoding!r}"
                                                                   if encoding is not None else ""),
                files, tape_src.entry, expect=expect, at=at, setup=setup)


_BAD_CELLS = {
    "exposure": ["-1", "nan", "NaN", "inf", "-inf", "abc", "", "1e400", "1,5", "5万万", "1e308",
                 "TRUE", "1e999999"],
    "pd": ["1.5", "-0.1", "150%", "nan", "", "abc", "2", "inf", "0.5.1", "1e-400x"],
    "lgd": ["1.01", "-1", "", "x", "nan", "200%"],
    "rho": ["1", "1.0", "-0.5", "", "nan", "100%"],
    "sector": ["", "unknown", "ALPHA", "alpha ", " ", "行业"],
}
_BAD_SECTORS_OK = {"alpha "}  # trailing space: stripped, a valid sector


def gen_tape(rng: random.Random, srcs: list[Source]) -> Case | None:
    tape_src = next(s for s in srcs if s.entry == "synthetic/tape.toml")
    n = rng.choice([1, 2, 5, 30, 200])
    header, rows = _tape_csv(rng, n)
    choice = rng.randrange(11)
    entry = tape_src.entry
    files = dict(tape_src.files)
    if choice <= 4:
        # bad cells at known rows; optional quoted newlines before them shift the lines
        k = rng.randrange(1, min(3, n) + 1)
        bad_rows = sorted(rng.sample(range(n), k))
        expect = "error"
        cells = []
        for r in bad_rows:
            col = rng.choice(list(_BAD_CELLS))
            cell = rng.choice(_BAD_CELLS[col])
            if col == "sector" and cell in _BAD_SECTORS_OK:
                cell = "unknown"
            rows[r][header.index(col)] = cell
            cells.append((r, col, cell))
        if rng.random() < 0.3:
            for r in range(n):
                if rng.random() < 0.2:
                    rows[r][0] = f"L{r + 1}\nsecond line"
        sep = rng.choice([",", ",", ",", "\t", ";"])
        text = _csv_bytes(header, rows, sep).decode("utf-8")
        if rng.random() < 0.3:  # blank rows in between
            lines = text.split("\n")
            i = rng.randrange(1, len(lines))
            lines.insert(i, sep * 5 if rng.random() < 0.5 else "")
            text = "\n".join(lines)
        ends = rng.random()
        if ends < 0.2:
            text = text.replace("\n", "\r\n")
        elif ends < 0.3 and "\n" not in "".join(r[0] for r in rows):
            text = text.replace("\n", "\r")  # classic Mac
        data = text.encode("utf-8")
        if rng.random() < 0.2:
            data = b"\xef\xbb\xbf" + data
        # the physical line of each bad row, found independently of simpool
        lines_of = _physical_lines(data, sep)
        at = [("synthetic/loans.csv", lines_of[r]) for r, _, _ in cells]
        label = "bad cells " + ", ".join(f"{c}={v!r} on row {r + 1}" for r, c, v in cells)
    elif choice == 5:
        variants = [
            (b"", "empty tape"), (b"\n\n\n", "blank lines only"),
            (_csv_bytes(header, []), "header only"),
            (b"\xef\xbb\xbf" + _csv_bytes(header, []), "BOM and header only"),
            (bytes(rng.randrange(256) for _ in range(500)), "binary junk"),
            (b"PK\x03\x04" + bytes(100), "a zip archive"),
            (b"PAR1" + bytes(100), "Parquet bytes"),
            (_csv_bytes(header, rows).replace(b"\n", b"\x00\n"), "NUL bytes"),
            (_csv_bytes(header, rows)[: rng.randrange(1, 30)], "truncated header"),
            (b"\xd0\xcf\x11\xe0" + bytes(100), "an .xls workbook"),
            (('"unclosed,' + ",".join(header[1:]) + "\n").encode(), "unclosed quote in the header"),
        ]
        data, label = rng.choice(variants)
        expect, at = "error", [("synthetic/loans.csv", None)]
    elif choice == 6:
        zh = ["贷款编号", "贷款余额(万元)", "违约概率(%)", "违约损失率", "资产相关性", "行业"]
        zrows = [[r[0], str(float(r[1]) / 1e4), str(float(r[2]) * 100), r[3], r[4], r[5]] for r in rows]
        text = _csv_bytes(zh, zrows).decode("utf-8")
        how = rng.choice(["gbk", "utf-8-sig", "utf-16", "utf-8"])
        data = text.encode(how)
        label, expect, at = f"Chinese headers, {how}", "ok", []
        if rng.random() < 0.5 and n > 1:
            r = rng.randrange(n)
            zrows[r][2] = "150"
            data = _csv_bytes(zh, zrows).decode("utf-8").encode(how)
            lines_of = _physical_lines(_csv_bytes(zh, zrows))
            label += f", pd 150% on row {r + 1}"
            expect, at = "error", [("synthetic/loans.csv", lines_of[r])]
    elif choice == 7:
        r = rng.randrange(n)
        rows[r] = rows[r] + ["1", "000"]
        data = _csv_bytes(header, rows)
        label, expect = f"row {r + 1} has extra fields", "error"
        at = [("synthetic/loans.csv", _physical_lines(data)[r])]
    elif choice == 8:
        r = rng.randrange(n)
        rows[r][0] = '"unclosed'
        text = _csv_bytes(header, rows).decode().replace('"""unclosed"', '"unclosed')
        data = text.encode()
        label, expect, at = f"unclosed quote on row {r + 1}", None, []
    elif choice == 9:
        # guaranteed / insured rows need a guarantor / insurer: named, or the only one defined
        product = rng.choice(["guaranteed", "insured"])
        header = header + ["product"]
        for r in range(n):
            rows[r].append(product if rng.random() < 0.5 or r == 0 else "credit")
        data = _csv_bytes(header, rows)
        text = tape_src.text
        if rng.random() < 0.5:
            table = "guarantors" if product == "guaranteed" else "insurers"
            extra = 'net_assets = "10亿"\n' if table == "guarantors" else ""
            text += f'\n[[{table}]]\nname = "only"\n{extra}'
            files[entry] = text.encode("utf-8")
            label, expect, at = f"{product} rows, one {table[:-1]} defined", "ok", []
        else:
            line = text.splitlines().index("[portfolio]") + 1
            label, expect, at = f"{product} rows and no {'guarantor' if product == 'guaranteed' else 'insurer'}", \
                "error", [(entry, line)]
    else:
        # random junk in random cells: either ok or a clean, located error
        for _ in range(rng.randrange(1, 4)):
            r, c = rng.randrange(n), rng.randrange(len(header))
            rows[r][c] = rng.choice(["", " ", "\t", "—", "1e5", "１２", "5%", "5‰", "¥100",
                                     "100元", "0x10", "1_000", "+0.1", ".5", "5.", "∞", "None",
                                     "NULL", "#N/A", "\u200b", "0.1\u00a0", "1,000,000"])
        data = _csv_bytes(header, rows)
        label, expect, at = "random cells", None, []
    files["synthetic/loans.csv"] = data
    return Case("tape", label, files, entry, expect=expect, at=at, run=False)


def _physical_lines(data: bytes, sep: str = ",") -> list[int]:
    """1-based first line of each data row of a CSV (header excluded), via the csv module."""
    text = data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    reader = _csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    out, start = [], 1
    for i, rec in enumerate(reader):
        if i > 0 and any(x.strip() for x in rec):
            out.append(start)
        start = reader.line_num + 1
    return out


def gen_parquet(rng: random.Random, srcs: list[Source]) -> Case | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tape_src = next(s for s in srcs if s.entry == "synthetic/tape.toml")
    n = rng.choice([1, 3, 50])
    header, rows = _tape_csv(rng, n)
    cols: dict[str, list] = {h: [r[i] for r in rows] for i, h in enumerate(header)}
    arrays: dict[str, Any] = {
        "name": pa.array(cols["name"]),
        "exposure": pa.array([float(x) for x in cols["exposure"]]),
        "pd": pa.array([float(x) for x in cols["pd"]]),
        "lgd": pa.array([float(x) for x in cols["lgd"]]),
        "rho": pa.array([float(x) for x in cols["rho"]]),
        "sector": pa.array(cols["sector"]),
    }
    choice = rng.randrange(9)
    expect, at = "ok", []
    label = "valid Parquet"
    r = rng.randrange(n)
    if choice == 1:
        col = rng.choice(["exposure", "pd", "lgd", "rho"])
        vals = arrays[col].to_pylist()
        vals[r] = rng.choice([math.nan, -1.0, math.inf, None] + ([1e308, 1e16] if col == "exposure"
                                                                 else [1.5, 2.0]))
        arrays[col] = pa.array(vals, type=pa.float64())
        label, expect = f"{col} = {vals[r]!r} on row {r + 1}", "error"
        at = [("synthetic/loans.parquet", f"(row {r + 1})")]
    elif choice == 2:
        vals = arrays["sector"].to_pylist()
        vals[r] = rng.choice(["unknown", None, ""])
        arrays["sector"] = pa.array(vals, type=pa.string())
        if rng.random() < 0.5:
            arrays["sector"] = arrays["sector"].dictionary_encode()
        label, expect = f"sector {vals[r]!r} on row {r + 1}", "error"
        at = [("synthetic/loans.parquet", f"(row {r + 1})")]
    elif choice == 3:
        vals = [str(x) for x in arrays["exposure"].to_pylist()]
        vals[r] = rng.choice(["abc", "1.5亿", "-5", "nan"])
        arrays["exposure"] = pa.array(vals)
        label = f"text exposure {vals[r]!r} on row {r + 1}"
        expect = "ok" if vals[r] == "1.5亿" else "error"
        at = [] if expect == "ok" else [("synthetic/loans.parquet", f"(row {r + 1})")]
    elif choice == 4:
        arrays["pd"] = pa.array([True] * n)
        label, expect, at = "boolean pd column", "error", [("synthetic/loans.parquet", None)]
    elif choice == 5:
        arrays = {k: v.slice(0, 0) for k, v in arrays.items()}
        label, expect, at = "no rows", "error", [("synthetic/loans.parquet", None)]
    elif choice == 6:
        import decimal

        arrays["exposure"] = pa.array([decimal.Decimal(x) for x in cols["exposure"]],
                                      type=pa.decimal128(20, 2))
        label = "decimal exposure"
    elif choice == 7:
        del arrays["rho"]
        label, expect, at = "no rho column", "error", [("synthetic/loans.parquet", None)]
    buf = io.BytesIO()
    pq.write_table(pa.table(arrays), buf)
    data = buf.getvalue()
    if choice == 8:
        how = rng.choice(["truncated", "junk", "magic"])
        data = {"truncated": data[: rng.randrange(4, max(5, len(data) - 1))],
                "junk": bytes(rng.randrange(256) for _ in range(200)),
                "magic": b"PAR1" + bytes(rng.randrange(256) for _ in range(200)) + b"PAR1"}[how]
        label, expect, at = f"{how} Parquet file", "error", [("synthetic/loans.parquet", None)]
    files = {tape_src.entry: tape_src.text.replace("loans.csv", "loans.parquet").encode("utf-8"),
             "synthetic/loans.parquet": data}
    return Case("parquet", label, files, tape_src.entry, expect=expect, at=at)


_SET_BAD = [
    ("cohorts.{c}.pd", ["nan", "inf", "true", "1.5", "[1]", "{a=1}", '"abc"', "1" + "0" * 5000]),
    ("simulation.paths", ["0", "-1", "true", "1e400", "abc", "nan", "1" + "0" * 400]),
    ("model.copula", ["gauss", "1", "true"]),
    ("cohorts.{c}.pdd", ["0.1"]),
    ("cohorts.nope.pd", ["0.1"]),
    ("cohorts.99.pd", ["0.1"]),
    ("simulation.paths.x", ["1"]),
    ("simulation", ["5"]),
    ("cohorts", ['"abc"', "{}"]),
    ("a..b", ["1"]),
    (".x", ["1"]),
    ("x.", ["1"]),
    ("", ["1"]),
    ("simulation.seed", ["-1", "18446744073709551616", "1e19"]),
    ("stress", ["[{year = 2025}]", "[1]", "{}"]),
    ("sweep", ['{"cohorts.{c}.pd" = [true]}', "[1]"]),
    ("report.levels", ["[]", "[1.5]", "[nan]", '["a"]', "[true]"]),
    ("model.sectors", ["[]", '[""]', '["a", "a"]', "[1]"]),
]


def gen_set(rng: random.Random, src: Source) -> Case | None:
    cohorts = src.data.get("cohorts") or [{}]
    c = cohorts[0].get("name", "0") if isinstance(cohorts[0], dict) else "0"
    key, values = rng.choice(_SET_BAD)
    value = rng.choice(values)
    key = key.replace("{c}", str(c))
    value = value.replace("{c}", str(c))
    args = ["--set", f"{key}={value}"] if rng.random() < 0.9 else ["--set", key]
    if rng.random() < 0.15:
        args = ["--stress", rng.choice(["2026=abc", "x=0.5", "2026=nan", "2026=1.5", "1800=0.1",
                                        "2026=", "=0.1", "2026=0.01"])]
    expect = "error"
    if args[0] == "--stress" and args[1] == "2026=0.01":
        expect = None
    if key == "cohorts.99.pd" and str(c) == "0":
        expect = None
    return Case("set", f"{src.entry} {' '.join(args)[:120]}", dict(src.files), src.entry,
                args=args, expect=expect, at=[(args[0], None)] if expect else [])


def gen_bigtape(rng: random.Random, srcs: list[Source], rows: int = 1_000_000) -> Case:
    """A ``rows``-row CSV tape with one bad cell near the end (its line must be reported)."""
    import numpy as np

    tape_src = next(s for s in srcs if s.entry == "synthetic/tape.toml")
    g = np.random.default_rng(rng.randrange(2**32))
    exposure = g.choice([100000, 1500000, 2500000], rows).astype(str)
    pd_ = np.char.mod("%.4f", g.uniform(0.005, 0.05, rows))
    lgd = np.char.mod("%.3f", g.uniform(0.2, 0.8, rows))
    rho = np.char.mod("%.3f", g.uniform(0.05, 0.25, rows))
    sector = np.array(TAPE_SECTORS)[g.integers(0, 3, rows)]
    bad = rows - 1 - rng.randrange(min(1000, rows))
    col, cell = rng.choice([("pd", "1.5"), ("exposure", "-1"), ("rho", "nan"), ("sector", "unknown"),
                            ("lgd", "abc")])
    arrays = {"exposure": exposure, "pd": pd_, "lgd": lgd, "rho": rho, "sector": sector}
    arrays[col] = arrays[col].astype(object)
    arrays[col][bad] = cell
    body = "\n".join(",".join(map(str, t)) for t in zip(arrays["exposure"], arrays["pd"],
                                                          arrays["lgd"], arrays["rho"],
                                                          arrays["sector"]))
    data = ("exposure,pd,lgd,rho,sector\n" + body + "\n").encode("utf-8")
    files = dict(tape_src.files)
    files["synthetic/loans.csv"] = data
    return Case("bigtape", f"{rows:,}-row tape, {col}={cell!r} on line {bad + 2}", files,
                tape_src.entry, expect="error", at=[("synthetic/loans.csv", bad + 2)],
                timeout=240.0)


# ----------------------------------------------------------------------------- shared helpers
# (of the sweep, folders and taperows kinds: command sequences with their own checks)

_MANIFEST = "simpool-manifest.json"
_LOCK = ".simpool.lock"
#: Flags a ``simpool: --flag ...`` usage message may name (it is located at the flag).
_USAGE_FLAGS = ("--paths", "--seed", "--out", "--sweep", "--format", "--fresh", "--set",
                "--stress", "--threads", "--chunk-size")
#: Columns of a summary table (``summary.csv`` of a run, ``variants/NNNN.csv`` of a sweep).
_ROW_COLS = ("scenario", "year", "measure", "statistic", "param", "value", "se")


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` as ``{relative posix path: bytes}`` (empty if absent)."""
    out: dict[str, bytes] = {}
    if not folder.is_dir():
        return out
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[p.relative_to(folder).as_posix()] = p.read_bytes()
    return out


def _manifest_of(snap: dict[str, bytes]) -> dict | None:
    """The manifest in a snapshot when simpool can read it (a dict with a ``files`` dict)."""
    raw = snap.get(_MANIFEST)
    if raw is None:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return None
    return data


def _is_tmp(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name.endswith(".tmp") or ".tmp." in name


def _diff(a: dict[str, bytes], b: dict[str, bytes]) -> str:
    gone = sorted(set(a) - set(b))
    new = sorted(set(b) - set(a))
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    parts = [f"{what} {names[:4]}" for what, names in (("removed", gone), ("added", new),
                                                        ("changed", changed)) if names]
    return "; ".join(parts) or "no difference"


def _run_names(formats: tuple[str, ...]) -> set[str]:
    """The files a ``run`` writes (summary.csv always; other tables on request)."""
    return ({"summary.csv", "scenario.resolved.toml", "provenance.json"}
            | {f"summary.{f}" for f in formats if f != "csv"})


def _sweep_names(n: int, formats: tuple[str, ...]) -> set[str]:
    """The files a ``sweep`` of ``n`` variants writes."""
    names = {"batch.json"} | {f"variants/{i:04d}.{ext}" for i in range(n)
                              for ext in ("csv", "json", "resolved.toml")}
    for f in formats:
        names |= {"summary.xlsx"} if f == "xlsx" else {f"summary.{f}", f"variants.{f}"}
    return names


def _check_folder(before: dict[str, bytes], after: dict[str, bytes], rc: int | None, kind: str,
                  names: set[str] | None = None, lock_held: bool = False) -> str | None:
    """The invariants of an output folder around one command.

    Always: no temporary file; no lock file left (``lock_held``: the holder's lock file
    untouched). A refused command (rc != 0) changes nothing. After exit 0: the manifest is
    readable, of ``kind``, complete, lists exactly ``names`` (when given), and every listed
    file is there with the listed SHA-256 and size; every other file was there before,
    unlisted by the previous manifest (a file simpool did not write), and is byte-identical;
    no such foreign file is deleted or changed unless simpool wrote its own file of that name
    (then listed).
    """
    tmp = [r for r in after if _is_tmp(r)]
    if tmp:
        return f"temporary files left behind: {tmp[:4]}"
    if lock_held:
        if after.get(_LOCK) != before.get(_LOCK):
            return "the lock file of the process holding the folder was changed"
    elif _LOCK in after:
        return f"{_LOCK} left behind after the command"
    if rc != 0:
        a = {k: v for k, v in after.items() if k != _LOCK}
        b = {k: v for k, v in before.items() if k != _LOCK}
        return None if a == b else f"a refused command changed the folder: {_diff(b, a)}"
    old = _manifest_of(before)
    listed_before = set(old["files"]) if old is not None else set()
    foreign = {r for r in before if r not in (_MANIFEST, _LOCK) and r not in listed_before}
    man = _manifest_of(after)
    if man is None:
        return "exit 0 but no readable simpool-manifest.json"
    if man.get("kind") != kind:
        return f"the manifest says kind {man.get('kind')!r}, expected {kind!r}"
    if man.get("complete") is not True:
        return f"the manifest says complete = {man.get('complete')!r} after exit 0"
    files = man["files"]
    for name, entry in files.items():
        if name not in after:
            return f"the manifest lists {name}, which is not in the folder"
        data = after[name]
        if not isinstance(entry, dict) or entry.get("sha256") != hashlib.sha256(data).hexdigest():
            return f"the manifest's sha256 of {name} is not the file's"
        if entry.get("bytes") != len(data):
            return f"the manifest says {name} has {entry.get('bytes')} bytes, it has {len(data)}"
    for r, data in after.items():
        if r == _MANIFEST or r in files:
            continue
        if r in foreign and before[r] == data:
            continue
        if r in foreign:
            return f"a file simpool did not write was changed: {r}"
        return f"{r} is not in the manifest, and was not in the folder before"
    for r in sorted(foreign):
        if r not in after:
            return f"a file simpool did not write was deleted: {r}"
    if names is not None and set(files) != names:
        extra, lacking = sorted(set(files) - names), sorted(names - set(files))
        return (f"the manifest lists {extra[:4]} that this command does not write"
                if extra else f"the manifest lacks {lacking[:4]}")
    return None


def _check_flag_messages(case: Case, root: Path, err: str, needles: list[str]) -> str | None:
    """Exit 2: every line located (``file[:line]: ...``, a flag, or ``simpool: --flag ...``)
    and every needle in some line (``^needle``: some line starts with it)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if not lines:
        return "exit 2 but nothing on stderr"
    rest = []
    for ln in lines:
        if "Traceback" in ln or "internal error" in ln:
            return f"internal error: {ln[:200]}"
        if ln.startswith("simpool: "):
            head = ln[len("simpool: "):].split(" ")[0].split(":")[0]
            if head in _USAGE_FLAGS or ln.startswith("simpool: warning:"):
                continue
            return f"unlocated message: {ln[:200]}"
        rest.append(ln)
    if rest:
        failure = _check_messages(case, root, "\n".join(rest))
        if failure is not None:
            return failure
    for n in needles:
        n = n.replace("{root}", str(root))
        if n.startswith("^"):
            ok = any(ln.startswith(n[1:]) for ln in lines)
        else:
            ok = any(n in ln for ln in lines)
        if not ok:
            return f"no message {'starting with' if n.startswith('^') else 'holding'} {n.lstrip('^')[:160]!r}"
    return None


def _read_table(data: bytes):
    import pandas as pd

    return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")


def _rows_differ(a, b, cols: tuple[str, ...] = _ROW_COLS) -> str | None:
    """None when the summary rows ``a`` and ``b`` (DataFrames) are the same, else how not."""
    import numpy as np
    import pandas as pd

    if len(a) != len(b):
        return f"{len(a)} rows against {len(b)}"
    for c in cols:
        if c not in a.columns or c not in b.columns:
            return f"no column {c!r}"
        if c in ("year", "param", "value", "se"):
            x = pd.to_numeric(a[c], errors="coerce").to_numpy(dtype=float)
            y = pd.to_numeric(b[c], errors="coerce").to_numpy(dtype=float)
            same = (x == y) | (np.isnan(x) & np.isnan(y))
        else:
            same = np.array(a[c].astype(str).tolist()) == np.array(b[c].astype(str).tolist())
        if not same.all():
            k = int(np.flatnonzero(~same)[0])
            return (f"{c} differs on row {k + 1} ({a['measure'].iloc[k]}/{a['statistic'].iloc[k]}):"
                    f" {a[c].iloc[k]!r} against {b[c].iloc[k]!r}")
    return None


def _toml_value(value: Any) -> str:
    """A ``--set`` / ``--sweep`` value text that TOML reads back as ``value``."""
    import tomli_w

    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


# ----------------------------------------------------------------------------- sweep

_SYN_SWEEP = """\
title = "fuzz: sweep"

[simulation]
paths = 60
seed = 11
start_year = 2025
horizon_years = 2

[model]
sectors = ["alpha", "beta"]

[[cohorts]]
name = "a"
loans = 200
exposure = "100万"
pd = 0.03
lgd = 0.5
rho = 0.15
sector = "alpha"
pool = "p"

[[cohorts]]
name = "b"
loans = 20
exposure = 2500000
pd = 0.02
lgd = 0.45
rho = 0.12
sector = "beta"
mode = "loans"

[[pools]]
name = "p"
cash = "5000万"

[report]
levels = [0.95, 0.99]
"""
_SWEEP_SEED, _SWEEP_PATHS = 11, 60

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


# ----------------------------------------------------------------------------- folders

#: Files a user (not simpool) leaves in an output folder: (name, bytes).
_FOREIGN_FILES = (
    ("notes.txt", "给领导的说明：不要删除\n".encode("utf-8")),
    ("README.md", b"# board pack, do not delete\n"),
    ("data/keep.csv", b"a,b\n1,2\n"),
    ("sub/deeper/x.bin", bytes(range(256))),
    ("variants/0000.csv", b"junk,1\n"),
    ("variants/0000.csv", "\ufeffscenario,year,measure,statistic,param,value,se\n"
                          "pool,,gross,EL,,1.0,0.0\n".encode("utf-8")),
    ("variants/0099.csv", b"scenario,value\nx,1\n"),
    ("variants/0000.json", b'{"fingerprint": "bogus"}\n'),
    ("batch.json", b"{bogus"),
    ("batch.json", b'{"fingerprint": "x", "variants": []}\n'),
    ("summary.parquet", b"PAR1" + bytes(40) + b"PAR1"),
    ("summary.csv", b"scenario,year\nold,2020\n"),
    ("provenance.json", b"{}\n"),
    ("summary.xlsx", b"not a workbook"),
    ("variants.csv", "说明\n".encode("gbk")),
)
_BOGUS_MANIFESTS = (b"", b"{", b"[]", b'"x"', b'{"files": 5}', b'{"kind": "run", "files": {}}',
                    b'{"kind": "sweep"}', b"\xff\xfe\x00", b"null", b'{"files": []}')
_STALE_LOCKS = (b'{"pid": 999999999, "command": ["simpool", "run"], "started_utc": '
                b'"2020-01-01T00:00:00+00:00", "kind": "run"}\n', b"", b"garbage\x00\xff",
                b'{"pid": 1}')


def _plant(items: list[tuple[str, bytes]]) -> Callable[[Path], list[str]]:
    def before(out: Path) -> list[str]:
        for name, data in items:
            p = out / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        return []

    return before


def _edit(rng: random.Random, name: str, how: str) -> Callable[[Path], list[str]]:
    """Change a file simpool wrote, as a user would (Excel re-saving as GBK or with CRLF,
    rounded values, an appended row, truncation, deletion); returns the needles of the
    message the next command must print (the file named, 'changed') when it is a variant's
    csv or json that really changed."""

    def before(out: Path) -> list[str]:
        p = out / name
        old = p.read_bytes()
        text = old.decode("utf-8-sig")
        if how == "delete":
            p.unlink()
            return []
        if how == "gbk":
            new = text.encode("gbk", "replace")
        elif how == "excel":
            new = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
        elif how == "round":
            rows = list(_csv.reader(io.StringIO(text)))
            for row in rows[1:]:
                for j, cell in enumerate(row):
                    with contextlib.suppress(ValueError):
                        if j and "." in cell:
                            row[j] = f"{float(cell):.3g}"
            buf = io.StringIO()
            _csv.writer(buf, lineterminator="\n").writerows(rows)
            new = ("\ufeff" + buf.getvalue()).encode("utf-8")
        elif how == "append":
            new = old + b"pool,,gross,EL,,1.0,0.0\n"
        elif how == "truncate":
            new = old[: len(old) // 2]
        else:  # "json": a value changed by hand
            new = old.replace(b'"seed":', b'"seed": 0, "was_seed":', 1) if b'"seed":' in old \
                else old + b" "
        if new == old:
            return []
        p.write_bytes(new)
        if name.startswith("variants/") and name.endswith((".csv", ".json", ".toml")):
            return [name.rsplit("/", 1)[-1], "changed"]
        if name == "batch.json":
            return ["batch.json"]
        return []

    return before


def gen_folders(rng: random.Random, srcs: list[Source], choice: int | None = None) -> Case | None:
    """Shared and reused output folders: commands run one after another into one ``--out``
    (a run and a sweep, foreign files, a bogus manifest, stale and live locks, ``--fresh``,
    edited files, changing ``--format``). After each command the folder invariants hold
    (:func:`_check_folder`), a refusal changes nothing, and a finished command's
    summary.csv is byte-identical to the same command's into an empty folder."""
    choice = rng.randrange(8) if choice is None else choice
    stem = rng.choice(["pool", "担保池", "grid"])
    entry = f"w/{stem}.toml"
    files = {entry: _SYN_SWEEP.encode("utf-8")}
    pds = [0.01, 0.02, 0.03, 0.05, 0.08]

    def axis(avoid: str | None = None) -> str:
        while True:
            a = "cohorts.a.pd=" + ",".join(map(str, sorted(rng.sample(pds, rng.randrange(1, 4)))))
            if a != avoid:
                return a

    def fmts() -> tuple[str, ...]:
        return ("csv",) + tuple(f for f in ("parquet", "xlsx") if rng.random() < 0.3)

    def cmd(kind: str, **kw) -> dict:
        st = {"cmd": kind, "formats": fmts(), "expect": 0, "needles": [], "fresh": False}
        if kind == "sweep":
            st["axis"] = axis()
        st.update(kw)
        return st

    def foreign(k: int) -> list[tuple[str, bytes]]:
        picked: dict[str, bytes] = {}
        for name, data in rng.sample(_FOREIGN_FILES, k):
            picked.setdefault(name, data)
        return list(picked.items())

    kinds = ["run", "sweep"]
    rng.shuffle(kinds)
    steps: list[dict] = []
    if choice == 0:  # a run into a sweep's folder, or a sweep into a run's: refused
        first = cmd(kinds[0])
        steps = [first, cmd(kinds[1], expect=2, needles=["--out"])]
        if rng.random() < 0.5:
            steps.append(dict(first, formats=fmts()))
        label = f"{kinds[1]} into a {kinds[0]}'s folder"
    elif choice == 1:  # foreign files, a bogus manifest, a stale lock: no effect
        items = foreign(rng.randrange(2, 6))
        if rng.random() < 0.4:
            items.append((_MANIFEST, rng.choice(_BOGUS_MANIFESTS)))
        if rng.random() < 0.4:
            items.append((_LOCK, rng.choice(_STALE_LOCKS)))
        first = cmd(kinds[0], before=_plant(items))
        steps = [first]
        if rng.random() < 0.5:
            steps.append(dict(first, formats=fmts(), before=None))
        label = f"{kinds[0]} into a folder with {', '.join(n for n, _ in items)}"
    elif choice == 2:  # --fresh deletes only what simpool wrote
        first = cmd("sweep")
        other = axis(avoid=first["axis"])
        safe = [(n, d) for n, d in _FOREIGN_FILES if n in ("notes.txt", "README.md", "data/keep.csv",
                                                            "sub/deeper/x.bin", "variants/0099.csv")]
        items = rng.sample(safe, rng.randrange(1, len(safe) + 1))
        steps = [first]
        if rng.random() < 0.5:
            steps.append(cmd("sweep", axis=other, expect=1, needles=["--fresh"],
                             before=_plant(items)))
        same = rng.random() < 0.25
        steps.append(cmd("sweep", axis=first["axis"] if same else other, fresh=True,
                         before=_plant(items) if len(steps) == 1 else None))
        label = f"sweep --fresh {'(same batch) ' if same else ''}with foreign files"
    elif choice == 3:  # a sweep's file edited, then the same sweep again
        first = cmd("sweep")
        n = first["axis"].count(",") + 1
        i = rng.randrange(n)
        name, how = rng.choice(
            [(f"variants/{i:04d}.csv", h) for h in ("gbk", "excel", "round", "append", "truncate",
                                                    "delete")]
            + [(f"variants/{i:04d}.json", "json"), (f"variants/{i:04d}.json", "delete"),
               (f"variants/{i:04d}.resolved.toml", "append"),
               ("batch.json", "json"), ("summary.csv", "round"), ("variants.csv", "gbk")])
        steps = [first, dict(first, formats=first["formats"], before=_edit(rng, name, how))]
        label = f"sweep, {name} edited ({how}), the same sweep again"
    elif choice == 4:  # a run's file edited, then the same run again
        first = cmd("run")
        name, how = rng.choice([("summary.csv", "round"), ("summary.csv", "gbk"),
                                ("provenance.json", "json"), ("scenario.resolved.toml", "delete"),
                                ("summary.csv", "delete")])
        steps = [first, dict(first, before=_edit(rng, name, how))]
        label = f"run, {name} edited ({how}), the same run again"
    elif choice == 5:  # --format changes between reruns
        kind = kinds[0]
        first = cmd(kind)
        steps = [first] + [dict(first, formats=fmts()) for _ in range(rng.randrange(1, 3))]
        label = f"{kind} --format " + " then ".join(",".join(s["formats"]) for s in steps)
    elif choice == 6:  # another process holds the folder: exit 1 naming it; then it is free
        first = cmd(kinds[0])
        held = dict(first, expect=1, needles=[f"pid {os.getpid()}"], hold=True)
        steps = ([first] if rng.random() < 0.5 else []) + [held, dict(first, formats=fmts())]
        label = f"{kinds[0]} into a folder another process holds"
    else:  # the manifest made unreadable between two commands of any kinds
        first = cmd(kinds[0])
        cut = rng.choice(["truncate", "bogus"])
        second = cmd(rng.choice(["run", "sweep"]), before=_break_manifest(rng, cut),
                     needles=["unreadable"])
        steps = [first, second]
        label = f"{first['cmd']}, manifest {cut}, then {second['cmd']}"

    def run(root: Path, case: Case) -> tuple[int | None, str, str | None]:
        out = root / "_out"
        entry_path = str(root / entry)
        refs: dict[tuple, bytes] = {}
        log = []
        rc: int | None = None
        for k, st in enumerate(steps):
            out.mkdir(parents=True, exist_ok=True)
            needles = list(st["needles"])
            if st.get("before") is not None:
                needles += st["before"](out)
            lock_fd = _hold_lock(out) if st.get("hold") else None
            before = _snapshot(out)
            argv = _folder_argv(st, entry_path, out)
            try:
                rc, _, err, _, fail = _call_main(argv, 60.0)
                after = _snapshot(out)
            finally:
                if lock_fd is not None:
                    _release_lock(out, lock_fd)
            log.append(f"$ simpool {' '.join(argv[:1] + argv[2:])}\n{err}")
            where = f"step {k + 1} ({st['cmd']}{' --fresh' if st['fresh'] else ''})"
            if fail is not None:
                return rc, "\n".join(log), f"{where}: {fail}"
            if "internal error" in err or "Traceback" in err:
                return rc, "\n".join(log), f"{where}: internal error: {err.strip()[-300:]}"
            if rc != st["expect"]:
                return rc, "\n".join(log), (f"{where}: exit {rc}, expected {st['expect']}: "
                                            f"{err.strip()[-300:]}")
            failure = None
            if rc == 2:
                failure = _check_flag_messages(case, root, err, [])
            if failure is None:
                n_var = st["axis"].count(",") + 1 if st["cmd"] == "sweep" else 0
                names = (_run_names(st["formats"]) if st["cmd"] == "run"
                         else _sweep_names(n_var, st["formats"]))
                failure = _check_folder(before, after, rc, st["cmd"], names,
                                        lock_held=bool(st.get("hold")))
            if failure is None and rc == 0:
                key = (st["cmd"], st.get("axis"))
                if key not in refs:
                    ref = root / f"_ref{len(refs)}"
                    rrc, _, rerr, _, rfail = _call_main(
                        _folder_argv(dict(st, fresh=False), entry_path, ref), 60.0)
                    if rfail is not None or rrc != 0:
                        return rc, "\n".join(log), (f"{where}: the same command into an empty "
                                                    f"folder fails: {rfail or rerr[-300:]}")
                    refs[key] = (ref / "summary.csv").read_bytes()
                if after.get("summary.csv") != refs[key]:
                    failure = "summary.csv is not that of the same command into an empty folder"
            for n in needles if failure is None else []:
                if n == "unreadable" and _json_ok(before.get(_MANIFEST)):
                    continue
                if n not in err:
                    failure = f"no message holding {n!r}"
                    break
            if failure is not None:
                return rc, "\n".join(log), f"{where}: {failure}"
        return rc, "\n".join(log), None

    return Case("folders", f"{label}"[:300], files, entry, steps=run, no_run=True, timeout=60.0)


def _json_ok(data: bytes | None) -> bool:
    try:
        json.loads((data or b"").decode("utf-8"))
        return True
    except (UnicodeDecodeError, ValueError):
        return False


def _folder_argv(st: dict, entry: str, out: Path) -> list[str]:
    argv = [st["cmd"], entry]
    if st["cmd"] == "sweep":
        argv += ["--sweep", st["axis"]]
    argv += ["--paths", "50", "--out", str(out), "--quiet", "--format", ",".join(st["formats"])]
    return argv + (["--fresh"] if st["fresh"] else [])


def _break_manifest(rng: random.Random, how: str) -> Callable[[Path], list[str]]:
    def before(out: Path) -> list[str]:
        p = out / _MANIFEST
        data = p.read_bytes()
        p.write_bytes(data[: rng.randrange(len(data))] if how == "truncate"
                      else rng.choice([m for m in _BOGUS_MANIFESTS if m != b'{"kind": "run", "files": {}}']))
        return []

    return before


def _hold_lock(out: Path) -> int:
    """Take the folder's lock as another simpool process would (flock on a fresh open file
    description conflicts even within this process)."""
    import fcntl

    fd = os.open(out / _LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": ["simpool", "fuzz"],
                              "started_utc": "2026-01-01T00:00:00+00:00"}).encode() + b"\n", 0)
    return fd


def _release_lock(out: Path, fd: int) -> None:
    import fcntl

    with contextlib.suppress(OSError):
        os.unlink(out / _LOCK)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


# ----------------------------------------------------------------------------- taperows

_TAPEROWS = """\
title = "fuzz: tape rows"

[simulation]
paths = 1000

[model]
sectors = ["alpha", "beta", "gamma"]

[portfolio]
loans_file = "{tape}"
{portfolio}
{parties}"""

_ID_HEADERS = ("loan_id", "id", "借据号", "name", "借据编号", "贷款编号", "编号", "Loan ID", "ID")
_EN_HEADERS = {"exposure": "exposure", "pd": "pd", "lgd": "lgd", "rho": "rho", "sector": "sector"}
_ZH_HEADERS = {"exposure": "贷款余额", "pd": "违约概率", "lgd": "违约损失率", "rho": "资产相关性",
               "sector": "行业"}
_TOTAL_LABELS = ("合计", "总计", "小计", "本页小计", "合计：", "Total", "TOTAL:", "Subtotal", "Sum",
                 "Grand Total", "total")
_PRODUCT_SPELLINGS = {
    "credit": ("credit", "Credit", "CREDIT", "信用", "信用贷款", "信用贷", "ｃｒｅｄｉｔ", ""),
    "guaranteed": ("guaranteed", "Guaranteed", "GUARANTEED", "guarantee", "担保", "担保贷款",
                   "融资担保", " 担保 "),
    "insured": ("insured", "INSURED", "Insurance", "保险", "保证保险", "贷款保证保险", "信用保证保险"),
}
_UNKNOWN_PRODUCTS = ("贷款", "保理", "insurd", "guarantor", "担保贷", "abc", "知识产权质押", "保 险",
                     "credit card")
_OUTSIDE_TYPICAL = {"pd": ["0.25", "0.5", "0.9"], "lgd": ["0.95", "0.05", "0.99"],
                    "rho": ["0.4", "0.01", "0.6"]}


def _loan_rows(rng: random.Random, n: int) -> list[dict[str, str]]:
    prefix = rng.choice(["L", "JJ-", "借"])
    return [{"name": f"{prefix}{i + 1:04d}", "exposure": str(rng.choice([100000, 1500000, 2500000,
                                                                        8000000])),
             "pd": f"{rng.uniform(0.005, 0.08):.4f}", "lgd": f"{rng.uniform(0.2, 0.8):.3f}",
             "rho": f"{rng.uniform(0.05, 0.25):.3f}", "sector": rng.choice(TAPE_SECTORS)}
            for i in range(n)]


def _render_tape(cols: list[tuple[str, str]], rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    w = _csv.writer(buf, lineterminator="\n")
    w.writerow([h for h, _ in cols])
    for r in rows:
        w.writerow([r.get(k, "") for _, k in cols])
    return buf.getvalue()


def _tape_cols(rng: random.Random, id_header: str | None = None) -> list[tuple[str, str]]:
    names = rng.choice([_EN_HEADERS, _ZH_HEADERS])
    cols = [(names[f], f) for f in ("exposure", "pd", "lgd", "rho", "sector")]
    if id_header is not None:
        cols.insert(0, (id_header, "name"))
    return cols


def _encode_tape(rng: random.Random, text: str) -> tuple[bytes, str]:
    how = rng.choice(["utf-8", "utf-8", "utf-8-sig", "gbk"])
    try:
        return text.encode(how), how
    except UnicodeEncodeError:
        return text.encode("utf-8"), "utf-8"


def _expect_lines(needles: list[str]) -> Callable[[Path, int, str], str | None]:
    """A check of stderr: each needle in some line (``!needle``: in no line)."""

    def verify(root: Path, rc: int, err: str) -> str | None:
        for n in needles:
            if n.startswith("!"):
                if n[1:] in err:
                    return f"a message holds {n[1:]!r}"
            elif n not in err:
                return f"no message holding {n!r}"
        return None

    return verify


def _same_runs(a: str, b: str, what: str,
               then: Callable[[Path, int, str], str | None] | None = None
               ) -> Callable[[Path, int, str], str | None]:
    """A check that scenarios ``a`` and ``b`` (their tapes spelled differently) run to the same
    numbers (every summary column but the scenario name)."""

    def verify(root: Path, rc: int, err: str) -> str | None:
        if then is not None:
            failure = then(root, rc, err)
            if failure is not None:
                return failure
        tables = []
        for k, e in enumerate((a, b)):
            o = root / f"_same{k}"
            rrc, _, rerr, _, fail = _call_main(["run", str(root / e), "--paths", "50", "--seed",
                                                "3", "--out", str(o), "--quiet"], 60.0)
            if fail is not None or rrc != 0:
                return f"{what}: run of {e}: {fail or f'exit {rrc}: ' + rerr.strip()[-300:]}"
            tables.append(_read_table((o / "summary.csv").read_bytes()))
        d = _rows_differ(tables[0], tables[1], _ROW_COLS[1:])
        return None if d is None else f"{what}: {d}"

    return verify


def gen_taperows(rng: random.Random, srcs: list[Source], choice: int | None = None) -> Case | None:
    """Loan tapes as people write them: repeated loan ids, repeating borrower names, Excel
    total rows, amounts in 万元 under a header without unit, product names in Chinese and
    English, values outside typical ranges. Errors must be reported at the right lines with
    the right message; a tape spelled in Chinese must run to the numbers of the same tape
    spelled canonically."""
    choice = rng.randrange(7) if choice is None else choice
    entry, tape = "t/tape.toml", "t/loans.csv"
    n = rng.randrange(3, 40)
    rows = _loan_rows(rng, n)
    portfolio, parties = "", ""
    expect, at, needles = "ok", [], []
    verify = None
    extra_files: dict[str, bytes] = {}
    cols = _tape_cols(rng, rng.choice(_ID_HEADERS))

    def line(j: int) -> int:
        return j + 2  # one physical line per row, after the header

    if choice in (0, 6):  # repeated loan ids
        hdr = rng.choice(_ID_HEADERS)
        cols[0] = (hdr, "name")
        free = list(range(n))
        rng.shuffle(free)
        groups = []
        for _ in range(rng.randrange(1, min(3, n // 2) + 1)):
            k = rng.randrange(2, 4)
            if len(free) < k:
                break
            members = sorted(free[:k])
            del free[:k]
            for j in members[1:]:
                rows[j]["name"] = rows[members[0]]["name"]
            groups.append(members)
        allow = choice == 0 and rng.random() < 0.3
        if allow:
            portfolio = "allow_duplicate_ids = true\n"
            needles = ["!loan id"]
        else:
            expect = "error"
            for members in groups:
                lines = ", ".join(str(line(j)) for j in members)
                at.append((tape, line(members[1])))
                needles.append(f":{line(members[1])}: name: loan id {rows[members[0]]['name']!r} "
                               f"(column {hdr!r}) is on {len(members)} rows (lines {lines})")
        label = f"{len(groups)} repeated ids under {hdr!r}" + (", allowed" if allow else "")
        if choice == 6:  # and a total row and an unknown product
            cols.append(("product", "product"))
            for r in rows:
                r["product"] = rng.choice(["credit", "信用", ""])
            j = rng.randrange(n)
            rows[j]["product"] = rng.choice(_UNKNOWN_PRODUCTS)
            rows.append({"name": "合计", "exposure": str(sum(int(r["exposure"]) for r in rows))})
            expect = "error"
            at += [(tape, line(j)), (tape, line(n))]
            needles += [f":{line(j)}: product: unknown product",
                        f"line {line(n)} looks like a total row"]
            label += ", an unknown product and a total row"
    elif choice == 1:  # borrower names repeat: fine; an id column beside them is the name
        hdr = rng.choice(["借款人", "企业名称"])
        cols[0] = (hdr, "borrower")
        for r in rows:
            r["borrower"] = rng.choice(["甲公司", "乙公司", "丙公司"])
        needles = ["!loan id"]
        label = f"borrowers repeat under {hdr!r}"
        if rng.random() < 0.5:
            cols.insert(rng.randrange(2), ("借据号", "name"))
            needles.append("using column '借据号'")
            label += ", with a 借据号 column"
            if rng.random() < 0.4 and n >= 2:
                a, b = sorted(rng.sample(range(n), 2))
                rows[b]["name"] = rows[a]["name"]
                expect, at = "error", [(tape, line(b))]
                needles = [f":{line(b)}: name: loan id {rows[a]['name']!r} (column '借据号') is on "
                           f"2 rows (lines {line(a)}, {line(b)})"]
                label += " holding a repeated id"
    elif choice == 2:  # Excel total rows
        where = rng.choice(["end", "middle", "both"])
        extra = rng.choice([None, "备注", "序号"])
        if extra is not None:
            cols.insert(0 if extra == "序号" else len(cols), (extra, "extra"))
            for j, r in enumerate(rows):
                r["extra"] = str(j + 1) if extra == "序号" else ""
        total = sum(int(r["exposure"]) for r in rows)
        unlabelled = where == "end" and rng.random() < 0.25
        spots = {"end": [n], "middle": [rng.randrange(1, n)], "both": [rng.randrange(1, n), n]}[where]
        totals = []
        for spot in sorted(spots, reverse=True):
            row = {"exposure": str(total) if unlabelled or rng.random() < 0.6 else ""}
            if not unlabelled:
                lab = rng.choice(_TOTAL_LABELS)
                places = ["name", "sector"] + (["extra"] if extra is not None else [])
                row[rng.choice(places)] = lab
            rows.insert(spot, row)
            totals.append(row)
        # a row blank in every recognised column is skipped as blank (documented), even with
        # a total word in an unrecognised column: either way is fine for such a row
        lines_ = [line(j) for j, r in enumerate(rows) if any(r is t for t in totals)
                  and any(r.get(k) for k in ("name", "exposure", "pd", "lgd", "rho", "sector"))]
        expect = "error" if lines_ else None
        at = [(tape, ln) for ln in lines_]
        needles = [f"line {ln} looks like a total row" for ln in lines_]
        if unlabelled:
            needles.append("is the sum of the other")
        if where == "both" and rng.random() < 0.5 and not unlabelled:
            for t in totals:  # the same label in the id column twice: not a repeated id
                for k in ("sector", "extra"):
                    t.pop(k, None)
                t["name"] = "小计"
            needles.append("!loan id")
        label = (f"{'an unlabelled' if unlabelled else len(totals)} total row(s) at {where}"
                 + (f", a {extra!r} column" if extra else ""))
    elif choice == 3:  # amounts and units
        how = rng.choice(["wan", "yi", "huge", "unit", "cells", "yuan"])
        exp_col = cols.index(next(c for c in cols if c[1] == "exposure"))
        base_header = cols[exp_col][0]
        wan = [rng.choice([50, 100, 150, 300, 800, 2000, 12.5]) for _ in range(n)]
        if how == "wan":
            values = [f"{v:g}" for v in wan]
        elif how == "yi":
            values = [rng.choice(["0.05", "0.1", "0.3"]) for _ in range(n)]
        elif how == "huge":
            values = [str(rng.choice([2_000_000_000, 5_000_000_000, 9_000_000_000])) for _ in range(n)]
        elif how == "unit":
            unit = rng.choice(["(万元)", "（万元）", " (万元)", "(单位：万元)"])
            cols[exp_col] = (base_header + unit, "exposure")
            values = [f"{v:g}" for v in wan]
        elif how == "cells":
            values = [f"{v:g}万" for v in wan]
        else:
            values = [str(int(v * 10_000)) for v in wan]
        for r, v in zip(rows, values):
            r["exposure"] = v
        warned = how in ("wan", "yi", "huge")
        needles = [(":1: exposure: warning: the median loan is" if warned
                    else "!the median loan is")]
        verify = _expect_lines(needles)
        if how in ("unit", "cells") and rng.random() < 0.5:  # the same loans in yuan
            canon = [dict(r, exposure=str(int(v * 10_000))) for r, v in zip(rows, wan)]
            yuan_cols = list(cols)
            yuan_cols[exp_col] = ("exposure", "exposure")
            extra_files["t/canon.csv"] = _render_tape(yuan_cols, canon).encode("utf-8")
            verify = _same_runs(entry, "t/canon.toml", f"amounts in 万元 ({how})", verify)
        label = f"amounts: {how} under {cols[exp_col][0]!r}"
    elif choice == 4:  # product names
        pcol = rng.choice(["product", "产品", "产品类型"])
        cols.append((pcol, "product"))
        canon_of = []
        for r in rows:
            c = rng.choices(["credit", "guaranteed", "insured"], [2, 1, 1])[0]
            r["product"] = rng.choice(_PRODUCT_SPELLINGS[c])
            canon_of.append(c)
        bad = []
        if rng.random() < 0.35:
            bad = sorted(rng.sample(range(n), rng.randrange(1, min(3, n) + 1)))
            for j in bad:
                rows[j]["product"] = rng.choice(_UNKNOWN_PRODUCTS)
        need_g = any(c == "guaranteed" for j, c in enumerate(canon_of) if j not in bad)
        need_i = any(c == "insured" for j, c in enumerate(canon_of) if j not in bad)
        mode = "both" if bad else rng.choice(["both", "both", "missing", "two_named",
                                              "two_unnamed"])
        g = '[[guarantors]]\nname = "g1"\nnet_assets = "10亿"\n'
        i = '[[insurers]]\nname = "i1"\n'
        if mode == "both":
            parties = g + i
        elif mode == "missing":
            parties = rng.choice([g, i, ""])
        elif mode == "two_named":
            parties = g + g.replace("g1", "g2") + i
            portfolio = 'guarantor = "g2"\n'
        else:
            parties = g + g.replace("g1", "g2") + i
        if bad:
            expect = "error"
            at = [(tape, line(j)) for j in bad]
            needles = [f":{line(j)}: product: unknown product" for j in bad]
        elif (need_g and "g1" not in parties) or (need_i and "i1" not in parties) or \
                (need_g and mode == "two_unnamed"):
            expect = "error"
            text = _TAPEROWS.format(tape="loans.csv", portfolio=portfolio, parties=parties)
            at = [(entry, text.splitlines().index("[portfolio]") + 1)]
        elif rng.random() < 0.4:
            canon = [dict(r, product=c) for r, c in zip(rows, canon_of)]
            extra_files["t/canon.csv"] = _render_tape(cols, canon).encode("utf-8")
            verify = _same_runs(entry, "t/canon.toml", "product names")
        label = (f"products under {pcol!r}: " + ", ".join(sorted({r['product'] for r in rows}))
                 + f"; parties {mode}")
    else:  # values outside the typical ranges: warnings at the first line
        key = rng.choice(["pd", "lgd", "rho"])
        k = rng.randrange(1, min(7, n) + 1)
        picked = sorted(rng.sample(range(n), k))
        for j in picked:
            rows[j][key] = rng.choice(_OUTSIDE_TYPICAL[key])
        shown = ", ".join(str(line(j)) for j in picked[:5]) + (", ..." if k > 5 else "")
        needles = [f"loans.csv:{line(picked[0])}: {key}: warning: {k} of {n} loans "
                   f"{'has' if k == 1 else 'have'} {key} outside the typical range",
                   f"({'line' if k == 1 else 'lines'} {shown}: "]
        label = f"{k} {key} value(s) outside the typical range"

    text = _render_tape(cols, rows)
    data, enc = _encode_tape(rng, text)
    files = {entry: _TAPEROWS.format(tape="loans.csv", portfolio=portfolio,
                                     parties=parties).encode("utf-8"), tape: data}
    if "t/canon.csv" in extra_files:
        files.update(extra_files)
        files["t/canon.toml"] = _TAPEROWS.format(tape="canon.csv", portfolio=portfolio,
                                                 parties=parties).encode("utf-8")
    if verify is None and needles:
        verify = _expect_lines(needles)
    elif verify is not None and needles and choice != 3:
        verify = _chain(_expect_lines(needles), verify)
    case = Case("taperows", f"{label} ({n} loans, {enc})"[:300], files, entry, expect=expect,
                at=at, verify=verify)
    case.run = expect == "ok" and rng.random() < 0.15
    return case


def _chain(*checks: Callable[[Path, int, str], str | None]) -> Callable[[Path, int, str], str | None]:
    def verify(root: Path, rc: int, err: str) -> str | None:
        for c in checks:
            failure = c(root, rc, err)
            if failure is not None:
                return failure
        return None

    return verify


def _fmt_path(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def _short(v: Any, n: int = 40) -> str:
    try:
        s = repr(v)
    except ValueError:
        s = "<huge int>"
    return s if len(s) <= n else s[: n - 3] + "..."


_SIMPLE = {"types": gen_types, "missing": gen_missing, "extra": gen_extra, "numbers": gen_numbers,
           "extremes": gen_extremes, "combo": gen_combo, "text": gen_text, "set": gen_set}
_WHOLE = {"extends": gen_extends, "loans_file": gen_loans_file, "tape": gen_tape,
          "parquet": gen_parquet, "sweep": gen_sweep, "folders": gen_folders,
          "taperows": gen_taperows}


def generate(n: int, seed: int = 0, kinds: tuple[str, ...] = KINDS, run_fraction: float = 0.05,
             bigtape_rows: int = 1_000_000, max_items: int = 20000) -> Iterator[Case]:
    """``n`` cases dealt round-robin over ``kinds`` (``bigtape``: one case at most);
    ``max_items`` caps the lists of the ``inflate`` kind."""
    rng = random.Random(seed)
    srcs = sources()
    rest = [k for k in kinds if k != "bigtape"]
    made = 0
    if "bigtape" in kinds and n > 0:
        yield gen_bigtape(rng, srcs, bigtape_rows)
        made += 1
    if not rest:
        return
    i = 0
    tries = 0
    while made < n and tries < 50 * n + 100:
        tries += 1
        kind = rest[i % len(rest)]
        if kind == "inflate":
            case = gen_inflate(rng, rng.choice(srcs), max_items)
        elif kind in _SIMPLE:
            case = _SIMPLE[kind](rng, rng.choice(srcs))
        else:
            case = _WHOLE[kind](rng, srcs)
        if case is None:
            continue
        i += 1
        case.run = (case.run or rng.random() < run_fraction) and not case.no_run
        made += 1
        yield case


# ----------------------------------------------------------------------------- running

_LINE_RE = re.compile(r"^(?P<file>[^\n]+?)(?::(?P<line>\d+))?: (?P<rest>\S.*)$")


def _call_main(argv: list[str], timeout: float) -> tuple[int | None, str, str, list, str | None]:
    """Run ``simpool.cli.main(argv)`` in-process: (rc, stdout, stderr, warnings, failure)."""
    from ..cli import main as cli_main

    out, err = io.StringIO(), io.StringIO()
    result: dict[str, Any] = {}

    def body() -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    result["rc"] = cli_main(argv)
            except _Timeout:
                raise
            except BaseException as e:  # noqa: BLE001 - that is the finding
                result["exc"] = "".join(traceback.format_exception(type(e), e, e.__traceback__))
            result["warnings"] = [w for w in caught]

    use_alarm = (threading.current_thread() is threading.main_thread()
                 and hasattr(signal, "setitimer"))
    if use_alarm:
        def on_alarm(signum, frame):
            raise _Timeout()

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            body()
        except _Timeout:
            return None, out.getvalue(), err.getvalue(), [], f"hang: no answer in {timeout:g} s"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    else:
        t = threading.Thread(target=body, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            return None, out.getvalue(), err.getvalue(), [], f"hang: no answer in {timeout:g} s"
    if "exc" in result:
        return None, out.getvalue(), err.getvalue(), [], "exception escaped main: " + result["exc"]
    return result.get("rc"), out.getvalue(), err.getvalue(), result.get("warnings", []), None


def _resolve_file(name: str, root: Path, cwd: Path) -> Path | None:
    if name.startswith("--") or name == "sweep":
        return None
    p = Path(name)
    if not p.is_absolute():
        p = cwd / p
    try:
        return Path(os.path.normpath(p))
    except (ValueError, OSError):
        return None


def _check_messages(case: Case, root: Path, stderr: str) -> str | None:
    """None when stderr is all located problems (and the expected ones are there)."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if not lines:
        return "exit 2 but nothing on stderr"
    file_lines: dict[Path, list[str]] = {}
    located: list[tuple[str, Path | None, int | None, str]] = []
    for ln in lines:
        if ln.startswith("simpool:"):
            return f"unlocated message: {ln[:200]}"
        if "Traceback" in ln:
            return "a traceback on stderr"
        m = _LINE_RE.match(ln)
        if m is None:
            return f"not shaped file[:line]: path: message: {ln[:200]}"
        name, line = m.group("file"), m.group("line")
        if name.startswith("--") and name.split(" ")[0].split(":")[0] in _FLAG_PREFIXES:
            located.append((name, None, None, m.group("rest")))
            continue
        if name in _FLAG_PREFIXES:
            located.append((name, None, None, m.group("rest")))
            continue
        path = _resolve_file(name, root, Path.cwd())
        if path is None:
            return f"message names no file: {ln[:200]}"
        n = int(line) if line else None
        if n is not None:
            if path not in file_lines:
                try:
                    body = path.read_bytes().decode("utf-8-sig", "replace")
                    if "\n" not in body:
                        body = body.replace("\r", "\n")  # classic-Mac line ends
                    file_lines[path] = body.split("\n")
                except OSError:
                    file_lines[path] = []
            text = file_lines[path]
            if text and not 1 <= n <= len(text):
                return f"line {n} is outside {name} ({len(text)} lines): {ln[:200]}"
        located.append((name, path, n, m.group("rest")))
    for want_file, needle in case.at:
        if want_file == "*":
            if not any(p is not None for _, p, _, _ in located):
                return "no problem names the input file"
            continue
        if want_file in ("--set", "--stress"):
            if not any(name.split(" ")[0] == want_file for name, _, _, _ in located):
                return f"no problem names {want_file}"
            continue
        want = Path(os.path.normpath(root / want_file))
        ok = False
        for name, p, n, rest in located:
            if p is None or p != want:
                continue
            if needle is None:
                ok = True
            elif isinstance(needle, int):
                ok = n == needle
            elif isinstance(needle, str) and needle.startswith("(row "):
                ok = needle in rest
            elif n is not None:
                ok = _line_holds(file_lines.get(p) or [], n, needle)
            if ok:
                break
        if not ok:
            where = "without a line" if needle is None else (
                f"at line {needle}" if isinstance(needle, int) else f"at a line holding {needle!r}")
            return f"expected a problem in {want_file} {where}"
    return None


def _line_holds(text: list[str], n: int, needle: str) -> bool:
    """Line ``n`` holds ``needle``, or is inside a multi-line value whose key line does."""
    if not 1 <= n <= len(text):
        return False
    for k in range(n - 1, max(-1, n - 1 - 200), -1):
        line = text[k]
        if needle in line:
            return True
        if k < n - 1 and (line.lstrip().startswith("[") and line.rstrip().endswith("]")
                          or "=" in line and not line.lstrip().startswith(("{", "[", '"', "'"))):
            return False  # a header or another key: the value started below it
    return False


def _check_run_output(out: Path, rc: int) -> str | None:
    if not out.exists():
        return None if rc != 0 else "exit 0 but no output folder"
    names = sorted(p.name for p in out.iterdir())
    tmp = [n for n in names if n.endswith(".tmp") or ".tmp." in n]
    if tmp:
        return f"temporary files left behind: {tmp}"
    if rc != 0:
        return "summary.csv written by a failed run" if "summary.csv" in names else None
    for need in ("summary.csv", "scenario.resolved.toml", "provenance.json"):
        if need not in names:
            return f"exit 0 but {need} is missing"
    try:
        import pandas as pd

        df = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
        if list(df.columns) != ["scenario", "year", "measure", "statistic", "param", "value", "se"]:
            return f"summary.csv has columns {list(df.columns)}"
        if not len(df):
            return "summary.csv has no rows"
        import numpy as np

        for col in ("value", "se"):
            v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
            bad = ~np.isfinite(v)
            if bad.any():
                row = df[bad].iloc[0]
                return (f"summary.csv: {int(bad.sum())} non-finite {col}s, e.g. "
                        f"{row['measure']}/{row['statistic']} = {row[col]}")
        tomllib.loads((out / "scenario.resolved.toml").read_text(encoding="utf-8"))
        json.loads((out / "provenance.json").read_text(encoding="utf-8"))
        if "summary.parquet" in names and len(pd.read_parquet(out / "summary.parquet")) != len(df):
            return "summary.parquet and summary.csv differ in length"
        if "summary.xlsx" in names:
            import zipfile

            with zipfile.ZipFile(out / "summary.xlsx") as z:
                if z.testzip() is not None:
                    return "summary.xlsx is corrupt"
    except Exception as e:  # noqa: BLE001
        return f"unreadable output: {type(e).__name__}: {e}"
    return None


def _numeric_warnings(caught: list) -> str | None:
    for w in caught:
        if issubclass(w.category, RuntimeWarning):
            return f"numeric warning: {w.category.__name__}: {w.message} ({Path(w.filename).name}:{w.lineno})"
    return None


def run_case(case: Case, workdir: Path, keep: bool = False, same_rc: int | None = None) -> Outcome:
    """Write the case's files under ``workdir``, run it, classify the outcome."""
    root = Path(tempfile.mkdtemp(prefix=f"{case.kind}-", dir=workdir))
    t0 = time.perf_counter()
    try:
        for rel, data in case.files.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        if case.setup is not None:
            case.setup(root)
        if case.steps is not None:
            rc, err, failure = case.steps(root, case)
            out = Outcome(case, "FAILURE" if failure is not None else ("ok" if rc == 0 else "error"),
                          reason=failure or "", rc=rc, stderr=err, ran=rc == 0)
            out.seconds = time.perf_counter() - t0
            return out
        entry = str(root / case.entry)
        rc, _, err, _, failure = _call_main(["validate", entry, *case.args], case.timeout)
        out = Outcome(case, "ok", rc=rc, stderr=err)
        if failure is None:
            failure = _classify(case, root, rc, err, same_rc)
        if failure is None and case.verify is not None and rc is not None:
            failure = case.verify(root, rc, err)
        if failure is None and case.run:
            out.ran = True
            folder = root / "_out"
            import zlib

            formats = (["--format", "csv,parquet,xlsx"]
                       if zlib.crc32(case.label.encode("utf-8", "replace")) % 3 == 0 else [])
            rrc, _, rerr, rcaught, rfail = _call_main(
                ["run", entry, "--paths", "50", "--out", str(folder), "--quiet", *formats,
                 *case.args], max(case.timeout, 60.0))
            if rfail is not None:
                failure = f"run: {rfail}"
            elif rrc != rc:
                failure = f"run exits {rrc} but validate exits {rc}: {rerr.strip()[-300:]}"
            else:
                failure = _check_run_output(folder, rrc)
                if failure is None and rrc == 2:
                    failure = _check_messages(case, root, rerr)
                if failure is None and rrc == 0:
                    failure = _numeric_warnings(rcaught)
                if failure is not None:
                    failure = f"run: {failure}"
            err = err + ("\n--- run ---\n" + rerr if rerr else "")
        if failure is not None:
            out.status, out.reason, out.stderr = "FAILURE", failure, err
        else:
            out.status = "ok" if rc == 0 else "error"
        out.seconds = time.perf_counter() - t0
        return out
    finally:
        if case.setup is not None:
            with contextlib.suppress(OSError):
                for p in root.rglob("*"):
                    if p.is_fifo():
                        p.unlink()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _classify(case: Case, root: Path, rc: int | None, err: str, same_rc: int | None) -> str | None:
    if rc == 1 or rc is None:
        return f"exit {rc}: {err.strip()[-300:]}"
    if rc not in (0, 2):
        return f"unexpected exit {rc}"
    expect = case.expect
    if expect == "same":
        expect = None if same_rc is None else ("ok" if same_rc == 0 else "error")
    if expect == "error" and rc != 2:
        return "bad input accepted (exit 0)"
    if expect == "ok" and rc != 0:
        return f"good input refused: {err.strip()[-300:]}"
    if rc == 2:
        return _check_messages(case, root, err)
    return None


def fuzz(cases: int = 2000, seed: int = 0, kinds: tuple[str, ...] = KINDS,
         run_fraction: float = 0.05, workdir: str | os.PathLike | None = None,
         keep: str | os.PathLike | None = None, bigtape_rows: int = 1_000_000,
         log: Callable[[Outcome], None] | None = None, max_items: int = 20000) -> list[Outcome]:
    """Generate and run ``cases`` cases; return every outcome (see :func:`run_case`)."""
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="simpool-fuzz-")) if own else Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    baseline: dict[str, int] = {}
    outcomes = []
    try:
        for case in generate(cases, seed, tuple(kinds), run_fraction, bigtape_rows, max_items):
            same = None
            if case.expect == "same":
                if case.entry not in baseline:
                    plain = Case(case.kind, "baseline", _baseline_files(case), case.entry)
                    baseline[case.entry] = run_case(plain, work).rc or 0
                same = baseline[case.entry]
            o = run_case(case, work, keep=False, same_rc=same)
            if o.status == "FAILURE" and keep is not None:
                dest = Path(keep) / f"{len(outcomes):05d}-{case.kind}"
                dest.mkdir(parents=True, exist_ok=True)
                for rel, data in case.files.items():
                    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                    (dest / rel).write_bytes(data)
                (dest / "CASE.txt").write_text(
                    f"{case.label}\nargs: {case.args}\nreason: {o.reason}\n\n{o.stderr}",
                    encoding="utf-8")
            outcomes.append(o)
            if log is not None:
                log(o)
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    return outcomes


_SOURCE_FILES: dict[str, dict[str, bytes]] = {}


def _baseline_files(case: Case) -> dict[str, bytes]:
    if not _SOURCE_FILES:
        for s in sources():
            _SOURCE_FILES[s.entry] = s.files
    return _SOURCE_FILES.get(case.entry, case.files)


def counts(outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    """{kind: {"ok": n, "error": n, "FAILURE": n, "ran": n, "seconds": s}}."""
    out: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        c = out.setdefault(o.case.kind, {"ok": 0, "error": 0, "FAILURE": 0, "ran": 0,
                                         "seconds": 0.0})
        c[o.status] += 1
        c["ran"] += o.ran
        c["seconds"] += o.seconds
    return out


def format_counts(outcomes: list[Outcome]) -> str:
    rows = counts(outcomes)
    lines = [f"{'kind':<12} {'cases':>7} {'ok':>7} {'error':>7} {'FAILURE':>8} {'run':>6} "
             f"{'seconds':>8}"]
    tot = {"ok": 0, "error": 0, "FAILURE": 0, "ran": 0, "seconds": 0.0}
    for kind in KINDS:
        if kind not in rows:
            continue
        c = rows[kind]
        n = c["ok"] + c["error"] + c["FAILURE"]
        lines.append(f"{kind:<12} {n:>7} {c['ok']:>7} {c['error']:>7} {c['FAILURE']:>8} "
                     f"{c['ran']:>6} {c['seconds']:>8.1f}")
        for k in tot:
            tot[k] += c[k]
    n = tot["ok"] + tot["error"] + tot["FAILURE"]
    lines.append(f"{'all':<12} {n:>7} {tot['ok']:>7} {tot['error']:>7} {tot['FAILURE']:>8} "
                 f"{tot['ran']:>6} {tot['seconds']:>8.1f}")
    return "\n".join(lines)


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
