"""Tests for simpool.scenario.tomlpos: key path -> line locator for TOML text."""

from __future__ import annotations

import tomllib
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from simpool.scenario.tomlpos import KeyPath, format_path, line_of, locate_keys

SCENARIO = '''\
# Example scenario: IP-pledge guarantee pool
title = "demo # not a comment = [x]"   # a real comment

[simulation]
paths = 20_000
seed = 42
horizon_years = 3

[model]
kind = "gaussian_copula"
sector_correlation = [
    [1.0, 0.3],   # row 0
    [0.3, 1.0],   # row 1
]
description = """
not_a_key = 1
[not_a_table]
# not a comment
"""

[[cohorts]]
name = "ip_pledge"
pd = 0.02
lgd = 0.45
exposure = "10亿"

[[cohorts]]
name = "credit"
pd = 0.035
exposure = "5000万"
[cohorts.fee]
rate = 0.01

[portfolio]
pool_size = "1.5亿"
compensation = { bank = 0.2, government = 0.4 }
'''

SCENARIO_LINES = {
    ("title",): 2,
    ("simulation",): 4,
    ("simulation", "paths"): 5,
    ("simulation", "seed"): 6,
    ("simulation", "horizon_years"): 7,
    ("model",): 9,
    ("model", "kind"): 10,
    ("model", "sector_correlation"): 11,
    ("model", "sector_correlation", 0): 12,
    ("model", "sector_correlation", 0, 0): 12,
    ("model", "sector_correlation", 0, 1): 12,
    ("model", "sector_correlation", 1): 13,
    ("model", "sector_correlation", 1, 0): 13,
    ("model", "sector_correlation", 1, 1): 13,
    ("model", "description"): 15,
    ("cohorts",): 21,
    ("cohorts", 0): 21,
    ("cohorts", 0, "name"): 22,
    ("cohorts", 0, "pd"): 23,
    ("cohorts", 0, "lgd"): 24,
    ("cohorts", 0, "exposure"): 25,
    ("cohorts", 1): 27,
    ("cohorts", 1, "name"): 28,
    ("cohorts", 1, "pd"): 29,
    ("cohorts", 1, "exposure"): 30,
    ("cohorts", 1, "fee"): 31,
    ("cohorts", 1, "fee", "rate"): 32,
    ("portfolio",): 34,
    ("portfolio", "pool_size"): 35,
    ("portfolio", "compensation"): 36,
    ("portfolio", "compensation", "bank"): 36,
    ("portfolio", "compensation", "government"): 36,
}


def _paths(obj: Any, prefix: KeyPath = ()) -> Iterator[KeyPath]:
    """Every key path / array element path in a parsed TOML document."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


# --------------------------------------------------------------------------- scenario


def test_realistic_scenario_exact() -> None:
    assert tomllib.loads(SCENARIO)  # the fixture is valid TOML
    assert locate_keys(SCENARIO) == SCENARIO_LINES


def test_realistic_scenario_covers_tomllib_paths() -> None:
    parsed = tomllib.loads(SCENARIO)
    assert set(_paths(parsed)) == set(locate_keys(SCENARIO))


def test_realistic_scenario_crlf_same_lines() -> None:
    assert locate_keys(SCENARIO.replace("\n", "\r\n")) == SCENARIO_LINES


# --------------------------------------------------------------------------- tables


def test_tables_and_top_level_keys() -> None:
    text = 'top = 1\n[simulation]\npaths = 5\n\n[a.b]\nc = 2\n'
    assert locate_keys(text) == {
        ("top",): 1,
        ("simulation",): 2,
        ("simulation", "paths"): 3,
        ("a",): 5,
        ("a", "b"): 5,
        ("a", "b", "c"): 6,
    }


def test_explicit_header_beats_implicit_parent() -> None:
    idx = locate_keys("[a.b]\nx = 1\n[a]\ny = 2\n")
    assert idx[("a",)] == 3
    assert idx[("a", "b")] == 1
    assert idx[("a", "y")] == 4


def test_header_whitespace_and_quotes() -> None:
    text = '[ a . "b.c" . \'d e\' ]\nk = 1\n[[ arr ]]\nv = 2\n'
    idx = locate_keys(text)
    assert idx[("a", "b.c", "d e")] == 1
    assert idx[("a", "b.c", "d e", "k")] == 2
    assert idx[("arr", 0, "v")] == 4
    assert tomllib.loads(text)["a"]["b.c"]["d e"]["k"] == 1


def test_header_with_brackets_in_quoted_name() -> None:
    idx = locate_keys('["x]y"]\nk = 1\n')
    assert idx == {("x]y",): 1, ("x]y", "k"): 2}


def test_header_followed_by_comment() -> None:
    idx = locate_keys("[t]  # the table\nk = 1 # one\n")
    assert idx == {("t",): 1, ("t", "k"): 2}


# --------------------------------------------------------------------------- arrays of tables


def test_array_of_tables_indices() -> None:
    text = "[[cohorts]]\npd = 1\n[[cohorts]]\npd = 2\n[[cohorts]]\npd = 3\n"
    idx = locate_keys(text)
    assert idx[("cohorts",)] == 1
    assert [idx[("cohorts", k)] for k in range(3)] == [1, 3, 5]
    assert [idx[("cohorts", k, "pd")] for k in range(3)] == [2, 4, 6]


def test_subtable_of_latest_element() -> None:
    text = "[[cohorts]]\nname = 'a'\n[[cohorts]]\nname = 'b'\n[cohorts.fee]\nrate = 1\n"
    idx = locate_keys(text)
    assert idx[("cohorts", 1, "fee")] == 5
    assert idx[("cohorts", 1, "fee", "rate")] == 6
    assert ("cohorts", 0, "fee") not in idx


def test_nested_arrays_of_tables_counted_per_parent() -> None:
    text = """\
[[cohorts]]
[[cohorts.loans]]
x = 1
[[cohorts.loans]]
x = 2
[[cohorts]]
[[cohorts.loans]]
x = 3
[cohorts.loans.terms]
t = 4
"""
    idx = locate_keys(text)
    assert idx[("cohorts", 0, "loans", 0, "x")] == 3
    assert idx[("cohorts", 0, "loans", 1, "x")] == 5
    assert idx[("cohorts", 1, "loans", 0, "x")] == 8
    assert idx[("cohorts", 1, "loans")] == 7
    assert idx[("cohorts", 1, "loans", 0, "terms", "t")] == 10
    assert ("cohorts", 1, "loans", 1) not in idx
    assert set(_paths(tomllib.loads(text))) == set(idx)


# --------------------------------------------------------------------------- keys


def test_dotted_keys_register_parents_once() -> None:
    text = "[t]\na.b = 1\na.c = 2\n"
    idx = locate_keys(text)
    assert idx == {("t",): 1, ("t", "a"): 2, ("t", "a", "b"): 2, ("t", "a", "c"): 3}


def test_dotted_keys_with_spaces_and_quotes() -> None:
    text = """a . b . c = 1\n"x.y" . 'z w' = 2\n'lit' = 3\n"" = 4\n"""
    idx = locate_keys(text)
    assert idx[("a", "b", "c")] == 1
    assert idx[("a",)] == 1
    assert idx[("x.y", "z w")] == 2
    assert idx[("lit",)] == 3
    assert idx[("",)] == 4
    assert set(_paths(tomllib.loads(text))) == set(idx)


def test_quoted_key_escapes_are_decoded() -> None:
    text = '"a\\u0041\\"b" = 1\n"tab\\there" = 2\n'
    idx = locate_keys(text)
    assert set(idx) == set(_paths(tomllib.loads(text)))
    assert idx[('aA"b',)] == 1
    assert idx[("tab\there",)] == 2


def test_non_ascii_keys() -> None:
    idx = locate_keys('"知识产权" = 1\n[组合]\n"名称" = "x"\n')
    assert idx[("知识产权",)] == 1
    assert idx[("组合", "名称")] == 3


# --------------------------------------------------------------------------- values


def test_inline_tables() -> None:
    text = "x = { a = 1, b = { c = 2 }, d.e = 3 }\ny = {}\n"
    idx = locate_keys(text)
    assert idx == {
        ("x",): 1, ("x", "a"): 1, ("x", "b"): 1, ("x", "b", "c"): 1,
        ("x", "d"): 1, ("x", "d", "e"): 1, ("y",): 2,
    }
    assert set(_paths(tomllib.loads(text))) == set(idx)


def test_array_of_inline_tables_one_line() -> None:
    idx = locate_keys("x = [ {a=1}, {a=2, b='}'} ]\nz = 0\n")
    assert idx[("x", 0, "a")] == 1
    assert idx[("x", 1, "a")] == 1
    assert idx[("x", 1, "b")] == 1
    assert idx[("z",)] == 2


def test_multiline_array_elements_get_their_lines() -> None:
    text = "m = [\n  [1.0, 0.3],\n\n  # [not] a = key\n  [0.3, 1.0]\n]\nafter = 1\n"
    idx = locate_keys(text)
    assert idx[("m",)] == 1
    assert idx[("m", 0)] == 2
    assert idx[("m", 1)] == 5
    assert idx[("m", 1, 1)] == 5
    assert idx[("after",)] == 7
    assert set(_paths(tomllib.loads(text))) == set(idx)


def test_multiline_strings_hide_their_lines() -> None:
    text = '''\
a = """
b = 1
[c]
\\""" still inside
"""
d = \'\'\'
e = 2
[[f]]
# x
\'\'\'
g = """x""\"""
h = 3
'''
    parsed = tomllib.loads(text)
    idx = locate_keys(text)
    assert set(idx) == set(_paths(parsed)) == {("a",), ("d",), ("g",), ("h",)}
    assert idx[("d",)] == 6
    assert idx[("g",)] == 11
    assert idx[("h",)] == 12


def test_multiline_basic_string_line_continuation() -> None:
    text = 'a = """\\\n  x = 1 \\\n  """\nb = 2\n'
    idx = locate_keys(text)
    assert set(idx) == set(_paths(tomllib.loads(text)))
    assert idx[("b",)] == 4


@pytest.mark.parametrize(
    "line",
    [
        'k = "a # b = [c]"',
        "k = 'a # b = [c]'",
        'k = "esc \\" # still string"',
        'k = "back\\\\" # comment with "quote',
        "k = 'C:\\path\\' # literal keeps backslash",
        "k = [ '#', \"]\", '[' ] # arr",
        "k = 1979-05-27 07:32:00Z # datetime with a space",
        "k = -1.5e3#tight comment",
        "k = { s = '#}' }",
    ],
)
def test_special_characters_in_strings_and_comments(line: str) -> None:
    text = f"{line}\n[t]\nx = 1\n"
    tomllib.loads(text)
    idx = locate_keys(text)
    assert idx[("k",)] == 1
    assert idx[("t", "x")] == 3
    assert set(idx) == set(_paths(tomllib.loads(text)))


def test_comment_lines_and_blank_lines() -> None:
    text = "# [fake]\n   # x = 1\n\n\t\nreal = 1 # y = 2\n"
    assert locate_keys(text) == {("real",): 5}


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n",
        "[",
        "[[",
        "[a",
        "[[a]",
        "= 1",
        "a =",
        "a = ",
        'a = "unterminated\nb = 2\n',
        "a = 'unterminated\nb = 2\n",
        'a = """never closed\nb = 2\n',
        "a = [1, 2\n[t]\nb = 2\n",
        "a = { x = 1\n",
        "a = [" * 500,
        "a = " + "{b = " * 500,
        "\x00\x01\ufffd\ud800 = 1",
        "a.b.\n",
        "a b = 1\n",
        '"\\',
        "'''",
        "]]]]",
        "a = 1 junk\nb = 2\n",
    ],
)
def test_never_raises_on_bad_input(text: str) -> None:
    idx = locate_keys(text)
    assert isinstance(idx, dict)
    nlines = text.count("\n") + 1
    assert all(1 <= v <= nlines for v in idx.values())


def test_recovers_on_next_line() -> None:
    idx = locate_keys('a = "unterminated\nb = 2\nc = 1 junk\nd = 4\ne = [1, 2\n[t]\nf = 1\n')
    assert idx[("b",)] == 2
    assert idx[("d",)] == 4
    assert idx[("t", "f")] == 7


def test_non_str_input_does_not_raise() -> None:
    assert locate_keys(b"a = 1") == {}  # type: ignore[arg-type]


def test_large_input_is_fast() -> None:
    text = "".join(f"[t{i}]\nk = 'x'\nv = [1, 2, 3]\n" for i in range(3000))
    idx = locate_keys(text)
    assert idx[("t2999", "v", 2)] == 3 * 2999 + 3


_TOMLISH = st.lists(
    st.sampled_from(list("[]{}\"'=#.,\\ \t\r\nab1_-") + ["'''", '"""', "[[", "]]", "\n[t]\n"]),
    max_size=60,
).map("".join)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=200), _TOMLISH))
def test_never_raises_hypothesis(text: str) -> None:
    idx = locate_keys(text)
    nlines = text.count("\n") + 1
    for path, line in idx.items():
        assert isinstance(path, tuple) and path
        assert all(isinstance(p, (str, int)) for p in path)
        assert 1 <= line <= nlines


# --------------------------------------------------------------------------- generated documents

_BARE = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789_-", min_size=1, max_size=6)
_ANY = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
_TRICKY = [
    "key = 1", "[table]", "[[aot]]", "# comment", "x = \"unterminated", "a = [", "]", "}",
    "{", "= = =", "  indented = 2", "", "'", "\t", "#", "[", "x.y = 'z'",
]


def _basic(s: str) -> str:
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _render_key(name: str, style: int) -> str:
    bare = name and all(c.isascii() and (c.isalnum() or c in "_-") for c in name)
    if bare and style == 0:
        return name
    literal_ok = all(c != "'" and (c == "\t" or (ord(c) >= 0x20 and ord(c) != 0x7F)) for c in name)
    if literal_ok and style == 1:
        return f"'{name}'"
    return _basic(name)


_names = st.tuples(st.one_of(_BARE, _ANY), st.integers(0, 2))


@st.composite
def _value(
    draw: st.DrawFn, depth: int = 0, one_line: bool = False
) -> tuple[list[str], list[tuple[KeyPath, int]]]:
    """A rendered value: its lines (first one follows ``key = ``) and sub-paths.

    Sub-paths are (relative path, line offset) for array elements / inline-table keys.
    """
    kinds = ["int", "bool", "float", "basic", "literal"]
    if depth < 2:
        kinds += ["array", "inline"] + ([] if one_line else ["ml_basic", "ml_literal", "ml_array"])
    kind = draw(st.sampled_from(kinds))
    if kind == "int":
        return [str(draw(st.integers(-10**6, 10**6)))], []
    if kind == "bool":
        return [draw(st.sampled_from(["true", "false"]))], []
    if kind == "float":
        x = draw(st.floats(allow_nan=False, allow_infinity=False, width=32))
        return [repr(float(x))], []
    if kind == "basic":
        return [_basic(draw(st.one_of(_ANY, st.sampled_from(_TRICKY))))], []
    if kind == "literal":
        s = draw(st.sampled_from(_TRICKY)).replace("'", "")
        return [f"'{s}'"], []
    if kind in ("ml_basic", "ml_literal"):
        body = draw(st.lists(st.sampled_from(_TRICKY), max_size=4))
        if kind == "ml_basic":
            body = [b.replace("\\", "\\\\").replace('"', '\\"') for b in body]
            return ['"""', *body, '"""'], []
        body = [b.replace("'", "") for b in body]
        return ["'''", *body, "'''"], []
    if kind == "array":
        elems = draw(st.lists(_value(depth + 1, one_line=True), max_size=3))
        subs: list[tuple[KeyPath, int]] = []
        for i, (_, esubs) in enumerate(elems):
            subs.append(((i,), 0))
            subs += [((i,) + p, 0) for p, _ in esubs]
        return ["[ " + ", ".join(e[0][0] for e in elems) + " ]"], subs
    if kind == "ml_array":
        elems = draw(st.lists(_value(depth + 1), max_size=3))
        lines = ["[  # open"]
        subs = []
        for i, (elines, esubs) in enumerate(elems):
            off = len(lines)
            subs.append(((i,), off))
            subs += [((i,) + p, off + o) for p, o in esubs]
            lines += ["    " + elines[0], *elines[1:]]
            lines[-1] += ",  # elem"
            if draw(st.booleans()):
                lines.append("    # [not] = key")
        lines.append("]")
        return lines, subs
    # inline table, on one line
    keys = draw(st.lists(_names, max_size=3, unique_by=lambda t: t[0]))
    parts, subs = [], []
    for name, style in keys:
        vlines, vsubs = draw(_value(depth + 1, one_line=True))
        parts.append(f"{_render_key(name, style)} = {vlines[0]}")
        subs.append(((name,), 0))
        subs += [((name,) + p, 0) for p, _ in vsubs]
    return ["{ " + ", ".join(parts) + " }"], subs


@st.composite
def _body(draw: st.DrawFn) -> list[tuple[tuple[str, ...], KeyPath, list[str], list[Any]]]:
    """Statements of one table: (rendered key parts, key path, value lines, sub-paths)."""
    n = draw(st.integers(0, 4))
    firsts = draw(st.lists(_names, min_size=n, max_size=n, unique_by=lambda t: t[0]))
    out = []
    for name, style in firsts:
        if draw(st.integers(0, 4)) == 0:  # dotted key
            sub = draw(st.lists(_names, min_size=1, max_size=2, unique_by=lambda t: t[0]))
            for s, s_style in sub:
                lines, subs = draw(_value())
                out.append(((_render_key(name, style), _render_key(s, s_style)),
                            (name, s), lines, subs))
        else:
            lines, subs = draw(_value())
            out.append(((_render_key(name, style),), (name,), lines, subs))
    return out


@st.composite
def _document(draw: st.DrawFn) -> tuple[str, dict[KeyPath, int]]:
    """A random valid TOML document and the explicit line of every path in it."""
    lines: list[str] = []
    explicit: dict[KeyPath, int] = {}

    def noise() -> None:
        for _ in range(draw(st.integers(0, 1))):
            lines.append(draw(st.sampled_from(["", "# [x] = 1", "   ", "\t# c"])))

    def emit_body(table: KeyPath) -> None:
        for rendered, parts, vlines, subs in draw(_body()):
            noise()
            sep = draw(st.sampled_from([".", " . ", ". "]))
            first = len(lines) + 1
            comment = draw(st.sampled_from(["", "  # c", " #[t]"]))
            block = list(vlines)
            block[-1] += comment
            lines.append(f"{sep.join(rendered)} = {block[0]}")
            lines.extend(block[1:])
            explicit[table + parts] = first
            for p, off in subs:
                explicit[table + parts + p] = first + off

    emit_body(())
    sections = draw(st.lists(st.tuples(_names, st.sampled_from(["table", "dotted", "aot"]),
                                       st.integers(1, 3)),
                             max_size=4, unique_by=lambda t: t[0][0]))
    for (name, style), kind, count in sections:
        noise()
        key = _render_key(name, style)
        if kind == "table":
            explicit[(name,)] = len(lines) + 1
            lines.append(f"[{key}]")
            emit_body((name,))
        elif kind == "dotted":
            sub, sub_style = draw(_names)
            explicit[(name, sub)] = len(lines) + 1
            lines.append(f"[ {key} . {_render_key(sub, sub_style)} ]")
            emit_body((name, sub))
        else:
            for k in range(count):
                noise()
                explicit[(name, k)] = len(lines) + 1
                lines.append(f"[[{key}]]")
                emit_body((name, k))
                if draw(st.booleans()):  # a sub-table of the latest element
                    sub = "\x00sub-" + str(k)  # cannot clash with generated keys
                    explicit[(name, k, sub)] = len(lines) + 1
                    lines.append(f"[{key}.{_render_key(sub, 2)}]")
                    emit_body((name, k, sub))
    return "\n".join(lines) + "\n", explicit


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_document())
def test_generated_documents_locate_every_path(doc: tuple[str, dict[KeyPath, int]]) -> None:
    text, explicit = doc
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError:  # e.g. a dotted key clashing with a plain one
        assume(False)
        return
    paths = set(_paths(parsed))
    # Implicit tables (from dotted keys / headers) sit where they first appear.
    expected = {}
    for p in paths:
        if p in explicit:
            expected[p] = explicit[p]
        else:
            expected[p] = min(v for q, v in explicit.items() if q[: len(p)] == p)
    assert locate_keys(text) == expected


# --------------------------------------------------------------------------- line_of


def test_line_of_exact_and_prefix() -> None:
    idx = locate_keys(SCENARIO)
    assert line_of(idx, ("cohorts", 1, "pd")) == 29
    assert line_of(idx, ("cohorts", 1, "missing")) == 27
    assert line_of(idx, ["cohorts", 5, "pd"]) == 21
    assert line_of(idx, ("simulation", "paths", "deeper")) == 5
    assert line_of(idx, ("nope",)) is None
    assert line_of(idx, ()) is None
    assert line_of({}, ("a",)) is None


# --------------------------------------------------------------------------- format_path


def test_format_path_plain() -> None:
    assert format_path(("cohorts", 0, "pd")) == "cohorts.0.pd"
    assert format_path(()) == ""
    assert format_path(["simulation", "paths"]) == "simulation.paths"


def test_format_path_with_names() -> None:
    names = {"cohorts": ["ip_pledge", "credit"]}
    assert format_path(("cohorts", 0, "pd"), names) == "cohorts.ip_pledge.pd"
    assert format_path(("cohorts", 1), names) == "cohorts.credit"
    assert format_path(("cohorts", 2, "pd"), names) == "cohorts.2.pd"  # out of range
    assert format_path(("other", 0), names) == "other.0"


def test_format_path_unnamed_elements_and_nested() -> None:
    names = {
        "cohorts": ["a", None, ""],
        ("cohorts", 0, "loans"): ["first"],
        "loans": ["generic"],
    }
    assert format_path(("cohorts", 1, "pd"), names) == "cohorts.1.pd"
    assert format_path(("cohorts", 2, "pd"), names) == "cohorts.2.pd"
    assert format_path(("cohorts", 0, "loans", 0), names) == "cohorts.a.loans.first"
    assert format_path(("cohorts", 1, "loans", 0), names) == "cohorts.1.loans.generic"


def test_format_path_quotes_awkward_keys() -> None:
    assert format_path(("a.b", "c")) == '"a.b".c'
    assert format_path(("x y",)) == '"x y"'
    assert format_path(("",)) == '""'
    assert format_path(('q"',)) == '"q\\""'
    assert format_path(("知识产权", "pd")) == "知识产权.pd"
    assert format_path(("cohorts", 0), {"cohorts": ["ip pledge"]}) == 'cohorts."ip pledge"'
