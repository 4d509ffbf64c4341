"""Differential tests: dockward's readers against Go's own functions (see support/godiff.py)."""

from __future__ import annotations

from support.godiff import godiff

__all__ = ["godiff"]
