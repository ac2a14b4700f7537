"""Fails to import, like a plugin whose dependency is not installed."""

from __future__ import annotations

import rain_test_missing_dependency  # noqa: F401
