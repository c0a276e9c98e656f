"""Fused kernels for RL on language models: log-probs of chosen tokens and the GRPO loss.

Each Triton kernel sits in one file with the plain torch reference its tests compare it with:

    logprobs.py   selective_logprobs (chosen-token log-softmax), linear_logprobs (from hidden
                  states, chunked so the full logits never exist), selective_logprobs_naive
    grpo_loss.py  grpo_token_loss (per-token loss, logp, k3 KL, clip flag), grpo_loss_torch
    benchmark.py  memory and time against the naive log_softmax: python -m kernels.benchmark

Backends: 'auto' (Triton on CUDA, torch elsewhere), 'torch', 'triton'; the environment variable
NANO_R1_KERNELS=torch|triton (or kernels.logprobs.BACKEND) overrides 'auto'. On CPU the Triton
kernels run only through Triton's interpreter (TRITON_INTERPRET=1), which the tests use.
This package imports nothing from the rest of the project: torch and triton only."""
from .grpo_loss import grpo_loss_torch, grpo_token_loss
from .logprobs import IGNORE_INDEX, linear_logprobs, selective_logprobs, selective_logprobs_naive

__all__ = ["IGNORE_INDEX", "grpo_loss_torch", "grpo_token_loss", "linear_logprobs",
           "selective_logprobs", "selective_logprobs_naive"]
