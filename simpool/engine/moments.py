"""Means and probabilities of per-path quantities without keeping the paths: block moments.

A run's mean-type figures (a pool's balance at the end of a year, ``P(depleted by year)``,
a guarantor's net assets, ...) need one number per path only until they are averaged. They are
reduced as the chunks of paths arrive, to *block moments*: paths ``k B .. (k+1) B - 1`` form
block ``k`` (``B`` = :data:`BLOCK`, fixed, counted from the run's first path), and each block
keeps, per quantity, its mean, the centred sum of squares, its minimum and maximum and, for an
indicator, the count of ones. Blocks are combined in a fixed pairwise tree (Chan, Golub and
LeVeque's update), so the result depends on the paths alone, never on the chunk size, the
thread count or the executor: a chunk that starts or ends inside a block hands its rows of
that block over, and the block is reduced once all its rows are in, always by the same kernel
on the same rows in path order.

Memory: ``ceil(paths / BLOCK)`` blocks x quantities x 40 bytes, instead of paths x quantities x
8 bytes (1/200 of it).

The estimates are those of :mod:`simpool.analysis.stats`: a mean ``mean(w x)`` with SE
``sd(w x, ddof=1) / sqrt(n)`` (exactly the value and SE 0 when every path has the same
value); an unweighted probability ``t / n`` with SE ``sqrt(p (1 - p) / (n - 1))`` from the
exact count ``t``; a weighted one as the mean of ``w 1{event}``.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import jit

#: Paths per block.
BLOCK = 1024


@jit(nogil=True)
def block_moments(x, w, is_prob, block, mean, m2, lo, hi, cnt):  # pragma: no cover - numba
    """Moments of consecutive blocks of rows of ``x`` (n, F), row i weighted by ``w[i]``:
    block k is rows ``k block .. min(n, (k + 1) block) - 1``. Fills row k of ``mean``, ``m2``
    (centred sum of squares), ``lo``, ``hi`` (NaN when a value is not finite) and ``cnt``
    (sum of x for the indicator columns, ``is_prob``)."""
    n, F = x.shape
    nb = (n + block - 1) // block
    for k in range(nb):
        r0 = k * block
        r1 = min(n, r0 + block)
        size = r1 - r0
        for j in range(F):
            s = 0.0
            c = 0.0
            a = np.inf
            b = -np.inf
            finite = True
            for i in range(r0, r1):
                y = w[i] * x[i, j]
                if not np.isfinite(y):
                    finite = False
                s += y
                c += x[i, j]
                if y < a:
                    a = y
                if y > b:
                    b = y
            m = s / size
            q = 0.0
            for i in range(r0, r1):
                d = w[i] * x[i, j] - m
                q += d * d
            mean[k, j] = m
            m2[k, j] = q
            lo[k, j] = a if finite else np.nan
            hi[k, j] = b if finite else np.nan
            cnt[k, j] = c if is_prob[j] else 0.0


class Moments:
    """Per-block moments of F quantities over consecutive paths (see the module docstring).

    ``count`` (nb,), ``mean``, ``m2``, ``lo``, ``hi``, ``cnt`` (nb, F); ``weighted``: whether
    any path had an importance-sampling weight other than 1.
    """

    __slots__ = ("count", "mean", "m2", "lo", "hi", "cnt", "weighted", "is_prob")

    def __init__(self, count, mean, m2, lo, hi, cnt, is_prob, weighted: bool):
        self.count, self.mean, self.m2, self.lo, self.hi, self.cnt = count, mean, m2, lo, hi, cnt
        self.is_prob = is_prob
        self.weighted = bool(weighted)

    @classmethod
    def of(cls, x: np.ndarray, w: np.ndarray, is_prob: np.ndarray, weighted: bool | None = None,
           block: int = BLOCK) -> "Moments":
        """Moments of the rows of ``x`` (n, F), blocks counted from its first row."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        w = np.ascontiguousarray(w, dtype=np.float64)
        n, F = x.shape
        nb = (n + block - 1) // block
        arrays = [np.empty((nb, F)) for _ in range(5)]
        block_moments(x, w, np.ascontiguousarray(is_prob, dtype=np.bool_), block, *arrays)
        count = np.full(nb, float(block))
        if nb:
            count[-1] = n - (nb - 1) * block
        if weighted is None:
            weighted = bool(np.any(w != 1.0))
        return cls(count, *arrays, is_prob=np.asarray(is_prob, bool), weighted=weighted)

    @classmethod
    def concat(cls, parts: list["Moments"]) -> "Moments":
        """The moments of consecutive runs of blocks, in order."""
        cat = [np.concatenate([getattr(p, a) for p in parts]) for a in
               ("count", "mean", "m2", "lo", "hi", "cnt")]
        return cls(*cat, is_prob=parts[0].is_prob, weighted=any(p.weighted for p in parts))

    @property
    def n_blocks(self) -> int:
        return int(self.count.shape[0])

    @property
    def paths(self) -> int:
        return int(self.count.sum())

    def blocks(self, k0: int, k1: int) -> "Moments":
        """Blocks ``k0 .. k1 - 1`` (paths ``k0 BLOCK`` to ``k1 BLOCK - 1``)."""
        return Moments(self.count[k0:k1], self.mean[k0:k1], self.m2[k0:k1], self.lo[k0:k1],
                       self.hi[k0:k1], self.cnt[k0:k1], self.is_prob, self.weighted)

    def total(self) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(n, mean, m2, lo, hi, cnt) over every block: a pairwise tree of Chan's update."""
        with np.errstate(invalid="ignore", over="ignore"):  # inf/NaN: flagged by lo and hi
            return self._total()

    def _total(self):
        n, mean, m2 = self.count.copy(), self.mean.copy(), self.m2.copy()
        lo, hi, cnt = self.lo.copy(), self.hi.copy(), self.cnt.copy()
        while len(n) > 1:
            if len(n) % 2:  # the last block waits for the next level
                tail = [a[-1:] for a in (n, mean, m2, lo, hi, cnt)]
                n, mean, m2, lo, hi, cnt = (a[:-1] for a in (n, mean, m2, lo, hi, cnt))
            else:
                tail = None
            na, nb_ = n[0::2], n[1::2]
            nn = na + nb_
            delta = mean[1::2] - mean[0::2]
            frac = (nb_ / nn)[:, None]
            mean = mean[0::2] + delta * frac
            m2 = m2[0::2] + m2[1::2] + delta * delta * (na * nb_ / nn)[:, None]
            lo = np.minimum(lo[0::2], lo[1::2])  # NaN (not finite) propagates
            hi = np.maximum(hi[0::2], hi[1::2])
            cnt = cnt[0::2] + cnt[1::2]
            n = nn
            if tail is not None:
                n, mean, m2, lo, hi, cnt = (np.concatenate([a, t]) for a, t in
                                            zip((n, mean, m2, lo, hi, cnt), tail))
        if not len(n):
            F = self.mean.shape[1]
            z = np.zeros(F)
            return 0.0, z, z, z, z, z
        return float(n[0]), mean[0], m2[0], lo[0], hi[0], cnt[0]

    def estimates(self) -> list[tuple[float, float, bool]]:
        """Per quantity: (value, SE, finite) as :mod:`simpool.analysis.stats` would give from the
        paths (``finite`` False when some path's value was NaN or infinite)."""
        n, mean, m2, lo, hi, cnt = self.total()
        out = []
        for j in range(len(mean)):
            finite = not (math.isnan(lo[j]) or math.isnan(hi[j]))
            if self.is_prob[j] and not self.weighted:
                t = int(round(cnt[j]))
                p = t / n
                se = math.nan if n == 1 else math.sqrt(t * (n - t) / (n * (n - 1.0)) / n)
                out.append((p, se, finite))
            elif n == 1:
                out.append((float(mean[j]), math.nan, finite))
            elif lo[j] == hi[j]:
                out.append((float(lo[j]), 0.0, finite))
            else:
                out.append((float(mean[j]), math.sqrt(max(m2[j], 0.0) / (n - 1)) / math.sqrt(n),
                            finite))
        return out


class MomentStore:
    """Block moments of a run filled chunk by chunk, chunks in any order and of any size.

    A chunk's complete blocks arrive reduced (:func:`chunk_moments`, run where the chunk ran);
    its rows of a block it only partly covers arrive as rows and are reduced once the block is
    whole. :meth:`moments` gives the moments of the first ``paths`` paths; a last, partial block
    is reduced from its rows without consuming them, so a continued run (more paths) stays
    equal to one run of the final path count.
    """

    def __init__(self, n_features: int, is_prob: np.ndarray, capacity_paths: int,
                 block: int = BLOCK):
        self.block = block
        self.is_prob = np.ascontiguousarray(is_prob, dtype=np.bool_)
        nb = (capacity_paths + block - 1) // block
        self._arrays = [np.empty((nb, n_features)) for _ in range(5)]  # mean, m2, lo, hi, cnt
        self._done = np.zeros(nb, np.bool_)
        self._pending: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}
        self.weighted = False

    def add(self, piece: dict) -> None:
        """Take one chunk's :func:`chunk_moments` result."""
        self.weighted |= bool(piece["weighted"])
        k0, arrays = piece["blocks"]
        if arrays is not None:
            k1 = k0 + arrays[0].shape[0]
            for dst, src in zip(self._arrays, arrays):
                dst[k0:k1] = src
            self._done[k0:k1] = True
        for k, offset, x, w in piece["rows"]:
            rows = self._pending.setdefault(k, [])
            rows.append((offset, x, w))
            if sum(len(r[1]) for r in rows) == self.block:
                self._reduce(k, self.block)
                del self._pending[k]

    def _rows(self, k: int, size: int):
        rows = sorted(self._pending.get(k, []), key=lambda r: r[0])
        got = sum(len(r[1]) for r in rows)
        if got != size or any(a[0] + len(a[1]) != b[0] for a, b in zip(rows, rows[1:])):
            raise RuntimeError(f"block {k}: {got} of its {size} paths arrived")
        x = np.concatenate([r[1] for r in rows]) if len(rows) > 1 else rows[0][1]
        w = np.concatenate([r[2] for r in rows]) if len(rows) > 1 else rows[0][2]
        return x, w

    def _reduce(self, k: int, size: int) -> list[np.ndarray]:
        x, w = self._rows(k, size)
        out = [np.empty((1, x.shape[1])) for _ in range(5)]
        block_moments(np.ascontiguousarray(x), np.ascontiguousarray(w), self.is_prob,
                      self.block, *out)
        if size == self.block:
            for dst, src in zip(self._arrays, out):
                dst[k] = src[0]
            self._done[k] = True
        return out

    def moments(self, paths: int) -> Moments:
        """The moments of paths ``0 .. paths - 1`` (every one of them must have arrived)."""
        full, rest = divmod(paths, self.block)
        if not self._done[:full].all():
            missing = int(np.flatnonzero(~self._done[:full])[0])
            raise RuntimeError(f"block {missing} of the run never arrived")
        arrays = [a[:full] for a in self._arrays]
        count = np.full(full, float(self.block))
        if rest:
            last = self._reduce(full, rest)
            arrays = [np.concatenate([a, b]) for a, b in zip(arrays, last)]
            count = np.append(count, float(rest))
        return Moments(count, *arrays, is_prob=self.is_prob, weighted=self.weighted)


def chunk_moments(path0: int, x: np.ndarray, w: np.ndarray, is_prob: np.ndarray,
                  block: int = BLOCK) -> dict:
    """A chunk's share of a run's block moments (for :meth:`MomentStore.add`): the chunk's
    rows ``x`` (n, F) are paths ``path0 ..``; blocks it covers whole are reduced here, its rows
    of blocks it covers in part are passed on as rows."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    n = x.shape[0]
    rows = []
    head = min(n, (-path0) % block)
    if head:
        k = path0 // block
        rows.append((k, path0 - k * block, x[:head].copy(), w[:head].copy()))
    whole = (n - head) // block
    start = head
    arrays = None
    if whole:
        sub = x[start:start + whole * block]
        arrays = [np.empty((whole, x.shape[1])) for _ in range(5)]
        block_moments(sub, w[start:start + whole * block], np.ascontiguousarray(is_prob, np.bool_),
                      block, *arrays)
    tail = start + whole * block
    if tail < n:
        rows.append(((path0 + tail) // block, 0, x[tail:].copy(), w[tail:].copy()))
    return {"blocks": ((path0 + head) // block, arrays), "rows": rows,
            "weighted": bool(np.any(w != 1.0))}
