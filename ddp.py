"""Data parallelism for the three loops (pretrain.py, sft.train, grpo.train) under torchrun.

    torchrun --standalone --nproc_per_node=2 train_zero.py      # 2 GPUs (nccl), or 2 CPU processes (gloo)

Each process holds the whole model and takes its share of every global batch: a contiguous
slice of the pretraining rows, of the SFT examples, of the GRPO prompts (with their G samples).
Gradients are summed across processes after the local backward; each loop normalises its loss
by the *global* count (tokens, responses or processes), so the summed gradient is the one a
single process computes on the whole batch, and every process takes the same optimizer step
(no DistributedDataParallel wrapper: the GRPO update runs its own autograd passes, and one
all-reduce per step is all a model of this size needs). Rank 0 alone logs, evaluates and saves.

A GRPO process samples its rows with the random numbers those rows get in one process (the
sampler draws the whole batch's uniforms and uses its slice), so 2 processes train the same
parameters as 1 with the same global batch, up to float rounding (tests/test_ddp.py).
"""
import datetime
import os

import torch
import torch.distributed as dist

from config import InputError


def init():
    """Join the process group when torchrun started several processes."""
    if int(os.environ.get('WORLD_SIZE', '1')) > 1 and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', '0')))  # then 'cuda' is this process's GPU
        # rank 0 alone evaluates (and may pretrain a base) while the others wait in the next
        # collective: far longer than the default 10-30 minute timeout on a real model
        dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo', timeout=datetime.timedelta(hours=6))


def rank():
    return dist.get_rank() if dist.is_initialized() else 0


def world():
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main():
    return rank() == 0


def barrier():
    if world() > 1:
        dist.barrier()


def any_true(flag):
    """True on every process when `flag` is true on any (a Ctrl-C seen by one process stops all)."""
    return all_sum(bool(flag)) > 0


def all_sum(x):
    """x (a number) summed over the processes; x itself in one process."""
    if world() == 1:
        return x
    t = torch.tensor(float(x), dtype=torch.float64)
    if dist.get_backend() == 'nccl':
        t = t.cuda()
    dist.all_reduce(t)
    return t.item()


def sum_grads(model):
    """Sum every parameter's gradient over the processes, in one flat buffer (a missing grad counts as 0)."""
    if world() == 1:
        return
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1).float() for p in params])
    dist.all_reduce(flat)
    for p, summed in zip(params, flat.split([p.numel() for p in params])):
        p.grad.copy_(summed.view_as(p))


def shard(n):
    """This process's slice(start, stop) of n items, contiguous; the first n % world processes take one more."""
    per, extra = divmod(n, world())
    r = rank()
    start = r * per + min(r, extra)
    return slice(start, start + per + (r < extra))


def finish():
    """End of a script under torchrun: every process waits here for rank 0's evaluations and
    saves, then the group is closed. A process that exits with its group still open can abort
    in gloo's teardown ("terminate called without an active exception", exit -6), which fails
    the whole torchrun job after the work is done."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def one_process_only(script):
    """train_r1.py and distill.py chain stages that evaluate, skip and move folders as they go:
    they run in one process (their loops would split, their bookkeeping would race)."""
    if int(os.environ.get('WORLD_SIZE', '1')) > 1:
        raise InputError(f'{script} runs in one process; use torchrun for pretrain.py, sft.py and '
                         f'train_zero.py (the loops), or give each stage its own run')
