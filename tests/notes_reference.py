"""The notes' reference loop, loaded from ``scripts/notes_reference.py`` (one copy, shared
with the benchmark; ``scripts/`` is not a package, so it is loaded by path)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "scripts" / "notes_reference.py"
_spec = importlib.util.spec_from_file_location("notes_reference_script", _PATH)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

nn_model = _module.nn_model
