"""Log-probabilities of chosen tokens without the full log-softmax (docs/design.md, Kernels).

RL needs log p(token) of the sampled tokens only; `log_softmax(logits.float(), -1).gather(...)`
builds an fp32 (tokens, vocab) tensor and keeps it for backward: a GRPO step's largest tensor.
Here each row's logsumexp is found by streaming over the vocabulary, and only that one number per
token is kept for backward, which recomputes the softmax from the logits.

    from kernels.logprobs import selective_logprobs, linear_logprobs
    logp = selective_logprobs(logits, targets, temperature=1.0)  # logits (B, T, V) or (N, V)
    logp = linear_logprobs(hidden, lm_head.weight, targets)      # never builds (N, V) at all

Backends. 'triton': one Triton program per token on a 1-D grid. 'torch': the same maths in plain
torch, a chunk of rows at a time, so the fp32 log-softmax of all rows never exists at once. 'auto'
picks Triton for CUDA tensors, else torch; `BACKEND` (from NANO_R1_KERNELS=auto|torch|triton)
overrides 'auto'. On CPU, Triton runs only in its interpreter, for tests: TRITON_INTERPRET=1 must
be set before anything imports triton (kernels imports it only at its first Triton call).

A target of IGNORE_INDEX (-100) marks a token to skip: its log-prob and gradient are 0.
Outputs are fp32; gradients come back out of place in the logits' dtype."""
from __future__ import annotations  # keeps the kernels' `tl.constexpr` annotations unevaluated

import importlib.util
import os

import torch

IGNORE_INDEX = -100                  # target value meaning "skip this token"
BACKEND = os.environ.get("NANO_R1_KERNELS", "auto")  # 'auto' | 'torch' | 'triton'
TORCH_CHUNK_ELEMENTS = 2 ** 18       # torch path: rows per chunk = this // V (1 MiB fp32: in cache)
LINEAR_CHUNK_ELEMENTS = 2 ** 22      # linear_logprobs: rows per chunk = this // V (16 MiB)
MAX_BLOCK_V = 4096                   # Triton: vocabulary entries one program reads per step
NUM_WARPS = 8                        # Triton: warps per program (untuned: no GPU measured yet)
HAVE_TRITON = importlib.util.find_spec("triton") is not None  # Triton ships for Linux only
tl = None                            # triton.language, bound by jit() when a kernel is first used


# ---- Triton kernels, plain functions compiled by jit() on first use. Every load is cast to fp32 at
# once: the maths is fp32 whatever the logits' dtype, and the CPU interpreter gets bf16 wrong.

# Forward, one program per token row x (V logits), target y, temperature tau:
#   lse  = log sum_v exp(x_v / tau)   (online: running max m and sum s over blocks,
#                                      s <- s * exp(m_old - m_new) + sum exp(x/tau - m_new))
#   logp = x_y / tau - lse
# Only lse (one float per token) is written for backward.
def _logprobs_fwd_kernel(logits_ptr, stride_b, stride_t, T, targets_ptr, logp_ptr, lse_ptr,
                         V, temperature, IGNORE: tl.constexpr, BLOCK_V: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    target = tl.load(targets_ptr + row)
    if target == IGNORE:
        tl.store(logp_ptr + row, 0.0)
        tl.store(lse_ptr + row, 0.0)
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
    x_y = tl.load(row_ptr + target).to(tl.float32) / temperature
    tl.store(logp_ptr + row, x_y - lse)
    tl.store(lse_ptr + row, lse)


# Backward, one program per token row, given c = dL/dlogp for that token:
#   dlogp/dx_v = (onehot_v - softmax_v) / tau,   softmax_v = exp(x_v / tau - lse)
#   grad_v     = c * (onehot_v - softmax_v) / tau
# written out of place, in the logits' dtype, into a contiguous (N, V) buffer.
def _logprobs_bwd_kernel(logits_ptr, stride_b, stride_t, T, targets_ptr, lse_ptr, coef_ptr,
                         grad_ptr, V, temperature, IGNORE: tl.constexpr, BLOCK_V: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    target = tl.load(targets_ptr + row)
    grad_row = grad_ptr + row * V
    if target == IGNORE:
        for start in range(0, V, BLOCK_V):
            offs = start + tl.arange(0, BLOCK_V)
            tl.store(grad_row + offs, tl.zeros([BLOCK_V], dtype=grad_ptr.dtype.element_ty),
                     mask=offs < V)
        return
    row_ptr = logits_ptr + (row // T) * stride_b + (row % T) * stride_t
    lse = tl.load(lse_ptr + row)
    c = tl.load(coef_ptr + row).to(tl.float32) / temperature
    for start in range(0, V, BLOCK_V):
        offs = start + tl.arange(0, BLOCK_V)
        x = tl.load(row_ptr + offs, mask=offs < V, other=0.0).to(tl.float32)
        p = tl.exp(x / temperature - lse)
        g = c * (tl.where(offs == target, 1.0, 0.0) - p)
        tl.store(grad_row + offs, g.to(grad_ptr.dtype.element_ty), mask=offs < V)


_jitted = {}  # python kernel function -> its Triton kernel


def jit(fn, device):
    """`fn` as a Triton kernel that runs on `device` (compiled on CUDA, interpreted on CPU). triton
    is imported here, at the first Triton call, not with kernels: Triton fixes interpreted or
    compiled for its helpers (tl.sum, tl.max) at import, so importing kernels early (grpo.py does)
    must not decide it for a test file that sets TRITON_INTERPRET=1 later."""
    if device.type not in ("cuda", "cpu"):
        raise RuntimeError(f"the Triton backend runs on CUDA (or on CPU through Triton's "
                           f"interpreter), not on {device.type}; use backend='torch'")
    if device.type == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError("the Triton backend on CPU runs only through Triton's interpreter: set "
                           "TRITON_INTERPRET=1 in the environment before anything imports triton, "
                           "or use backend='torch'")
    import triton
    import triton.language
    if device.type == "cpu":
        from triton.runtime.interpreter import InterpretedFunction
        if not isinstance(triton.language.sum, InterpretedFunction):
            raise RuntimeError("triton was imported before TRITON_INTERPRET=1 was set, so its "
                               "helpers are compiled and cannot run on CPU: set the variable "
                               "before anything imports triton (for pytest, at the top of "
                               "conftest.py)")
    if fn not in _jitted:
        fn.__globals__["tl"] = triton.language  # the kernel bodies read tl from their module
        _jitted[fn] = triton.jit(fn)
    return _jitted[fn]


def block_v(V):
    """Vocabulary entries a program handles per step: a power of two, at most MAX_BLOCK_V."""
    return min(MAX_BLOCK_V, 1 << (V - 1).bit_length())


def resolve_backend(backend, device):
    """'torch' or 'triton' for this call: an explicit choice wins, then BACKEND, then device."""
    if backend == "auto":
        backend = BACKEND
        if backend not in ("auto", "torch", "triton"):
            raise ValueError(f"NANO_R1_KERNELS / kernels.logprobs.BACKEND must be auto, torch or "
                             f"triton, got {backend!r}")
    if backend == "auto":
        return "triton" if device.type == "cuda" and HAVE_TRITON else "torch"
    if backend not in ("torch", "triton"):
        raise ValueError(f"backend must be 'auto', 'torch' or 'triton', got {backend!r}")
    if backend == "triton" and not HAVE_TRITON:
        raise RuntimeError("backend='triton' needs the triton package (Linux only); "
                           "use backend='torch'")
    return backend


def as_rows(logits):
    """A (B, T, V) view of (N, V) or (B, T, V) logits with unit vocabulary stride, folding
    B into T when the memory layout allows, so (B, T-1, V) slices are never copied."""
    x = logits if logits.dim() == 3 else logits.unsqueeze(0)  # (B, T, V)
    if x.stride(-1) != 1:
        x = x.contiguous()
    if x.size(0) > 1 and x.stride(0) == x.size(1) * x.stride(1):
        x = x.reshape(1, -1, x.size(-1))  # a view, by the stride check
    return x


def check_inputs(logits, targets, temperature):
    if not torch.is_tensor(logits) or not logits.is_floating_point() or logits.dim() not in (2, 3):
        raise ValueError(f"logits must be a floating tensor of shape (N, V) or (B, T, V), got "
                         f"{getattr(logits, 'dtype', type(logits))} "
                         f"{tuple(getattr(logits, 'shape', ()))}")
    check_targets(targets, logits.shape[:-1], logits.size(-1), logits.device, temperature)


def check_targets(targets, shape, V, device, temperature):
    """Targets must match the rows' shape, sit on `device`, hold ids in [0, V) or IGNORE_INDEX."""
    if not torch.is_tensor(targets) or targets.is_floating_point() or targets.is_complex():
        raise ValueError("targets must be an integer tensor of token ids")
    if targets.shape != shape:
        raise ValueError(f"targets shape {tuple(targets.shape)} must equal the logits' shape "
                         f"without the vocabulary, {tuple(shape)}")
    if targets.device != device:
        raise ValueError(f"targets are on {targets.device} but the logits on {device}")
    if not (isinstance(temperature, (int, float)) and 0 < temperature < float("inf")):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    bad = ((targets < 0) & (targets != IGNORE_INDEX)) | (targets >= V)
    if targets.numel() and bool(bad.any()):
        raise ValueError(f"targets must lie in [0, {V}) or equal IGNORE_INDEX={IGNORE_INDEX}; "
                         f"found {targets[bad][0].item()}")


# ---- Row passes shared by both backends and by linear_logprobs. x3 is a (B, T, V) view from
# as_rows; targets, lse and coef are flat (B*T,) tensors.

def _chunks(x3, elements):
    """(chunk of x3 (n, V), slice of the flat rows it holds), about `elements` logits each."""
    B, T, V = x3.shape
    rows = max(1, elements // V)
    for b in range(B):
        for t0 in range(0, T, rows):
            n = min(rows, T - t0)
            yield x3[b, t0:t0 + n], slice(b * T + t0, b * T + t0 + n)


def _scaled_fp32(chunk, temperature, fresh):
    """chunk / temperature in fp32; `fresh` guarantees a new tensor, safe to modify in place."""
    z = chunk.to(torch.float32, copy=fresh)  # (n, V)
    if temperature != 1.0:
        z = z.div_(temperature) if fresh else z / temperature
    return z


def forward_rows(x3, targets, temperature, backend):
    """(logp, lse), each (B*T,) fp32, for rows x3 (B, T, V) and flat targets."""
    B, T, V = x3.shape
    logp = torch.empty(B * T, dtype=torch.float32, device=x3.device)
    lse = torch.empty(B * T, dtype=torch.float32, device=x3.device)
    if B * T == 0:
        return logp, lse
    if backend == "triton":
        jit(_logprobs_fwd_kernel, x3.device)[(B * T,)](
            x3, x3.stride(0), x3.stride(1), T, targets, logp, lse, V, float(temperature),
            IGNORE=IGNORE_INDEX, BLOCK_V=block_v(V), num_warps=NUM_WARPS)
        return logp, lse
    for chunk, rows in _chunks(x3, TORCH_CHUNK_ELEMENTS):
        z = _scaled_fp32(chunk, temperature, fresh=False)  # (n, V), read only
        tgt = targets[rows]  # (n,)
        lse[rows] = torch.logsumexp(z, dim=-1)
        picked = z.gather(1, tgt.clamp(min=0)[:, None]).squeeze(1)  # (n,)
        logp[rows] = torch.where(tgt != IGNORE_INDEX, picked - lse[rows], 0.0)
    return logp, lse


def backward_rows(x3, targets, lse, coef, temperature, backend):
    """d(sum coef * logp)/dx as a contiguous (B, T, V) tensor in x3's dtype."""
    B, T, V = x3.shape
    grad = torch.empty((B, T, V), dtype=x3.dtype, device=x3.device)
    if B * T == 0:
        return grad
    coef = coef.to(torch.float32).contiguous()
    if backend == "triton":
        jit(_logprobs_bwd_kernel, x3.device)[(B * T,)](
            x3, x3.stride(0), x3.stride(1), T, targets, lse, coef, grad, V, float(temperature),
            IGNORE=IGNORE_INDEX, BLOCK_V=block_v(V), num_warps=NUM_WARPS)
        return grad
    grad_rows = grad.view(-1, V)  # (B*T, V)
    for chunk, rows in _chunks(x3, TORCH_CHUNK_ELEMENTS):
        z = _scaled_fp32(chunk, temperature, fresh=True)  # (n, V), overwritten below
        tgt = targets[rows]  # (n,)
        c = torch.where(tgt != IGNORE_INDEX, coef[rows], 0.0) / temperature  # (n,)
        z.sub_(lse[rows, None]).exp_().mul_(-c[:, None])          # -softmax * c
        z.scatter_add_(1, tgt.clamp(min=0)[:, None], c[:, None])  # + onehot * c
        grad_rows[rows] = z
    return grad


# ---- Selective log-softmax.

class _SelectiveLogprobs(torch.autograd.Function):
    # Saves the logits (a reference, not a copy), the targets and lse: O(tokens) new memory.

    @staticmethod
    def forward(ctx, logits, targets, temperature, backend):
        x3 = as_rows(logits)
        logp, lse = forward_rows(x3, targets, temperature, backend)
        ctx.save_for_backward(logits, targets, lse)
        ctx.temperature, ctx.backend = temperature, backend
        return logp

    @staticmethod
    def backward(ctx, grad_logp):
        logits, targets, lse = ctx.saved_tensors
        grad = backward_rows(as_rows(logits), targets, lse, grad_logp, ctx.temperature, ctx.backend)
        return grad.view(logits.shape), None, None, None


def selective_logprobs(logits, targets, temperature=1.0, backend="auto"):
    """log softmax(logits / temperature)[target] per token, fp32, shaped like targets. logits
    (N, V) or (B, T, V), any float dtype; targets of ids, IGNORE_INDEX to skip."""
    check_inputs(logits, targets, temperature)
    backend = resolve_backend(backend, logits.device)
    flat = targets.reshape(-1).long().contiguous()  # (N,)
    logp = _SelectiveLogprobs.apply(logits, flat, float(temperature), backend)
    return logp.view(targets.shape)


def selective_logprobs_naive(logits, targets, temperature=1.0):
    """The reference the tests compare against: the full fp32 log-softmax, then gather."""
    scaled = logits.float() if temperature == 1.0 else logits.float() / temperature  # (..., V) fp32
    logprobs = torch.log_softmax(scaled, dim=-1)  # (..., V) fp32
    picked = logprobs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return torch.where(targets != IGNORE_INDEX, picked, 0.0)


# ---- Fused linear log-probs: logits = hidden @ weight.T, a chunk of rows at a time, so the full
# (N, V) logits never exist (Liger's fused linear cross entropy, for log-probs).

class _LinearLogprobs(torch.autograd.Function):
    # Saves hidden and weight (the output layer keeps them anyway), targets and lse.

    @staticmethod
    def forward(ctx, hidden, weight, targets, temperature, rows, backend):
        logp = torch.empty(hidden.size(0), dtype=torch.float32, device=hidden.device)
        lse = torch.empty_like(logp)
        for r0 in range(0, hidden.size(0), rows):
            logits = hidden[r0:r0 + rows] @ weight.T  # (n, V)
            logp[r0:r0 + rows], lse[r0:r0 + rows] = forward_rows(
                as_rows(logits), targets[r0:r0 + rows], temperature, backend)
        ctx.save_for_backward(hidden, weight, targets, lse)
        ctx.temperature, ctx.rows, ctx.backend = temperature, rows, backend
        device = hidden.device.type  # backward recomputes the logits under the same autocast
        ctx.autocast = dict(device_type=device, enabled=torch.is_autocast_enabled(device),
                            dtype=torch.get_autocast_dtype(device))
        return logp

    @staticmethod
    def backward(ctx, grad_logp):
        # Per chunk: dL/dlogits = c * (onehot - softmax) / tau (recomputed from the chunk's
        # logits), then dL/dhidden = dlogits @ W and dL/dW += dlogits.T @ hidden.
        hidden, weight, targets, lse = ctx.saved_tensors
        need_h, need_w = ctx.needs_input_grad[:2]
        grad_hidden = torch.empty_like(hidden) if need_h else None
        grad_weight = (torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
                       if need_w else None)
        rows = ctx.rows
        for r0 in range(0, hidden.size(0), rows):
            h = hidden[r0:r0 + rows]  # (n, C)
            with torch.autocast(**ctx.autocast):
                logits = h @ weight.T  # (n, V)
                dlogits = backward_rows(as_rows(logits), targets[r0:r0 + rows], lse[r0:r0 + rows],
                                        grad_logp[r0:r0 + rows], ctx.temperature, ctx.backend)[0]
                if need_h:
                    grad_hidden[r0:r0 + rows] = dlogits @ weight
                if need_w:
                    grad_weight += (dlogits.T @ h).float()  # (V, C), summed in fp32 across chunks
        if need_w:
            grad_weight = grad_weight.to(weight.dtype)
        return grad_hidden, grad_weight, None, None, None, None


def linear_logprobs(hidden, weight, targets, temperature=1.0, chunk_size=None, backend="auto"):
    """log softmax(hidden @ weight.T / temperature)[target] per token, fp32, shaped like targets.
    hidden (N, C) or (B, T, C); weight (V, C), the output layer; chunk_size rows per chunk
    (default: about LINEAR_CHUNK_ELEMENTS logits)."""
    if not torch.is_tensor(hidden) or hidden.dim() not in (2, 3) or not hidden.is_floating_point():
        raise ValueError(f"hidden must be a floating tensor (N, C) or (B, T, C), got "
                         f"{tuple(getattr(hidden, 'shape', ()))}")
    if not torch.is_tensor(weight) or weight.dim() != 2 or weight.size(1) != hidden.size(-1):
        raise ValueError(f"weight must be (V, C) with C = hidden's last dimension "
                         f"{hidden.size(-1)}, got {tuple(getattr(weight, 'shape', ()))}")
    if weight.dtype != hidden.dtype or weight.device != hidden.device:
        raise ValueError(f"weight ({weight.dtype}, {weight.device}) and hidden ({hidden.dtype}, "
                         f"{hidden.device}) must share dtype and device")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    check_targets(targets, hidden.shape[:-1], weight.size(0), hidden.device, temperature)
    backend = resolve_backend(backend, hidden.device)
    rows = chunk_size or max(1, LINEAR_CHUNK_ELEMENTS // weight.size(0))
    flat = targets.reshape(-1).long().contiguous()  # (N,)
    h2 = hidden.reshape(-1, hidden.size(-1))  # (N, C)
    logp = _LinearLogprobs.apply(h2, weight, flat, float(temperature), rows, backend)
    return logp.view(targets.shape)
