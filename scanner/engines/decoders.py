"""Decoders turn structured content into secret candidates (e.g. base64 `data` of a Kubernetes Secret)."""

from __future__ import annotations

from collections.abc import Callable

DECODERS: dict[str, Callable] = {}
