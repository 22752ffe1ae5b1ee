"""pytest configuration of the benchmark files (``python -m pytest benchmarks --benchmark-only``).

These files are not part of the test suite: ``pyproject.toml`` sets ``testpaths = ["tests"]``,
so a bare ``python -m pytest`` never collects them.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _env import pin_blas_single_thread  # noqa: E402

pin_blas_single_thread()  # effective only if numpy is not imported yet (plugins may have)
