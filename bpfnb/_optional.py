"""Import optional dependencies lazily, with a message naming the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

_EXTRA = {"graphviz": "notebook", "ipywidgets": "notebook", "IPython": "notebook", "matplotlib": "notebook",
          "pandas": None}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise ImportError telling which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = _EXTRA.get(module)
        how = f"pip install 'bpfnb[{extra}]'" if extra else f"pip install {module}"
        raise ImportError(f"{module} is needed for this view: {how}") from exc
