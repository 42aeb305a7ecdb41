"""What a network costs: MACs and parameters (flops.py) and measured / predicted latency (latency.py)."""
from compactrs.cost.flops import count_macs, count_params, model_cost, registry_cost

__all__ = ["count_macs", "count_params", "model_cost", "registry_cost", "LatencyProfile", "load_profile", "measure_profile",
           "validate_profile", "ProfileConfig"]

_LAZY = {"LatencyProfile": "compactrs.cost.latency", "load_profile": "compactrs.cost.latency",
         "measure_profile": "compactrs.cost._build", "ProfileConfig": "compactrs.cost._build",
         "validate_profile": "compactrs.cost._validate"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'compactrs.cost' has no attribute '{name}'")
