"""Data parallelism for the three loops (pretrain.py, sft.train, grpo.train) under torchrun.

    torchrun --standalone --nproc_per_node=2 train_zero.py  # 2 GPUs (nccl) / 2 CPU processes (gloo)

Each process holds the whole model and takes a contiguous slice of every global batch (pretraining
rows, SFT examples, GRPO prompts with their G samples). Gradients are summed over processes after
the backward; each loop normalises its loss by the *global* count (tokens, responses or processes),
so every process takes the whole batch's step. No DistributedDataParallel wrapper: the GRPO update
runs its own autograd passes; one all-reduce per step suffices. Rank 0 alone logs, evaluates, saves.

A GRPO process samples its rows with the random numbers they get in one process (the sampler draws
the whole batch's uniforms): 2 processes train as 1 does, up to float rounding (tests/test_ddp.py).
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
            torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', '0')))  # 'cuda' is now our GPU
        # rank 0 alone evaluates (and may pretrain a base) while the others wait in the next
        # collective: far longer than the default 10-30 minute timeout on a real model
        dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo',
                                timeout=datetime.timedelta(hours=6))


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
    """Sum each parameter's gradient over the processes in one flat buffer (a missing grad is 0)."""
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
    """This process's contiguous slice(start, stop) of n items; the first n % world get one more."""
    per, extra = divmod(n, world())
    r = rank()
    start = r * per + min(r, extra)
    return slice(start, start + per + (r < extra))


def finish():
    """End of a script under torchrun: every process waits for rank 0's evaluations and saves, then
    the group closes. A process that exits with its group open can abort in gloo's teardown
    ("terminate called without an active exception", exit -6), failing the finished torchrun job."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def one_process_only(script):
    """train_r1.py and distill.py chain stages that evaluate, skip and move folders as they go:
    they run in one process (their loops would split, their bookkeeping would race)."""
    if int(os.environ.get('WORLD_SIZE', '1')) > 1:
        raise InputError(f'{script} runs in one process; use torchrun for pretrain.py, sft.py and '
                         f'train_zero.py (the loops), or give each stage its own run')
