"""Data-parallel search under ``torchrun`` (gloo on CPU, any backend torch.distributed supports).

How ranks stay in sync (the same code runs in one process when no process group exists):

- every rank builds the supernet from the same seed and then takes rank 0's parameters (broadcast);
- every rank draws the **same** Gumbel samples: the sampling generator is seeded identically and every rank
  draws the same number of samples per step, so all ranks run the same sub-network each step;
- every rank draws the same data order (shared data generator) and takes its own shard of each batch list;
- gradients of the weights *and* of the architecture parameters are averaged over ranks (one all-reduce
  of the parameters that received a gradient — the same set on every rank, because the samples agree)
  before each optimiser step, so parameters and optimiser states stay identical without torch's DDP
  wrapper (whose reducer would need ``find_unused_parameters`` for a network whose used path changes
  every step);
- rank 0 writes checkpoints and artifacts; the retraining of the derived network runs on rank 0.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def init_world() -> tuple[World, bool]:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1), gloo backend; returns (world, created).

    ``created`` is True when this call created the group (the caller then destroys it at the end).
    """
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size()), False
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1 or not dist.is_available():
        return World(), False
    dist.init_process_group(backend=os.environ.get("COMPACTRS_DIST_BACKEND", "gloo"))
    return World(dist.get_rank(), dist.get_world_size()), True


def broadcast_parameters(module: torch.nn.Module, world: World) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not world.distributed:
        return
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def average_gradients(params, world: World) -> None:
    """Average the gradients of ``params`` that have one, in a single flattened all-reduce."""
    if not world.distributed:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world.size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def sum_over_ranks(values: list[float], world: World) -> list[float]:
    """Element-wise sum of a few numbers over ranks (epoch statistics)."""
    if not world.distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def check_in_sync(tensors, world: World, what: str) -> None:
    """Raise if ranks disagree on ``tensors`` (a cheap checksum: sum and sum of squares, compared by min/max)."""
    if not world.distributed:
        return
    with torch.no_grad():
        stats = torch.tensor([sum(float(t.double().sum()) for t in tensors), sum(float(t.double().pow(2).sum()) for t in tensors)],
                             dtype=torch.float64)
    low, high = stats.clone(), stats.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    if not torch.allclose(low, high, rtol=1e-9, atol=0.0):
        raise RuntimeError(f"DDP ranks diverged: {what} differ across processes ({low.tolist()} vs {high.tolist()})")


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()
