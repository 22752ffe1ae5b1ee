"""Command line: ``simpool run | report | sweep | compare | solve | sensitivity | validate | show | compile``.

Exit codes: 0 success, 1 runtime or I/O error (with a clear message), 2 bad input (every
problem printed as ``file:line: dotted.path: message``), 130 interrupted.

Heavy modules (numpy, numba, pandas, scipy) are imported only by the commands that need
them, so ``simpool --help`` stays fast.

The package: ``parser`` (the arguments), ``commands`` (one function per command),
``console`` (problems, warnings and the progress bar on stderr); :func:`main` runs one.
"""

from __future__ import annotations

from .commands import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from .main import entry, main

__all__ = ["main", "entry", "EXIT_OK", "EXIT_ERROR", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED"]
