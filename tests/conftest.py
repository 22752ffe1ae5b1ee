"""Shared pytest configuration: Hypothesis profiles.

Profiles (choose with the environment variable ``HYPOTHESIS_PROFILE``, default ``ci``):

``ci``
    Derandomized (the same examples on every run, so a red build is reproducible from the
    commit alone), no deadline (numba compiles on first call and Monte Carlo runs vary in
    time), a modest number of examples, and the reproduction blob printed on failure.
``dev``
    Random exploration with more examples, for local bug hunting:
    ``HYPOTHESIS_PROFILE=dev pytest tests/test_properties.py``.

Tests that set ``max_examples`` explicitly with ``@settings`` keep their own count; the
profile supplies everything they leave unset.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=30,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    deadline=None,
    max_examples=200,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
