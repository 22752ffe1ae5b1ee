"""Mutations of one scenario file (kinds ``types``, ``missing``, ``extra``, ``numbers``,
``extremes``, ``combo``, ``inflate``, ``text``, ``set``) and of the files it names (``extends``,
``loans_file``). Each ``gen_*`` takes the generator's ``random.Random`` and a source (or all of
them) and returns a :class:`~.core.Case`, or None when the draw makes no case.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
from pathlib import Path
from typing import Any, Callable

from .core import Case
from .sources import (_MONEY_RE, Source, _copy, _delete, _dumps, _fmt_path, _get, _in_sweep,
                      _is_number, _key_of, _nodes, _set, _short, _with)


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
    from ...scenario.schema import _model_for

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
    from ...scenario.schema import _model_for

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
        from ...scenario.schema import _model_for

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
