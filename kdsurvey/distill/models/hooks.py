"""Read intermediate outputs through forward hooks, so models keep a plain `forward(x) -> logits`.

Feature-based distillers name the modules they need (``model.stage_names``, ``model.embedding_name``);
`capture` fills a dict with each one's latest output on every forward pass. Outputs are kept as they
are, with their autograd graph, because the distillation losses backpropagate through them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn

from kdsurvey.errors import UsageError


@contextmanager
def capture(model: nn.Module, names: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Hook the modules at the paths `names` (or one path); yield a dict path -> that module's latest output.

    Every path is checked before any hook is added, and the hooks are removed on exit, even when
    the body raises, so a failed step never leaves a model slower or holding stale tensors. A module
    called twice in one forward pass keeps its last output.
    """
    names = [names] if isinstance(names, str) else list(dict.fromkeys(names))
    modules = {name: _module_at(model, name) for name in names}
    outputs: dict[str, Any] = {}
    handles = []
    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(_recorder(outputs, name)))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def _recorder(outputs: dict[str, Any], name: str):
    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        outputs[name] = output

    return hook


def _module_at(model: nn.Module, name: str) -> nn.Module:
    if not isinstance(name, str) or not name:
        raise UsageError(f"a module path must be a non-empty string, not {name!r}")
    try:
        return model.get_submodule(name)
    except AttributeError:
        paths = [path for path, _ in model.named_modules() if path]
        near = difflib.get_close_matches(name, paths, n=3, cutoff=0.5)
        top = [child for child, _ in model.named_children()]
        hint = f"; nearest: {', '.join(near)}" if near else f"; top-level modules: {', '.join(top)}"
        raise UsageError(f"{type(model).__name__} has no module {name!r}{hint}") from None
