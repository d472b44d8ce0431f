"""Training on several processes (``torchrun``, ``accelerate launch``): who this process is, and the few
things our pieces share across processes.

The process group, the gradient all-reduce and the launcher are torch's, accelerate's and the trainer's;
this module only asks them, and holds what ``train()`` does differently on several processes. :func:`start` lets accelerate join the group ``torchrun`` set up (as the
trainer would a moment later), so that data checks, mining and the output folder can agree before
training starts. :func:`share` hands rank 0's value (mined negatives, the temporary folder, or the
error it met) to every rank, so a rank-0-only step never leaves the others waiting. :func:`gather_rows`
is sentence-transformers' ``all_gather_with_grad`` for batches whose sizes differ between ranks.

With one process (no ``WORLD_SIZE`` above 1 in the environment) nothing here imports torch.distributed
or does any work: :data:`ONE_PROCESS` answers every question.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siamese_text.config import CLASS_LOSSES, IN_BATCH_LOSSES
from siamese_text.errors import ConfigError, SiameseTextError
from siamese_text.storage import atomic_dir

if TYPE_CHECKING:
    from siamese_text.config import TrainConfig

__all__ = ["Ranks", "ONE_PROCESS", "launched_rank", "launched_world_size", "start", "leave", "share", "gather_rows", "sum_over_ranks",
           "per_device_batch", "output_folder", "mine_on_rank0"]


def launched_world_size() -> int:
    """How many processes the launcher started (``WORLD_SIZE``; 1 when run directly). Imports nothing."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def launched_rank() -> int:
    """This process's rank as the launcher set it (``RANK``; 0 when run directly). Imports nothing."""
    try:
        return int(os.environ.get("RANK", "0")) if launched_world_size() > 1 else 0
    except ValueError:
        return 0


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the one process that logs, evaluates and writes the output."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


ONE_PROCESS = Ranks()


def start() -> Ranks:
    """Join the process group the launcher prepared (accelerate starts it: gloo on CPUs, nccl on GPUs).

    One process: returns :data:`ONE_PROCESS` at once, with no import of torch.distributed.
    """
    if launched_world_size() <= 1:
        return ONE_PROCESS
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    return Ranks(rank=state.process_index, world_size=state.num_processes)


def leave() -> None:
    """Close the process group (a no-op with one process, or when none was started).

    A process that exits with the group still open leaves gloo's worker threads to be torn down during
    interpreter finalisation, which can abort it (``terminate called without an active exception``,
    SIGABRT; pytorch/pytorch#179291): the launcher then stops rank 0 while it is still writing the model.
    Called when training ended normally or with an error every rank met, so no rank is left in a
    collective (closing a group while another rank waits in one can hang, pytorch/torchtitan#1342).
    """
    if launched_world_size() <= 1:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class _Failed:
    """What rank 0 sends in place of a value when its step raised a user-fixable error."""

    def __init__(self, error: SiameseTextError) -> None:
        self.kind, self.message = type(error), str(error)


def share(value: Any, ranks: Ranks, *, error: SiameseTextError | None = None) -> Any:
    """Rank 0's ``value`` on every rank (``value`` is ignored elsewhere); one process: ``value`` itself.

    With ``error`` (rank 0's step failed), every rank raises that error, so each process stops with the
    same one-line message instead of waiting for rank 0 until the group's timeout.
    """
    if not ranks.distributed:
        if error is not None:
            raise error
        return value
    import torch.distributed as dist

    box = [(_Failed(error) if error is not None else value) if ranks.main else None]
    dist.broadcast_object_list(box, src=0)
    received = box[0]
    if isinstance(received, _Failed):
        if error is not None:
            raise error
        raise received.kind(received.message)
    return received


def gather_rows(local: Any) -> Any:
    """Every rank's rows of ``local`` (rank order), gradients flowing back to this rank's own rows.

    sentence-transformers' ``all_gather_with_grad`` needs the same shape on every rank; batches differ by
    a row or more between ranks (the last batches of an epoch, class chunks of 2 to K texts), so each
    rank pads to the largest and the padding is cut out of the result. Tensors without gradient
    (labels) are gathered the same way.
    """
    import torch
    import torch.nn.functional as F
    from sentence_transformers.util import all_gather, all_gather_with_grad

    size = torch.tensor([local.shape[0]], device=local.device)
    sizes = all_gather(size).tolist()
    longest = max(sizes)
    padded = F.pad(local, (0, 0) * (local.dim() - 1) + (0, longest - local.shape[0]))
    gathered = all_gather_with_grad(padded) if local.requires_grad else all_gather(padded)
    return torch.cat([gathered[r * longest : r * longest + n] for r, n in enumerate(sizes)])


def sum_over_ranks(values: list[float], ranks: Ranks) -> list[float]:
    """Each of ``values`` summed over the ranks (every rank gets the sums); one process: ``values``."""
    if not ranks.distributed:
        return values
    import torch
    import torch.distributed as dist

    nccl = torch.cuda.is_available() and "nccl" in str(dist.get_backend())
    total = torch.tensor(values, dtype=torch.float64, device=torch.device("cuda", torch.cuda.current_device()) if nccl else "cpu")
    dist.all_reduce(total)
    return total.tolist()


# ---- what train() asks of several processes ---------------------------------------------------


def per_device_batch(config: TrainConfig, ranks: Ranks) -> int:
    """Each process's share of ``--batch-size`` (the global batch); refuse one that does not split."""
    n, batch = ranks.world_size, config.batch_size
    if n == 1:
        return batch
    if batch < n:
        why = " and each compares its examples with the others'" if config.loss in IN_BATCH_LOSSES or config.loss == "cosent" else ""
        raise ConfigError(f"--batch-size {batch} is smaller than the {n} processes: each needs at least one example of the "
                          f"batch{why}; give --batch-size {n} or more (a multiple of {n})")
    if batch % n:
        raise ConfigError(f"--batch-size {batch} does not split evenly over {n} processes; give a multiple of {n} "
                          f"(--batch-size is the global batch: each process takes --batch-size / {n})")
    per_device = batch // n
    if config.loss in CLASS_LOSSES and per_device < 4:
        raise ConfigError(f"--loss {config.loss} needs 2 classes x 2 texts in each process's batch, and --batch-size {batch} "
                          f"over {n} processes leaves {per_device}; give --batch-size {4 * n} or more")
    compares = config.loss in IN_BATCH_LOSSES or config.loss == "cosent"
    if compares and not config.gather_across_devices and per_device < 2:
        raise ConfigError(f"--loss {config.loss} compares examples within a batch and --no-gather-across-devices keeps each "
                          f"process's batch ({per_device}) to itself; give --batch-size {2 * n} or more")
    return per_device


@contextlib.contextmanager
def output_folder(config: TrainConfig, ranks: Ranks) -> Iterator[Path | None]:
    """Rank 0's temporary folder (lock, atomic rename: :func:`atomic_dir`); every other rank gets None and
    never touches the output, but stops with rank 0's error if it could not start one."""
    if not ranks.distributed:
        with atomic_dir(config.output, overwrite=config.overwrite) as tmp:
            yield tmp
        return
    if not ranks.main:
        share(None, ranks)
        yield None
        return
    with contextlib.ExitStack() as stack:
        try:
            tmp = stack.enter_context(atomic_dir(config.output, overwrite=config.overwrite))
        except SiameseTextError as exc:
            share(None, ranks, error=exc)
        share(None, ranks)
        yield tmp


def mine_on_rank0(hard: Any, encoder: Any, ranks: Ranks) -> dict[str, float]:
    """``hard.mine(encoder)`` once, on rank 0; every rank takes its negatives (or nearest classes), so all
    train on the same rows, the ones one process mines with the same weights. One process: ``hard.mine``."""
    if not ranks.distributed:
        return hard.mine(encoder)
    stats, error = None, None
    if ranks.main:
        try:
            stats = hard.mine(encoder)
        except SiameseTextError as exc:  # every rank stops with it
            error = exc
    mined = share({"stats": stats, "rounds": hard.rounds, "negatives": getattr(hard, "negatives", None),
                   "table": getattr(hard, "table", None)}, ranks, error=error)
    hard.rounds = mined["rounds"]
    if hasattr(hard, "table"):  # ClassNeighbours: the nearest classes; HardNegatives: the negatives
        hard.table = mined["table"]
    else:
        hard.negatives = mined["negatives"]
    return mined["stats"]
