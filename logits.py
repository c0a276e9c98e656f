"""Training-time scoring of sampled responses: the logits and log-probs that GRPO differentiates.

A batch arrives in the sampler's layout (sample.Samples): each distinct prompt once, left-padded,
and its responses right-padded. Each prompt runs through the model once and its responses run on top
of its cached keys and values (model.ConcatKVCache): the same numbers as the full [prompt, response]
rows, without the G copies of the prompt (the R1-Zero template alone is ~100 tokens, a response
~40-90). tests/test_grpo_loss.py checks logits and gradients against the full rows."""
import copy
from typing import NamedTuple

import torch

from kernels.logprobs import selective_logprobs
from model import ConcatKVCache


class Rows(NamedTuple):
    """Some responses of a batch and the prompts they answer: what response_logits scores."""
    prompts: torch.Tensor      # (p, lp) left-padded
    prompt_mask: torch.Tensor  # (p, lp)
    group: torch.Tensor        # (n,) into prompts
    responses: torch.Tensor    # (n, lr) right-padded


def select_rows(batch, idx):
    """The responses idx of a batch with only the prompts they answer, minus the columns that are
    padding in every chosen row: a micro-batch of short responses costs what they are long."""
    used, group = torch.unique(batch.group[idx], return_inverse=True)
    prompt_mask = batch.prompt_mask[used]
    first = int((~prompt_mask.any(0)).sum())  # left-padded: no real token before column `first`
    width = max(1, int(batch.mask[idx].sum(1).max()))  # right-padded: the longest chosen response
    return Rows(batch.prompts[used, first:], prompt_mask[:, first:], group,
                batch.responses[idx, :width])


def encode_prompts(model, prompts, prompt_mask, max_response):
    """Run the distinct prompts (P, Lp), left-padded, through the model once: their keys and values
    (ConcatKVCache, room for max_response more tokens) and the first-token logits (P, 1, V)."""
    cache = ConcatKVCache(model.config.n_layer, prompts.shape[0], prompts.shape[1] + max_response,
                          prompts.device)
    h = model(prompts, kv_cache=cache, pad_mask=prompt_mask, return_hidden=True)[:, -1:]
    return cache, model.lm_head(h).float()


def response_logits(model, rows, encoded=None):
    """Logits (N, Lr, V); [n, j] predicts rows.responses[n, j]. encoded: encode_prompts' result."""
    prompt_cache, first = encoded or encode_prompts(model, rows.prompts, rows.prompt_mask,
                                                    rows.responses.shape[1])
    first = first.index_select(0, rows.group)  # (N, 1, V)
    if rows.responses.shape[1] == 1:
        return first
    cache = copy.copy(prompt_cache)  # select rebinds the copy's lists; the prompts' own cache stays
    cache.select(rows.group)
    return torch.cat([first, model(rows.responses[:, :-1], kv_cache=cache)], 1)  # (N, Lr, V)


def logprobs(model, rows, temperature, backend):
    """log p(response token | prompt, earlier response tokens): (N, Lr), via kernels/logprobs.py."""
    return selective_logprobs(response_logits(model, rows), rows.responses, temperature=temperature,
                              backend=backend)


def batch_logprobs(model, batch, temperature, backend, chunk):
    """(N, Lr) log-probs of a batch (0 on padding), `chunk` responses at a time, longest first."""
    out = torch.zeros_like(batch.logprobs)
    order = batch.mask.sum(1).argsort(descending=True, stable=True)
    for i in range(0, len(order), chunk):
        idx = order[i:i + chunk]
        lp = logprobs(model, select_rows(batch, idx), temperature, backend).float()  # (n, width)
        out[idx, :lp.shape[1]] = torch.where(batch.mask[idx, :lp.shape[1]], lp, 0.0)
    return out


class PromptPass:
    """The distinct prompts run once under autograd for several backward passes over their responses
    (GRPO's micro-batches, sorted by length, each hold responses to most prompts): the responses run
    on detached copies of the prompts' keys, values and first-token logits (`encoded`), collect()
    sums the gradients each backward left on them, and backward() carries the sums through the
    prompt pass once: the gradients of a prompt pass per micro-batch, for the cost of one."""

    def __init__(self, model, prompts, prompt_mask, max_response):
        cache, first = encode_prompts(model, prompts, prompt_mask, max_response)
        self.graph = cache.k + cache.v + [first]
        self.leaves = [t.detach().requires_grad_() for t in self.graph]
        self.sums = [None] * len(self.leaves)  # summed in float32 (the leaves may be bf16)
        detached = copy.copy(cache)
        detached.k, detached.v = self.leaves[:len(cache.k)], self.leaves[len(cache.k):-1]
        self.encoded = (detached, self.leaves[-1])

    def collect(self):
        for i, leaf in enumerate(self.leaves):
            if leaf.grad is not None:
                g = leaf.grad.float()
                self.sums[i] = g if self.sums[i] is None else self.sums[i] + g
                leaf.grad = None

    def backward(self):
        pairs = [(t, g.to(t.dtype)) for t, g in zip(self.graph, self.sums) if g is not None]
        torch.autograd.backward([t for t, _ in pairs], [g for _, g in pairs])
