"""Everything that needs torch: losses, models, methods, data, the training engine and run records.

The analysis side of kdsurvey never imports this package; `import kdsurvey.distill` needs the
`torch` extra (pip install 'kdsurvey[torch]').
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    from kdsurvey.errors import TorchMissingError

    raise TorchMissingError("reproductions need PyTorch; install it with: pip install 'kdsurvey[torch]'") from exc
