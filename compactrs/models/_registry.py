"""Model registry: every architecture is reachable by name and rebuilt from plain data (arch.json)."""
from __future__ import annotations

import fnmatch
import inspect
import warnings
from typing import Callable

from torch import nn

from compactrs.errors import ModelError

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_FAMILIES: dict[str, str] = {}


def register_model(family: str):
    """Decorator: register ``fn(in_bands, num_classes, **kwargs) -> nn.Module`` under its function name."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if fn.__name__ in _MODELS:
            raise RuntimeError(f"model '{fn.__name__}' registered twice")
        _MODELS[fn.__name__] = fn
        _FAMILIES[fn.__name__] = family
        return fn

    return wrap


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style pattern, sorted."""
    return sorted(name for name in _MODELS if fnmatch.fnmatch(name, pattern))


def model_family(name: str) -> str:
    return _FAMILIES[name]


def create_model(name: str, in_bands: int, num_classes: int, **kwargs) -> nn.Module:
    """Build registered model ``name`` for ``in_bands`` input channels and ``num_classes`` outputs.

    ``name`` may also be a user factory ``package.module:function`` (``function(in_bands, num_classes,
    **kwargs) -> nn.Module``), imported from the Python path: how a user's own network is pruned and
    rebuilt from arch.json. Only name modules you trust — importing a module runs its code.

    Raises:
        ModelError: unknown name, or keyword arguments the model does not take.
    """
    if ":" in name:
        return _build_user_model(name, in_bands, num_classes, kwargs)
    if name not in _MODELS:
        close = [m for m in _MODELS if name.lower().replace("-", "") in m] or list_models()
        raise ModelError(f"unknown model '{name}'; registered models: {', '.join(close)} (see 'compactrs models')")
    fn = _MODELS[name]
    accepted = set(inspect.signature(fn).parameters) - {"in_bands", "num_classes"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ModelError(
            f"model '{name}' does not take {unknown}; it takes {sorted(accepted) or 'no options'}"
        )
    if in_bands < 1 or num_classes < 2:
        raise ModelError(f"model '{name}' needs in_bands >= 1 and num_classes >= 2, got {in_bands} and {num_classes}")
    try:
        with warnings.catch_warnings():  # zero-width layers are refused below, with a clearer message
            warnings.filterwarnings("ignore", "Initializing zero-element tensors")
            model = fn(in_bands=in_bands, num_classes=num_classes, **kwargs)
    except (ValueError, TypeError, RuntimeError) as exc:  # RuntimeError: torch refusing e.g. width=-3
        raise ModelError(f"cannot build model '{name}' with {kwargs}: {str(exc).splitlines()[0]}; "
                         f"check the --model-arg values") from exc
    # torch builds a layer of zero channels without complaint and fails only in the first forward pass.
    if any(p.numel() == 0 for p in model.parameters()):
        raise ModelError(f"model '{name}' with {kwargs} has layers of zero channels; give widths of at least 1 (--model-arg)")
    return model


def resolve_factory(name: str) -> Callable[..., nn.Module]:
    """Import ``package.module:function`` and return the function.

    Raises:
        ModelError: malformed name, module not importable, or attribute missing / not callable.
    """
    import importlib

    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute.isidentifier():
        raise ModelError(f"'{name}' is not a user model factory; write package.module:function, e.g. mymodels.nets:small_cnn")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(f"cannot import '{module_name}' for model factory '{name}' ({exc}); "
                         "put the package on PYTHONPATH or install it") from exc
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ModelError(f"'{module_name}' has no callable '{attribute}'; a model factory is function(in_bands, num_classes) -> nn.Module")
    return factory


def _build_user_model(name: str, in_bands: int, num_classes: int, kwargs: dict) -> nn.Module:
    factory = resolve_factory(name)
    try:
        model = factory(in_bands, num_classes, **kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"model factory '{name}' failed for in_bands={in_bands}, num_classes={num_classes} ({exc}); "
                         "it must be function(in_bands, num_classes) -> nn.Module") from exc
    if not isinstance(model, nn.Module):
        raise ModelError(f"model factory '{name}' returned {type(model).__name__}, not a torch.nn.Module")
    return model


def arch_of(name: str, in_bands: int, num_classes: int, **kwargs) -> dict:
    """The arch.json description of a registered model (what ``build_model`` rebuilds)."""
    return {"model": name, "in_bands": int(in_bands), "num_classes": int(num_classes), "kwargs": dict(kwargs)}


def build_model(arch: dict) -> nn.Module:
    """Rebuild a network from its arch.json description: registry entry, then a replayed prune plan if any.

    Raises:
        ModelError: the description is malformed or names an unknown model.
    """
    try:
        name, in_bands, num_classes = arch["model"], int(arch["in_bands"]), int(arch["num_classes"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"arch description lacks model/in_bands/num_classes ({exc}); got keys {sorted(arch)}") from exc
    model = create_model(name, in_bands, num_classes, **arch.get("kwargs", {}))
    plan = arch.get("prune_plan")
    if plan is not None:
        from compactrs.nn.surgery import apply_prune_plan

        apply_prune_plan(model, plan)
    return model
