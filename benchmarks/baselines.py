"""Baselines the engine is measured against (benchmark code only, not part of simpool).

* :func:`philox_count` -- a bare Philox4x32-10 loop (Salmon et al. 2011, Random123):
  ``n_loans x n_paths`` uniforms, each consumed by one comparison ``u < P_CONSUME`` so the
  compiler cannot drop the work; numba ``nogil``, threads over chunks of paths.
* :func:`splitmix_count` -- the same bare loop over simpool's own generator
  (:func:`simpool.engine.rng.uniform` under :func:`simpool.engine.rng.path_year_key`): the speed limit of
  the engine's single-loan path, which must draw one uniform per loan-path.
* :func:`naive_numpy_losses` -- frozen "textbook" numpy code of the same one-period Gaussian
  copula model, single-threaded.

All three count obligor-paths (one loan in one path-year) so throughputs compare directly.
"""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor

import numpy as np
from simpool.engine._jit import jit

from simpool.engine.rng import STREAM_LOAN, path_year_key, seed_key, uniform

#: Every uniform is consumed by ``u < P_CONSUME`` (about a 2% PD), and the hits are counted.
P_CONSUME = 0.02

# ---------------------------------------------------------------------------------------
# Philox4x32-10
# ---------------------------------------------------------------------------------------

_MASK32 = np.uint64(0xFFFFFFFF)
_PHILOX_M0 = np.uint64(0xD2511F53)
_PHILOX_M1 = np.uint64(0xCD9E8D57)
_PHILOX_W0 = np.uint64(0x9E3779B9)
_PHILOX_W1 = np.uint64(0xBB67AE85)
_S32 = np.uint64(32)
_TWO_M32 = 1.0 / 4294967296.0  # 2**-32


@jit(inline="always")
def _philox_round(c0, c1, c2, c3, k0, k1):
    # 32 x 32 -> 64-bit products in uint64 (operands < 2**32, so no overflow)
    p0 = c0 * _PHILOX_M0
    p1 = c2 * _PHILOX_M1
    return ((p1 >> _S32) ^ c1 ^ k0, p1 & _MASK32, (p0 >> _S32) ^ c3 ^ k1, p0 & _MASK32)


@jit(inline="always")
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 block function: 4 x 32-bit counter, 2 x 32-bit key -> 4 x 32-bit words.

    Words are carried in uint64 holding values below 2**32. Matches the Random123
    known-answer vectors (see :func:`philox_kat_ok`).
    """
    c0 = np.uint64(c0)
    c1 = np.uint64(c1)
    c2 = np.uint64(c2)
    c3 = np.uint64(c3)
    k0 = np.uint64(k0)
    k1 = np.uint64(k1)
    c0, c1, c2, c3 = _philox_round(c0, c1, c2, c3, k0, k1)
    for _ in range(9):
        k0 = (k0 + _PHILOX_W0) & _MASK32
        k1 = (k1 + _PHILOX_W1) & _MASK32
        c0, c1, c2, c3 = _philox_round(c0, c1, c2, c3, k0, k1)
    return c0, c1, c2, c3


@jit()
def _philox_block(c0, c1, c2, c3, k0, k1):
    return philox4x32_10(c0, c1, c2, c3, k0, k1)


#: Random123 kat_vectors for philox4x32-10: (counter, key, expected output).
PHILOX_KAT = (
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
)


def philox_kat_ok() -> bool:
    """True when :func:`philox4x32_10` reproduces the Random123 known-answer vectors."""
    for ctr, key, want in PHILOX_KAT:
        got = tuple(int(v) for v in _philox_block(*[np.uint64(x) for x in (*ctr, *key)]))
        if got != want:
            return False
    return True


@jit(inline="always")
def _u01_32(x):
    """32 random bits -> double in the open interval (0, 1): (x + 0.5) / 2**32."""
    return (np.float64(x) + 0.5) * _TWO_M32


@jit(nogil=True)
def _philox_chunk(k0, k1, path0, n_paths, n_loans, year, p):
    """Count ``u < p`` over ``n_loans`` Philox uniforms in each of ``n_paths`` paths.

    Counter = (block, path, year, 0), key = (k0, k1); one block gives 4 uniforms (32-bit
    each), so a path costs ``ceil(n_loans / 4)`` Philox calls.
    """
    n_full = n_loans // 4
    rem = n_loans - 4 * n_full
    count = 0
    for ip in range(n_paths):
        path = np.uint64(path0 + ip)
        for j in range(n_full):
            r0, r1, r2, r3 = philox4x32_10(np.uint64(j), path, np.uint64(year), np.uint64(0),
                                           k0, k1)
            count += ((_u01_32(r0) < p) + (_u01_32(r1) < p)
                      + (_u01_32(r2) < p) + (_u01_32(r3) < p))
        if rem:
            r0, r1, r2, r3 = philox4x32_10(np.uint64(n_full), path, np.uint64(year),
                                           np.uint64(0), k0, k1)
            count += _u01_32(r0) < p
            if rem > 1:
                count += _u01_32(r1) < p
            if rem > 2:
                count += _u01_32(r2) < p
    return count


@jit(nogil=True)
def _splitmix_chunk(skey, path0, n_paths, n_loans, year, p):
    """Count ``u < p`` over ``n_loans`` simpool uniforms in each of ``n_paths`` paths.

    Exactly the draws of the engine's loan loop: ``uniform(path_year_key(skey, path, year),
    STREAM_LOAN, i)`` for loan ``i``.
    """
    count = 0
    for ip in range(n_paths):
        key = path_year_key(skey, path0 + ip, year)
        for i in range(n_loans):
            count += uniform(key, STREAM_LOAN, i) < p
    return count


def _chunks(paths: int, workers: int, chunk_size: int | None) -> list[tuple[int, int]]:
    """Chunks of paths, sized like the engine's default (``simpool.engine.run_paths``)."""
    if chunk_size is None:
        chunk_size = max(256, min(8192, -(-paths // (4 * workers))))
    return [(p, min(chunk_size, paths - p)) for p in range(0, paths, chunk_size)]


def _threaded(fn, args_of, paths: int, workers: int, executor: Executor | None,
              chunk_size: int | None) -> int:
    own = executor is None
    ex = ThreadPoolExecutor(max_workers=workers) if own else executor
    try:
        futs = [ex.submit(fn, *args_of(p0, n)) for p0, n in _chunks(paths, workers, chunk_size)]
        return int(sum(f.result() for f in futs))
    finally:
        if own:
            ex.shutdown(wait=True)


def philox_count(n_loans: int, paths: int, seed: int = 1, *, workers: int = 1,
                 executor: Executor | None = None, chunk_size: int | None = None,
                 p: float = P_CONSUME) -> int:
    """Number of the ``n_loans x paths`` Philox4x32-10 uniforms below ``p``, on threads.

    ``workers`` threads (or ``executor``) over chunks of paths; the kernel releases the GIL.
    """
    k0 = np.uint64(seed & 0xFFFFFFFF)
    k1 = np.uint64((seed >> 32) & 0xFFFFFFFF)
    return _threaded(_philox_chunk, lambda p0, n: (k0, k1, p0, n, n_loans, 0, p),
                     paths, workers, executor, chunk_size)


def splitmix_count(n_loans: int, paths: int, seed: int = 1, *, workers: int = 1,
                   executor: Executor | None = None, chunk_size: int | None = None,
                   p: float = P_CONSUME) -> int:
    """Number of the ``n_loans x paths`` simpool uniforms below ``p``, on threads."""
    skey = np.uint64(seed_key(np.uint64(seed)))
    return _threaded(_splitmix_chunk, lambda p0, n: (skey, p0, n, n_loans, 0, p),
                     paths, workers, executor, chunk_size)


def warm_baselines() -> None:
    """Compile (or load from cache) the numba baselines so timings exclude compilation."""
    philox_count(8, 4)
    splitmix_count(8, 4)


# ---------------------------------------------------------------------------------------
# Naive numpy (frozen: do not optimise -- it is the reference "textbook" implementation)
# ---------------------------------------------------------------------------------------


def naive_numpy_losses(pd: np.ndarray, rho: np.ndarray, ead: np.ndarray, lgd: np.ndarray,
                       sector: np.ndarray, n_sectors: int, paths: int, seed: int = 1,
                       chunk: int = 1000) -> np.ndarray:
    """One-period Gaussian-copula losses (yuan), textbook numpy, one thread.

    For each chunk of ``chunk`` paths: ``Z = rng.standard_normal(chunk)`` per sector,
    ``eps = rng.standard_normal((chunk, N))``, ``X = sqrt(rho) Z + sqrt(1 - rho) eps``,
    ``D = X < Phi^-1(pd)``, ``loss = D @ (ead * lgd)``. Returns the (paths,) losses.
    Run with BLAS limited to one thread (``benchmarks/run.py`` sets ``OPENBLAS_NUM_THREADS=1``
    and friends before numpy is imported).
    """
    from scipy.special import ndtri

    rng = np.random.default_rng(seed)
    n = len(pd)
    thresh = ndtri(np.asarray(pd, float))
    a = np.sqrt(np.asarray(rho, float))
    b = np.sqrt(1.0 - np.asarray(rho, float))
    w = np.asarray(ead, float) * np.asarray(lgd, float)
    losses = np.empty(paths)
    for p0 in range(0, paths, chunk):
        m = min(chunk, paths - p0)
        z = np.stack([rng.standard_normal(m) for _ in range(n_sectors)], axis=1)
        eps = rng.standard_normal((m, n))
        x = a * z[:, sector] + b * eps
        d = x < thresh
        losses[p0:p0 + m] = d @ w
    return losses


__all__ = [
    "P_CONSUME",
    "philox4x32_10",
    "philox_kat_ok",
    "philox_count",
    "splitmix_count",
    "warm_baselines",
    "naive_numpy_losses",
]
