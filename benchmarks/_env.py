"""Process set-up shared by ``run.py`` and ``conftest.py``; imports nothing heavy.

The naive numpy baseline is single-threaded by definition, so BLAS/OpenMP are pinned to
one thread *before numpy is imported* (simpool itself does not use BLAS in its hot path).
"""

from __future__ import annotations

import os

SINGLE_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                     "NUMEXPR_NUM_THREADS")


def pin_blas_single_thread() -> None:
    """Set the BLAS/OpenMP thread-count variables to 1 unless the user set them."""
    for k in SINGLE_THREAD_ENV:
        os.environ.setdefault(k, "1")
