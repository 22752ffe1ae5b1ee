"""Locate TOML keys by line, for ``file:line: dotted.path: message`` errors.

:mod:`tomllib` parses a document but forgets where each value came from. This module
is a small, forgiving line scanner (not a parser, and not a validator) that walks the
same text and records the 1-based line of every key path it meets:

* table headers ``[a.b]`` and array-of-tables headers ``[[a]]`` (the k-th element is
  ``("a", k)``; sub-tables and nested arrays hang off the latest element);
* ``key = value`` lines, with dotted, quoted and literal-quoted keys;
* keys inside inline tables and elements of arrays (``("x", 0, "a")``), on the line
  where each one starts;
* multi-line arrays and multi-line strings are stepped over, so nothing inside them
  is mistaken for a key, and ``#``, ``=`` or ``[`` inside strings are ignored.

It never raises: on text that is not valid TOML (or not TOML at all) it returns
whatever it found before it lost its way, skipping to the next line and carrying on.

Examples
--------
>>> idx = locate_keys('[simulation]\\npaths = 5\\n[[cohorts]]\\npd = 0.02\\n')
>>> idx[("simulation", "paths")], idx[("cohorts", 0, "pd")]
(2, 4)
>>> line_of(idx, ("cohorts", 0, "lgd"))  # missing key: points at its table
3
>>> format_path(("cohorts", 0, "pd"), {"cohorts": ["ip_pledge"]})
'cohorts.ip_pledge.pd'
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence

__all__ = ["KeyPath", "locate_keys", "line_of", "format_path"]

KeyPath = tuple[str | int, ...]

# Nesting deeper than this (arrays in arrays in inline tables ...) is abandoned for
# the rest of the line rather than risking a RecursionError.
_MAX_DEPTH = 64

_WS = " \t"
# Characters that end a bare key. TOML 1.0 allows only A-Za-z0-9_- in bare keys; we
# accept anything else that is not syntax, so that (invalid) keys such as Chinese
# names are still located.
_KEY_STOP = frozenset(" \t\r\n=.[]{},#\"'")
_SCALAR_STOP = frozenset(",]}#\n")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", "e": "\x1b",
            '"': '"', "\\": "\\"}


class _Lost(Exception):
    """The scanner could not make sense of the text at its current position."""


class _Scanner:
    """One pass over a TOML text; see :func:`locate_keys`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.index: dict[KeyPath, int] = {}
        self.explicit: set[KeyPath] = set()  # paths defined by a header or a key
        self.aot_count: dict[KeyPath, int] = {}  # array-of-tables path -> elements
        self.table: KeyPath = ()  # current table, from the last header

    # -- small helpers ------------------------------------------------------------

    def line(self, pos: int | None = None) -> int:
        return bisect_right(self.starts, self.pos if pos is None else pos)

    def peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.text[i] if i < self.n else ""

    def startswith(self, s: str) -> bool:
        return self.text.startswith(s, self.pos)

    def skip_ws(self) -> None:
        while self.pos < self.n and self.text[self.pos] in _WS:
            self.pos += 1

    def skip_to_eol(self) -> None:
        """Move to just past the next newline (or to the end)."""
        nl = self.text.find("\n", self.pos)
        self.pos = self.n if nl < 0 else nl + 1

    def skip_blank(self) -> None:
        """Skip whitespace, newlines and comments (inside arrays / inline tables)."""
        while self.pos < self.n:
            c = self.text[self.pos]
            if c in " \t\r\n":
                self.pos += 1
            elif c == "#":
                nl = self.text.find("\n", self.pos)
                self.pos = self.n if nl < 0 else nl
            else:
                return

    def add(self, path: KeyPath, line: int, explicit: bool) -> None:
        """Record ``path`` at ``line``; explicit definitions beat implicit ones."""
        if explicit:
            if path not in self.explicit:
                self.explicit.add(path)
                self.index[path] = line
        elif path not in self.index:
            self.index[path] = line

    def add_with_parents(self, path: KeyPath, line: int, start: int) -> None:
        """Record ``path`` explicitly and ``path[:k]`` implicitly for k >= start."""
        for k in range(max(start, 1), len(path)):
            self.add(path[:k], line, explicit=False)
        self.add(path, line, explicit=True)

    # -- lexical pieces -------------------------------------------------------------

    def read_key(self) -> list[str]:
        """Read a (possibly dotted) key at the current position."""
        parts: list[str] = []
        while True:
            self.skip_ws()
            c = self.peek()
            if c == '"':
                parts.append(self.read_basic_string(key=True))
            elif c == "'":
                parts.append(self.read_literal_string(key=True))
            else:
                start = self.pos
                while self.pos < self.n and self.text[self.pos] not in _KEY_STOP:
                    self.pos += 1
                if self.pos == start:
                    raise _Lost
                parts.append(self.text[start:self.pos])
            self.skip_ws()
            if self.peek() != ".":
                return parts
            self.pos += 1

    def read_basic_string(self, key: bool = False) -> str:
        """Read ``"..."`` (or ``\"\"\"...\"\"\"`` unless ``key``); return its value."""
        if not key and self.startswith('"""'):
            self.pos += 3
            end = self._find_ml_end('"""', escapes=True)
            raw = self.text[self.pos:end]
            self.pos = min(end + 3, self.n)
            self._eat_extra_quotes('"')
            return raw
        self.pos += 1
        out: list[str] = []
        while self.pos < self.n:
            c = self.text[self.pos]
            if c == '"':
                self.pos += 1
                return "".join(out)
            if c == "\n":
                raise _Lost  # unterminated single-line string
            if c == "\\":
                out.append(self._read_escape())
                continue
            out.append(c)
            self.pos += 1
        raise _Lost

    def _read_escape(self) -> str:
        """Decode the escape at ``self.pos`` (which is a backslash)."""
        c = self.peek(1)
        if c in _ESCAPES:
            self.pos += 2
            return _ESCAPES[c]
        width = {"u": 4, "U": 8, "x": 2}.get(c)
        if width:
            digits = self.text[self.pos + 2:self.pos + 2 + width]
            if len(digits) == width and all(d in "0123456789abcdefABCDEF" for d in digits):
                self.pos += 2 + width
                try:
                    return chr(int(digits, 16))
                except (ValueError, OverflowError):
                    return "\ufffd"
        # Invalid escape: keep it literally (best effort).
        if c == "\n" or not c:
            raise _Lost
        self.pos += 2
        return "\\" + c

    def read_literal_string(self, key: bool = False) -> str:
        """Read ``'...'`` (or ``'''...'''`` unless ``key``); return its value."""
        if not key and self.startswith("'''"):
            self.pos += 3
            end = self._find_ml_end("'''", escapes=False)
            raw = self.text[self.pos:end]
            self.pos = min(end + 3, self.n)
            self._eat_extra_quotes("'")
            return raw
        nl = self.text.find("\n", self.pos + 1)
        end = self.text.find("'", self.pos + 1, self.n if nl < 0 else nl)
        if end < 0:
            raise _Lost  # unterminated (a literal string cannot span lines)
        value = self.text[self.pos + 1:end]
        self.pos = end + 1
        return value

    def _find_ml_end(self, delim: str, escapes: bool) -> int:
        """Position of the closing delimiter of a multi-line string (or the end)."""
        i = self.pos
        while True:
            j = self.text.find(delim, i)
            if j < 0:
                return self.n
            if escapes:
                # Count the backslashes just before the quote: odd means escaped.
                k = j
                while k > self.pos and self.text[k - 1] == "\\":
                    k -= 1
                if (j - k) % 2 == 1:
                    i = j + 1
                    continue
            return j

    def _eat_extra_quotes(self, q: str) -> None:
        # Up to two quotes may sit right before the closing delimiter: """a""""".
        for _ in range(2):
            if self.peek() == q:
                self.pos += 1

    # -- values ---------------------------------------------------------------------

    def read_value(self, path: KeyPath, depth: int) -> None:
        """Step over one value, recording keys / elements inside it under ``path``."""
        if depth > _MAX_DEPTH:
            raise _Lost
        self.skip_ws()
        c = self.peek()
        if c == '"':
            self.read_basic_string()
        elif c == "'":
            self.read_literal_string()
        elif c == "[":
            self.read_array(path, depth)
        elif c == "{":
            self.read_inline_table(path, depth)
        else:
            start = self.pos
            while self.pos < self.n and self.text[self.pos] not in _SCALAR_STOP:
                self.pos += 1
            if self.pos == start:
                raise _Lost  # nothing where a value should be

    def read_array(self, path: KeyPath, depth: int) -> None:
        self.pos += 1  # "["
        i = 0
        while True:
            self.skip_blank()
            c = self.peek()
            if c == "]":
                self.pos += 1
                return
            if not c:
                raise _Lost
            self.add(path + (i,), self.line(), explicit=True)
            self.read_value(path + (i,), depth + 1)
            i += 1
            self.skip_blank()
            c = self.peek()
            if c == ",":
                self.pos += 1
            elif c == "]":
                self.pos += 1
                return
            else:
                raise _Lost

    def read_inline_table(self, path: KeyPath, depth: int) -> None:
        self.pos += 1  # "{"
        while True:
            self.skip_blank()
            c = self.peek()
            if c == "}":
                self.pos += 1
                return
            if not c:
                raise _Lost
            line = self.line()
            key = tuple(self.read_key())
            if self.peek() != "=":
                raise _Lost
            self.pos += 1
            self.add_with_parents(path + key, line, start=len(path) + 1)
            self.read_value(path + key, depth + 1)
            self.skip_blank()
            c = self.peek()
            if c == ",":
                self.pos += 1
            elif c == "}":
                self.pos += 1
                return
            else:
                raise _Lost

    # -- statements -----------------------------------------------------------------

    def resolve(self, parts: Sequence[str], index_last: bool) -> KeyPath:
        """Turn header key parts into a path, indexing through arrays of tables."""
        path: KeyPath = ()
        for k, part in enumerate(parts):
            path += (part,)
            if (index_last or k < len(parts) - 1) and path in self.aot_count:
                path += (self.aot_count[path] - 1,)
        return path

    def header(self) -> None:
        line = self.line()
        aot = self.startswith("[[")
        self.pos += 2 if aot else 1
        parts = self.read_key()
        close = "]]" if aot else "]"
        if not self.startswith(close):
            raise _Lost
        self.pos += len(close)
        if aot:
            array = self.resolve(parts, index_last=False)
            k = self.aot_count.get(array, 0)
            self.aot_count[array] = k + 1
            table = array + (k,)
            for j in range(1, len(array)):
                self.add(array[:j], line, explicit=False)
            self.add(array, line, explicit=True)  # the first header names the array
            self.add(table, line, explicit=True)
        else:
            table = self.resolve(parts, index_last=False)
            self.add_with_parents(table, line, start=1)
        self.table = table
        self.end_of_statement()

    def key_value(self) -> None:
        line = self.line()
        key = tuple(self.read_key())
        if self.peek() != "=":
            raise _Lost
        self.pos += 1
        path = self.table + key
        self.add_with_parents(path, line, start=len(self.table) + 1)
        self.read_value(path, 0)
        self.end_of_statement()

    def end_of_statement(self) -> None:
        """After a statement only whitespace and a comment may follow on the line."""
        self.skip_ws()
        c = self.peek()
        if c in ("", "\n", "\r", "#"):
            self.skip_to_eol()
        else:
            raise _Lost

    def run(self) -> dict[KeyPath, int]:
        while self.pos < self.n:
            self.skip_ws()
            c = self.peek()
            if c in ("", "\n", "\r", "#"):
                self.skip_to_eol()
                continue
            start = self.pos
            try:
                if c == "[":
                    self.header()
                else:
                    self.key_value()
            except _Lost:
                # Resynchronise at the next line; make sure we always move forward.
                self.pos = max(self.pos, start + 1)
                if self.pos <= self.n and self.text[self.pos - 1] != "\n":
                    self.skip_to_eol()
        return self.index


def locate_keys(text: str) -> dict[KeyPath, int]:
    """Map every key path in a TOML text to the 1-based line where it is defined.

    Parameters
    ----------
    text : str
        The TOML document (need not be valid).

    Returns
    -------
    dict of tuple to int
        Key path -> line. Paths are tuples of key names (str) and array indices (int):
        ``("simulation", "paths")``, ``("cohorts", 1, "pd")``, ``("x", 0, "a")``.
        Tables get the line of their header (implicitly created parent tables the line
        where they first appear); arrays of tables the line of their first header;
        keys and array elements the line where they start. Lines count ``\\n`` only.

    Notes
    -----
    Best effort and never raises: a line it cannot understand is skipped. Duplicate
    definitions (invalid TOML) keep the first line.
    """
    if not isinstance(text, str):
        return {}
    scanner = _Scanner(text)
    try:
        return scanner.run()
    except Exception:  # noqa: BLE001 - a locator must never be the thing that fails
        return scanner.index


def line_of(index: Mapping[KeyPath, int], path: Sequence[str | int]) -> int | None:
    """Line of ``path``, or of its longest prefix present in ``index``.

    Parameters
    ----------
    index : mapping
        As returned by :func:`locate_keys`.
    path : sequence of str or int
        The key path to look up.

    Returns
    -------
    int or None
        The line, so that a missing key points at its table's header; ``None`` when
        not even the first component is known.
    """
    key = tuple(path)
    for k in range(len(key), 0, -1):
        line = index.get(key[:k])
        if line is not None:
            return line
    return None


_PLAIN = re.compile(r"[^\s.\"'\[\]=#\\]+")


def _part(x: object) -> str:
    s = str(x)
    if _PLAIN.fullmatch(s) and s.isprintable():
        return s
    out = s.replace("\\", "\\\\").replace('"', '\\"')
    out = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in out)
    return f'"{out}"'


def format_path(path: Sequence[str | int],
                names: Mapping[object, Sequence[str | None]] | None = None) -> str:
    """Render a key path as a dotted string, naming array elements when possible.

    Parameters
    ----------
    path : sequence of str or int
        E.g. ``("cohorts", 0, "pd")``.
    names : mapping, optional
        Array name -> element names, e.g. ``{"cohorts": ["ip_pledge", "credit"]}``.
        An integer index that follows such an array name is replaced by the element's
        name when it has one (a non-empty string at that position). A key may also be
        the full path of the array, e.g. ``("cohorts", 0, "loans")``, which wins over
        the bare name.

    Returns
    -------
    str
        ``"cohorts.0.pd"``, or ``"cohorts.ip_pledge.pd"`` with ``names``. Components
        that are empty or contain dots, spaces, quotes or similar are double-quoted
        (``'a."b.c"'``) so the result stays unambiguous.
    """
    parts: list[str] = []
    key = tuple(path)
    for k, item in enumerate(key):
        if isinstance(item, int) and not isinstance(item, bool) and names and k > 0:
            elems = None
            try:
                elems = names.get(key[:k])
            except TypeError:
                elems = None
            if elems is None and isinstance(key[k - 1], str):
                elems = names.get(key[k - 1])
            if elems is not None and 0 <= item < len(elems):
                name = elems[item]
                if isinstance(name, str) and name:
                    parts.append(_part(name))
                    continue
            parts.append(str(item))
        elif isinstance(item, int) and not isinstance(item, bool):
            parts.append(str(item))
        else:
            parts.append(_part(item))
    return ".".join(parts)
