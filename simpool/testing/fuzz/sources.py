"""What mutations start from: the shipped scenarios (``scenarios/``, with their ``extends``
bases) and small synthetic ones that cover what those leave out (:func:`sources`), the
scenario of the ``sweep`` and ``folders`` kinds, synthetic loan tapes, and the helpers that
walk, copy, change and write a scenario's parsed TOML.
"""

from __future__ import annotations

import csv as _csv
import io
import os
import random
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator


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
    root = Path(__file__).resolve().parents[3] / "scenarios"
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


#: The scenario of the ``sweep`` and ``folders`` kinds (its seed and paths below).
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


def _with(src: Source, data: dict) -> dict[str, bytes] | None:
    text = _dumps(data)
    if text is None:
        return None
    files = dict(src.files)
    files[src.entry] = text
    return files


def _fmt_path(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def _short(v: Any, n: int = 40) -> str:
    try:
        s = repr(v)
    except ValueError:
        s = "<huge int>"
    return s if len(s) <= n else s[: n - 3] + "..."
