"""The reference JSON text the fast writers are checked against: the standard library's."""

from __future__ import annotations

import json
import math

from ventbench.bench.session import _json_default


def clean(value):
    """What session.dumps did before its encoder wrote NaN as null and keys as str itself:
    non-finite floats → None, numpy scalars → their items, keys → str(key)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if getattr(value, "shape", None) == ():
        return clean(value.item())
    return value


def reference_dumps(document) -> str:
    """``session.dumps``'s text as the standard library writes it."""
    return json.dumps(clean(document), indent=2, default=_json_default, allow_nan=False) + "\n"
