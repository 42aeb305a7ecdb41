"""What a network costs: MACs and parameters (flops.py) and measured / predicted latency (latency.py)."""
from compactrs.cost.flops import count_macs, count_params, model_cost

__all__ = ["count_macs", "count_params", "model_cost"]
