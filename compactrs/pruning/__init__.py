"""Channel pruning to a MAC target (NAS-based channel pruning, Wei et al., IEEE GRSL 2022).

Modules: ``graph`` (coupled channel groups by tracing), ``gates`` (trainable per-channel scores as gates),
``search`` (bi-level score search with the cost-awareness loss), ``plan`` (global threshold by bisection,
prune_plan.json), ``api`` (``prune``). The surgery that replays a plan is ``compactrs.nn.surgery``.
"""
from compactrs.pruning.api import prune
from compactrs.pruning.config import PruneConfig

__all__ = ["PruneConfig", "prune"]
