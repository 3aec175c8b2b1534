"""Test-wide settings.

Hypothesis: no per-example deadline (the first examples compile patterns and load botocore's models, and CI
machines are shared). Under CI (``CI`` set, as ``.ci/run`` runs) the examples are derandomized, so a run is
repeatable and a red CI always points at a reproducible case; locally they are random, to keep exploring.

The endpoint's store checks every commit against a whole serialization of the world (``server/delta.py``), so
that every test going through the endpoint also tests that a write's rows are the rows it changed.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("kmslaunch", deadline=None, print_blob=True)
settings.register_profile("kmslaunch-ci", deadline=None, print_blob=True, derandomize=True)
settings.load_profile("kmslaunch-ci" if os.environ.get("CI") else "kmslaunch")
os.environ.setdefault("KMSLAUNCH_STORE_VERIFY", "1")
