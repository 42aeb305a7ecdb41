"""Hardware-aware architecture search: GDAS supernet with depth search, complexity and budget losses.

Public entry point: ``search`` (``compactrs search`` on the command line). Modules: space (op sets, cell
sites), supernet, sampling (Gumbel-softmax), costs (expected MACs / latency), losses, loop (bi-level
search, checkpoints), derive (budget fit), ddp (torchrun), plots, baselines, api.
"""
from compactrs.nas.api import search
from compactrs.nas.config import SearchConfig

__all__ = ["search", "SearchConfig"]
