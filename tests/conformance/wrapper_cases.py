"""Conformance rows for the wrapper layers (``Bidirectional``, ``TimeDistributed``): the
same :class:`layer_cases.LayerCase` rows, kept apart from the plain layers' table."""

from __future__ import annotations

WRAPPER_CASES: list = []
