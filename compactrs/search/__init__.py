"""Hardware-aware architecture search: GDAS supernet with depth search, complexity and budget losses.

Public entry point: ``search`` (``compactrs search`` on the command line). Modules: space (op sets, cell
sites), supernet, sampling (Gumbel-softmax), costs (expected MACs / latency), losses, loop (bi-level
search, checkpoints), derive (budget fit), ddp (torchrun), plots, baselines, api.
"""
from compactrs.search.api import search
from compactrs.search.config import SearchConfig

__all__ = ["search", "SearchConfig"]

from compactrs._callable import make_module_callable

make_module_callable(__name__, search)  # compactrs.search(...) works even once the subpackage is imported
