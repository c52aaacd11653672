"""Process-group set-up for DDP under torchrun, and the no-op equivalent for one process."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistContext:
    """Where this process sits: rank, world size, device; and whether it started the process group.

    Under torchrun (``WORLD_SIZE`` > 1 in the environment) :meth:`start` initialises the default process group
    with NCCL on GPUs and gloo on CPUs; a group that the caller already started is used as it is.
    """

    rank: int
    world: int
    local_rank: int
    device: torch.device
    owns_group: bool = False

    @classmethod
    def start(cls, device: str | None = None, threads: int | None = None) -> DistContext:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device is None:
            device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", local_rank)
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        owns = False
        if world > 1 and not dist.is_initialized():
            dist.init_process_group(
                "nccl" if dev.type == "cuda" else "gloo", timeout=dt.timedelta(minutes=30)
            )
            owns = True
        if dist.is_initialized():
            world = dist.get_world_size()
        rank = dist.get_rank() if dist.is_initialized() else 0
        if threads is None and dev.type == "cpu" and world > 1:
            local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
            threads = max(1, (os.cpu_count() or 1) // local)  # processes on one host share its cores
        if threads:
            torch.set_num_threads(threads)
        return cls(rank, world, local_rank, dev, owns)

    def wrap(self, model: nn.Module) -> nn.Module:
        """DDP around ``model`` when there are several processes, else the model itself.

        Buffers (queue, BN statistics) are broadcast from rank 0 at each forward, which keeps the ranks' key
        encoders exactly equal; the queue is identical on every rank anyway (see MoCo.forward).
        """
        if self.world == 1:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def mean(self, value: torch.Tensor) -> float:
        """The mean of a scalar over all processes (a collective: every rank must call it)."""
        if self.world > 1:
            value = value.detach().clone().float()
            dist.all_reduce(value)
            value /= self.world
        return float(value)

    def average_buffers(self, model: nn.Module, skip: tuple[str, ...] = ("queue",)) -> None:
        """Average floating-point buffers (BatchNorm running statistics) over the processes, in place.

        DDP hands rank 0's buffers to every rank at the start of each forward, but the forward itself updates each
        rank's running statistics from its own images; averaging before a checkpoint keeps the ranks identical and
        gives statistics of the whole global batch. A collective: every rank must call it at the same step.
        """
        if self.world == 1:
            return
        for name, buf in model.named_buffers():
            if buf.is_floating_point() and name not in skip:
                dist.all_reduce(buf)
                buf /= self.world

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def stop(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
