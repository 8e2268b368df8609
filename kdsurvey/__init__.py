"""kdsurvey: the knowledge-distillation literature as data.

Submodules load on first use, so `import kdsurvey` stays fast and never imports torch:
catalogue, metric, analysis, tables, plots, references, report, taxonomy.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("analysis", "catalogue", "metric", "plots", "references", "report", "tables", "taxonomy")
__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"kdsurvey.{name}")
    raise AttributeError(f"module 'kdsurvey' has no attribute {name!r}")
