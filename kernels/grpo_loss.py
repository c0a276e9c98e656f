"""The per-token GRPO loss straight from the logits (docs/design.md, GRPO and Kernels).

Per token t with log-prob logp = log softmax(logits / tau)[target] (DeepSeekMath eq. 3,
DeepSeek-R1 section 2.2.1, with DAPO's separate lower and upper clip):

    r      = exp(logp - old_logp)                      (the ratio; exactly 1 if old_logp is None)
    pg     = -min(r * A, clip(r, 1 - eps_low, 1 + eps_high) * A)
    kl     = exp(ref_logp - logp) - (ref_logp - logp) - 1   (the k3 estimator, >= 0; 0 without ref)
    loss   = pg + beta * kl
    clipped = (r > 1 + eps_high and A > 0) or (r < 1 - eps_low and A < 0)

`clipped` marks the tokens whose gradient the clip removed (for clip_frac). Masked tokens (mask
False, or target == IGNORE_INDEX) get 0 everywhere. Reductions over tokens and responses
(grpo / token / dr_grpo aggregation) are left to the caller:

    from kernels.grpo_loss import grpo_token_loss
    loss, logp, kl, clipped = grpo_token_loss(logits, targets, old_logp, ref_logp, adv, mask,
                                              eps_low=0.2, eps_high=0.2, beta=0.0)  # each (B, T)

Backend 'triton': one kernel reads each logits row once in the forward pass and writes all per-token
outputs; backward reads it once more and writes the gradient. Backend 'torch' (`grpo_loss_torch`):
the chunked selective log-softmax of logprobs.py, then the formula above in torch with autograd.
old_logp, ref_logp and the advantages are constants: no gradient flows into them."""
from __future__ import annotations  # keeps the kernel's `tl.constexpr` annotations unevaluated

import torch

from .logprobs import (IGNORE_INDEX, NUM_WARPS, as_rows, backward_rows, block_v, check_inputs, jit,
                       resolve_backend, selective_logprobs)

tl = None  # triton.language, bound by logprobs.jit() when the kernel is first used


# Forward, one program per token row x (V logits), target y, temperature tau:
#   lse, logp   as in logprobs.py (online logsumexp over blocks of the vocabulary)
#   r = exp(logp - old) (HAS_OLD) else 1;   d = ref - logp (HAS_REF)
#   loss = -min(r A, clip(r) A) + beta (exp(d) - d - 1)
# and, for backward, the derivatives with respect to logp (O(tokens) to store):
#   dloss/dlogp = -r A [not clipped] + beta (1 - exp(d))
#   dkl/dlogp   = 1 - exp(d)
# (where the clip binds, the min picks the constant clip(r) A and its gradient is 0;
# elsewhere the min is r A, whose derivative in logp is r A since dr/dlogp = r.)
def _grpo_fwd_kernel(logits_ptr, stride_b, stride_t, T, targets_ptr, old_ptr, ref_ptr, adv_ptr,
                     loss_ptr, logp_ptr, kl_ptr, clipped_ptr, lse_ptr, dloss_ptr, dkl_ptr,
                     V, temperature, eps_low, eps_high, beta, HAS_OLD: tl.constexpr,
                     HAS_REF: tl.constexpr, IGNORE: tl.constexpr, BLOCK_V: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    target = tl.load(targets_ptr + row)
    if target == IGNORE:
        tl.store(loss_ptr + row, 0.0)
        tl.store(logp_ptr + row, 0.0)
        tl.store(kl_ptr + row, 0.0)
        tl.store(clipped_ptr + row, 0)
        tl.store(lse_ptr + row, 0.0)
        tl.store(dloss_ptr + row, 0.0)
        tl.store(dkl_ptr + row, 0.0)
        return
    row_ptr = logits_ptr + (row // T) * stride_b + (row % T) * stride_t
    m = float("-inf")
    s = 0.0
    for start in range(0, V, BLOCK_V):
        offs = start + tl.arange(0, BLOCK_V)
        x = tl.load(row_ptr + offs, mask=offs < V, other=float("-inf")).to(tl.float32)
        x = x / temperature
        m_new = tl.maximum(m, tl.max(x, axis=0))
        s = s * tl.exp(m - m_new) + tl.sum(tl.exp(x - m_new), axis=0)
        m = m_new
    lse = m + tl.log(s)
    logp = tl.load(row_ptr + target).to(tl.float32) / temperature - lse
    adv = tl.load(adv_ptr + row).to(tl.float32)
    if HAS_OLD:
        ratio = tl.exp(logp - tl.load(old_ptr + row).to(tl.float32))
    else:
        ratio = 1.0
    clipped_ratio = tl.minimum(tl.maximum(ratio, 1.0 - eps_low), 1.0 + eps_high)
    loss = -tl.minimum(ratio * adv, clipped_ratio * adv)
    is_clipped = ((ratio > 1.0 + eps_high) & (adv > 0.0)) | ((ratio < 1.0 - eps_low) & (adv < 0.0))
    dloss = tl.where(is_clipped, 0.0, -ratio * adv)
    kl = 0.0
    dkl = 0.0
    if HAS_REF:
        d = tl.load(ref_ptr + row).to(tl.float32) - logp
        kl = tl.exp(d) - d - 1.0
        dkl = 1.0 - tl.exp(d)
        loss += beta * kl
        dloss += beta * dkl
    tl.store(loss_ptr + row, loss)
    tl.store(logp_ptr + row, logp)
    tl.store(kl_ptr + row, kl)
    tl.store(clipped_ptr + row, is_clipped.to(tl.int8))
    tl.store(lse_ptr + row, lse)
    tl.store(dloss_ptr + row, dloss)
    tl.store(dkl_ptr + row, dkl)


class _GRPOTokenLoss(torch.autograd.Function):
    # Backward: by the chain rule into logp, c = g_loss * dloss/dlogp + g_logp + g_kl * dkl/dlogp
    # per token (O(tokens) torch), then the selective log-softmax backward kernel writes
    # c * (onehot - softmax) / tau for every row: one pass over the logits.

    @staticmethod
    def forward(ctx, logits, targets, old_logp, ref_logp, advantages, eps_low, eps_high, beta,
                temperature):
        x3 = as_rows(logits)
        B, T, V = x3.shape
        f32 = dict(dtype=torch.float32, device=logits.device)
        loss, logp, kl, lse, dloss, dkl = (torch.empty(B * T, **f32) for _ in range(6))
        clipped = torch.empty(B * T, dtype=torch.int8, device=logits.device)
        if B * T:
            jit(_grpo_fwd_kernel, logits.device)[(B * T,)](
                x3, x3.stride(0), x3.stride(1), T, targets,
                old_logp if old_logp is not None else logp,  # unread when HAS_OLD is False
                ref_logp if ref_logp is not None else logp,  # unread when HAS_REF is False
                advantages, loss, logp, kl, clipped, lse, dloss, dkl, V, temperature, eps_low,
                eps_high, beta, HAS_OLD=old_logp is not None, HAS_REF=ref_logp is not None,
                IGNORE=IGNORE_INDEX, BLOCK_V=block_v(V), num_warps=NUM_WARPS)
        clipped = clipped.view(torch.bool)
        ctx.save_for_backward(logits, targets, lse, dloss, dkl)
        ctx.temperature = temperature
        ctx.mark_non_differentiable(clipped)
        return loss, logp, kl, clipped

    @staticmethod
    def backward(ctx, grad_loss, grad_logp, grad_kl, _):
        logits, targets, lse, dloss, dkl = ctx.saved_tensors
        coef = grad_loss * dloss + grad_logp + grad_kl * dkl  # (N,) dL/dlogp
        grad = backward_rows(as_rows(logits), targets, lse, coef, ctx.temperature, "triton")
        return grad.view(logits.shape), None, None, None, None, None, None, None, None


def _prepare(logits, targets, old_logp, ref_logp, advantages, mask, eps_low, eps_high, beta,
             temperature):
    """Check every input; return flat (N,) targets with masked tokens set to IGNORE_INDEX."""
    check_inputs(logits, targets, temperature)
    if advantages is None:
        raise ValueError("advantages are required (one per token, already broadcast)")
    for name, value in (("old_logp", old_logp), ("ref_logp", ref_logp), ("advantages", advantages)):
        if value is not None and (not torch.is_tensor(value) or value.shape != targets.shape or
                                  not value.is_floating_point() or value.device != targets.device):
            raise ValueError(f"{name} must be a float tensor shaped like targets "
                             f"{tuple(targets.shape)} on {targets.device}, "
                             f"got {getattr(value, 'dtype', type(value))} "
                             f"{tuple(getattr(value, 'shape', ()))}")
    if mask is not None and (not torch.is_tensor(mask) or mask.shape != targets.shape):
        raise ValueError(f"mask must be a tensor shaped like targets {tuple(targets.shape)}")
    for name, value in (("eps_low", eps_low), ("eps_high", eps_high), ("beta", beta)):
        if not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if eps_low >= 1:
        raise ValueError(f"eps_low must be below 1 (the lower clip bound is 1 - eps_low), "
                         f"got {eps_low}")
    if beta > 0 and ref_logp is None:
        raise ValueError("beta > 0 needs ref_logp (the reference model's log-probs); "
                         "pass beta=0 to drop the KL term")
    flat = targets.reshape(-1).long()  # (N,)
    if mask is not None:
        flat = torch.where(mask.reshape(-1).bool(), flat, IGNORE_INDEX)
    return flat.contiguous()


def _flat_f32(t):
    """A per-token constant as the kernel reads it: flat, fp32, contiguous, no gradient."""
    return None if t is None else t.detach().reshape(-1).float().contiguous()  # (N,)


def grpo_token_loss(logits, targets, old_logp, ref_logp, advantages, mask=None, *, eps_low=0.2,
                    eps_high=0.2, beta=0.0, temperature=1.0, backend="auto"):
    """Per-token (loss, logp, kl, clipped), each shaped like targets (see the module docstring).
    logits (B, T, V) or (N, V); targets, old_logp, ref_logp, advantages, mask shaped like the logits
    without V. old_logp None: ratio exactly 1 (mu = 1: one update per batch); ref_logp None: no KL
    term (beta must be 0)."""
    flat = _prepare(logits, targets, old_logp, ref_logp, advantages, mask, eps_low, eps_high, beta,
                    temperature)
    if resolve_backend(backend, logits.device) == "torch":
        return _grpo_loss_torch(logits, flat.view(targets.shape), old_logp, ref_logp, advantages,
                                eps_low, eps_high, beta, temperature)
    outs = _GRPOTokenLoss.apply(logits, flat, _flat_f32(old_logp), _flat_f32(ref_logp),
                                _flat_f32(advantages), float(eps_low), float(eps_high), float(beta),
                                float(temperature))
    return tuple(o.view(targets.shape) for o in outs)


def grpo_loss_torch(logits, targets, old_logp, ref_logp, advantages, mask=None, *, eps_low=0.2,
                    eps_high=0.2, beta=0.0, temperature=1.0):
    """The plain torch reference of grpo_token_loss: same arguments and outputs."""
    return grpo_token_loss(logits, targets, old_logp, ref_logp, advantages, mask, eps_low=eps_low,
                           eps_high=eps_high, beta=beta, temperature=temperature, backend="torch")


def _grpo_loss_torch(logits, targets, old_logp, ref_logp, advantages, eps_low, eps_high, beta,
                     temperature):
    keep = targets != IGNORE_INDEX  # (B, T)
    logp = selective_logprobs(logits, targets, temperature, backend="torch")  # (B, T) fp32
    adv = advantages.detach().float()
    # a masked token compares with itself (ratio 1, k3 0): old and ref hold no value there, and
    # the exponential of a made-up gap could overflow into inf * 0 = NaN in the backward pass
    old = (logp.detach() if old_logp is None
           else torch.where(keep, old_logp.detach().float(), logp.detach()))
    ratio = torch.exp(logp - old)
    pg = -torch.minimum(ratio * adv, torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * adv)
    clipped = ((ratio > 1 + eps_high) & (adv > 0)) | ((ratio < 1 - eps_low) & (adv < 0))
    if ref_logp is not None:
        d = torch.where(keep, ref_logp.detach().float(), logp.detach()) - logp
        kl = torch.exp(d) - d - 1
    else:
        kl = torch.zeros_like(logp)
    loss = pg + beta * kl
    zero = torch.zeros((), device=logp.device)
    return (torch.where(keep, loss, zero), logp, torch.where(keep, kl, zero), clipped & keep)
