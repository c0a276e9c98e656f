"""Tests for kernels/: the Triton kernels, run on CPU through Triton's interpreter, and the
chunked torch paths, against the naive log-softmax (values and gradients, by autograd) and
against a hand-computed GRPO example (dispatch, errors and the GPU check:
tests/test_kernels_dispatch.py).

Run: .venv/bin/pytest tests/test_kernels.py        (add -m "not slow" to skip the big one)

TRITON_INTERPRET=1 is set at the top of this file. It must be set before anything imports
triton; kernels imports triton only at its first Triton call, so other test modules that
import kernels (grpo.py does) earlier in the same pytest run do no harm.
Tolerances: fp32 1e-5. bf16/fp16 logits: log-probs 1e-5 (both sides compute in fp32 from the
same rounded logits); gradients within one unit in the last place of the dtype, because both
round the same fp32 value to bf16/fp16, possibly in different directions.
"""
import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is first imported

import math  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

import kernels.grpo_loss as G  # noqa: E402
import kernels.logprobs as L  # noqa: E402
from kernels import (IGNORE_INDEX, grpo_loss_torch, grpo_token_loss, linear_logprobs,  # noqa: E402
                     selective_logprobs, selective_logprobs_naive)
from kernels.benchmark import saved_bytes  # noqa: E402

needs_triton = pytest.mark.skipif(not L.HAVE_TRITON, reason="triton is not installed")
BACKENDS = ["torch", pytest.param("triton", marks=needs_triton)]
# relative size of one unit in the last place
ULP = {torch.bfloat16: 2 ** -7, torch.float16: 2 ** -10}


def make(shape, V, dtype=torch.float32, scale=3.0, masked=(), seed=0):
    """Logits (*shape, V), targets (*shape) with the flat positions in `masked` ignored, and
    an upstream gradient (*shape)."""
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(*shape, V, generator=g) * scale).to(dtype)
    targets = torch.randint(0, V, shape, generator=g)
    targets.view(-1)[list(masked)] = IGNORE_INDEX
    return logits, targets, torch.randn(shape, generator=g)


def value_and_grad(fn, logits, grad_out, *args, **kw):
    x = logits.detach().requires_grad_()
    y = fn(x, *args, **kw)
    (gx,) = torch.autograd.grad(y, x, grad_out)
    return y.detach(), gx


def close(actual, expected, tol=1e-5):
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol)


# ---------------------------------------------------------------------------- selective log-softmax

CASES = [  # (shape, V, temperature, masked flat positions)
    ((1,), 50, 1.0, ()),                   # a single token
    ((3, 17), 1000, 1.0, (0, 5, 33)),      # (B, T, V), one block, some masked
    ((2, 5), 5000, 0.7, (3,)),             # two blocks of 4096, the second partial
    ((7,), 97, 1.3, (6,)),                 # (N, V), odd vocabulary
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape, V, temperature, masked", CASES)
def test_selective_fp32_matches_naive(backend, shape, V, temperature, masked):
    logits, targets, g = make(shape, V, masked=masked)
    want, want_grad = value_and_grad(selective_logprobs_naive, logits, g, targets, temperature)
    got, got_grad = value_and_grad(selective_logprobs, logits, g, targets, temperature,
                                   backend=backend)
    assert got.shape == targets.shape and got.dtype == torch.float32
    close(got, want)
    close(got_grad, want_grad)
    assert ((got.view(-1)[list(masked)] == 0).all()
            and (got_grad.view(-1, V)[list(masked)] == 0).all())


@pytest.mark.parametrize("backend", BACKENDS)
def test_many_blocks_and_large_logits(backend, monkeypatch):
    # Blocks of 16 over V = 100 (7 blocks, the last of 4) and logits around +-400: the online
    # logsumexp must rescale its running sum at every new maximum, without overflow.
    monkeypatch.setattr(L, "MAX_BLOCK_V", 16)
    monkeypatch.setattr(L, "TORCH_CHUNK_ELEMENTS", 300)  # torch path: 3 rows per chunk
    logits, targets, g = make((2, 4), 100, scale=100.0, masked=(2,))
    logits[0, 0, 90] = 400.0  # the maximum in the last block
    want, want_grad = value_and_grad(selective_logprobs_naive, logits, g, targets)
    got, got_grad = value_and_grad(selective_logprobs, logits, g, targets, backend=backend)
    assert torch.isfinite(got).all()
    close(got, want)
    close(got_grad, want_grad)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_selective_low_precision(backend, dtype):
    logits, targets, g = make((3, 11), 300, dtype=dtype, masked=(4,))
    want, want_grad = value_and_grad(selective_logprobs_naive, logits, g, targets, 0.8)
    got, got_grad = value_and_grad(selective_logprobs, logits, g, targets, 0.8, backend=backend)
    assert got.dtype == torch.float32 and got_grad.dtype == dtype
    close(got, want)
    torch.testing.assert_close(got_grad.float(), want_grad.float(), rtol=ULP[dtype], atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_all_masked(backend):
    logits, targets, g = make((2, 3), 40, masked=range(6))
    got, got_grad = value_and_grad(selective_logprobs, logits, g, targets, backend=backend)
    assert torch.equal(got, torch.zeros(2, 3)) and torch.equal(got_grad, torch.zeros(2, 3, 40))


@pytest.mark.parametrize("backend", BACKENDS)
def test_strided_logits(backend):
    # logits[:, :-1] as GRPO slices them (no copy is made), and a transposed (N, V) view.
    logits, targets, g = make((3, 6), 70, masked=(1,))
    sliced, t, gs = logits[:, :-1], targets[:, 1:], g[:, 1:]
    close(value_and_grad(selective_logprobs, sliced, gs, t, backend=backend)[1],
          value_and_grad(selective_logprobs_naive, sliced, gs, t)[1])
    flat = logits.reshape(-1, 70).T.contiguous().T  # (18, 70) with stride (1, 18)
    close(selective_logprobs(flat, targets.reshape(-1), backend=backend),
          selective_logprobs_naive(flat, targets.reshape(-1)))


def test_more_than_65535_tokens_torch():
    logits, targets, g = make((70_000,), 12, masked=range(0, 70_000, 9))
    want, want_grad = value_and_grad(selective_logprobs_naive, logits, g, targets)
    got, got_grad = value_and_grad(selective_logprobs, logits, g, targets, backend="torch")
    close(got, want)
    close(got_grad, want_grad)


@needs_triton
def test_more_than_65535_tokens_launch_one_program_per_token_on_a_1d_grid(monkeypatch):
    # The interpreter runs about 3 ms per program here, so this records every launch instead
    # of running it: one axis, one program per token (the second axis would stop at 65,535).
    grids = []

    class Recorder:
        def __getitem__(self, grid):
            grids.append(grid)
            return lambda *args, **kwargs: None

    monkeypatch.setattr(L, "jit", lambda kernel, device: Recorder())
    monkeypatch.setattr(G, "jit", lambda kernel, device: Recorder())
    logits, targets, g = make((7, 10_000), 8)
    x = logits.requires_grad_()
    torch.autograd.grad(selective_logprobs(x, targets, backend="triton"), x, g)
    out = grpo_token_loss(x, targets, None, None, g, backend="triton")
    torch.autograd.grad(out[0], x, g)
    assert grids == [(70_000,)] * 4


@needs_triton
@pytest.mark.slow
def test_more_than_65535_tokens_triton_forward():
    # The real interpreted kernel past program id 65,535: all rows but four are masked so
    # that each program returns early (about 0.4 ms each; the test takes about 30 s).
    N, live = 65_600, [0, 65_535, 65_536, 65_599]
    logits, targets, _ = make((N,), 8, masked=range(N))
    targets[live] = torch.tensor([1, 7, 3, 0])
    got = selective_logprobs(logits, targets, backend="triton")
    close(got, selective_logprobs_naive(logits, targets))
    assert (got[live] < 0).all()


# ------------------------------------------------------------------------- fused linear log-probs

@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_logprobs_matches_naive(backend):
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(2, 9, 16, generator=g)
    weight = torch.randn(50, 16, generator=g) * 0.5
    targets = torch.randint(0, 50, (2, 9), generator=g)
    targets[0, 3] = IGNORE_INDEX
    up = torch.randn(2, 9, generator=g)

    def run(fn):
        h, w = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
        y = fn(h, w)
        return (y, *torch.autograd.grad(y, (h, w), up))

    want = run(lambda h, w: selective_logprobs_naive(h @ w.T, targets, 0.8))
    # 18 rows: 4+4+4+4+2
    got = run(lambda h, w: linear_logprobs(h, w, targets, 0.8, chunk_size=4, backend=backend))
    for a, b in zip(got, want):
        close(a, b)


def test_linear_logprobs_frozen_weight_and_saved_memory():
    hidden = torch.randn(12, 8, requires_grad=True)
    weight = torch.randn(30, 8)  # frozen: no gradient wanted
    targets = torch.randint(0, 30, (12,))
    y = linear_logprobs(hidden, weight, targets, chunk_size=5)
    (gh,) = torch.autograd.grad(y.sum(), hidden)
    close(gh, torch.autograd.grad(selective_logprobs_naive(hidden @ weight.T, targets).sum(),
                                  hidden)[0])
    new, shared = saved_bytes(lambda x, t: linear_logprobs(x, weight, t, chunk_size=5), hidden,
                              targets, others=(weight,))
    assert new <= 12 * 4  # lse only: the (12, 30) logits are never kept
    assert shared == (hidden.numel() + weight.numel()) * 4 + targets.numel() * 8


def test_linear_logprobs_under_autocast():
    # Backward recomputes each chunk's logits under the forward's autocast (bf16 matmuls), so
    # the softmax it rebuilds is the one whose logsumexp was saved.
    g = torch.Generator().manual_seed(3)
    hidden = torch.randn(3, 10, 32, generator=g, requires_grad=True)
    weight = (torch.randn(200, 32, generator=g) * 0.3).requires_grad_()
    targets, up = torch.randint(0, 200, (3, 10), generator=g), torch.randn(3, 10, generator=g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = linear_logprobs(hidden, weight, targets, chunk_size=7)
        want = selective_logprobs_naive(hidden @ weight.T, targets)
    close(got, want)
    (gh, gw), (wh, ww) = (torch.autograd.grad(got, (hidden, weight), up),
                          torch.autograd.grad(want, (hidden, weight), up))
    close(gh, wh)
    # naive rounds the whole (V, C) weight gradient to bf16 once; we sum chunks in fp32:
    # one bf16 ulp apart
    torch.testing.assert_close(gw, ww, rtol=ULP[torch.bfloat16],
                               atol=ULP[torch.bfloat16] * ww.abs().max().item())


# ----------------------------------------------------------------------- memory kept for backward

@pytest.mark.parametrize("backend", BACKENDS)
def test_saved_for_backward_is_per_token(backend):
    logits, targets, _ = make((4, 8), 500)
    N = 32
    new, shared = saved_bytes(lambda x, t: selective_logprobs(x, t, backend=backend), logits,
                              targets)
    assert new <= N * 4  # one fp32 logsumexp per token
    # references to the inputs, not copies
    assert shared == logits.numel() * 4 + targets.numel() * 8
    naive_new, _ = saved_bytes(selective_logprobs_naive, logits, targets)
    assert naive_new >= N * 500 * 4  # the check above can fail: naive keeps (N, V) fp32


# ---------------------------------------------------------------------------- the GRPO loss

def grpo_naive(logits, targets, old, ref, adv, mask, eps_low, eps_high, beta, temperature):
    """The GRPO loss of docs/design.md written out with the naive log-softmax, for autograd to
    differentiate."""
    keep = mask & (targets != IGNORE_INDEX)
    logp = selective_logprobs_naive(logits, torch.where(keep, targets, IGNORE_INDEX), temperature)
    old = logp.detach() if old is None else old
    ratio = torch.exp(logp - old)
    loss = -torch.minimum(ratio * adv, torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * adv)
    kl = torch.zeros_like(logp)
    if ref is not None:
        kl = torch.exp(ref - logp) - (ref - logp) - 1
    loss = loss + beta * kl
    clipped = ((ratio > 1 + eps_high) & (adv > 0)) | ((ratio < 1 - eps_low) & (adv < 0))
    return loss * keep, logp, kl * keep, clipped & keep


@pytest.mark.parametrize("backend", BACKENDS)
def test_grpo_by_hand(backend):
    # Six tokens, V = 3, all logits 0: logp = -ln 3 everywhere and softmax = 1/3. old_logp sets
    # each ratio, ref_logp each d = ref - logp. eps_low 0.2, eps_high 0.3, beta 0.1.
    r = [1.5, 0.5, 1.5, 0.5, 1.1, 1.5]
    A = [1.0, -1.0, -2.0, 2.0, 0.5, 1.0]
    d = [0.5, -0.5, 0.0, 0.5, -0.5, 0.0]
    lp = -math.log(3)
    old = torch.tensor([lp - math.log(x) for x in r])
    ref = torch.tensor([lp + x for x in d])
    mask = torch.tensor([True] * 5 + [False])
    pg = [-1.3,   # r above 1 + 0.3 with A > 0: min(1.5, 1.3) -> the clip binds
          0.8,    # r below 1 - 0.2 with A < 0: min(-0.5, -0.8) -> the clip binds
          3.0,    # r = 1.5, A = -2: min(-3, -2.6) = -3, unclipped
          -1.0,   # r = 0.5, A = 2: min(1, 1.6) = 1, unclipped
          -0.55]  # inside the clip range
    k3 = [math.exp(x) - x - 1 for x in d]  # 0.148721, 0.106531, 0, 0.148721, 0.106531
    dpg = [0.0, 0.0, 3.0, -1.0, -0.55]  # d pg / d logp: -r A unless the clip binds
    dlogp = [dpg[i] + 0.1 * (1 - math.exp(d[i])) for i in range(5)] + [0.0]
    logits = torch.zeros(6, 3, requires_grad=True)
    targets = torch.zeros(6, dtype=torch.long)
    loss, logp, kl, clipped = grpo_token_loss(logits, targets, old, ref, torch.tensor(A), mask,
                                              eps_low=0.2, eps_high=0.3, beta=0.1,
                                              backend=backend)
    close(loss, torch.tensor([pg[i] + 0.1 * k3[i] for i in range(5)] + [0.0]))
    close(logp, torch.tensor([lp] * 5 + [0.0]))
    close(kl, torch.tensor(k3[:5] + [0.0]))
    assert clipped.tolist() == [True, True, False, False, False, False]
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    onehot_minus_softmax = torch.tensor([2 / 3, -1 / 3, -1 / 3])
    close(grad, torch.tensor(dlogp)[:, None] * onehot_minus_softmax)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("has_old, has_ref, beta",
                         [(True, True, 0.04), (False, True, 0.1), (True, False, 0.0)])
def test_grpo_matches_naive_autograd(backend, has_old, has_ref, beta):
    logits, targets, _ = make((3, 7), 41, masked=(2,))
    gen = torch.Generator().manual_seed(5)
    base = selective_logprobs_naive(logits, targets).detach()
    # ratios well past the clip
    old = base + 0.4 * torch.randn(3, 7, generator=gen) if has_old else None
    ref = base + 0.3 * torch.randn(3, 7, generator=gen) if has_ref else None
    adv = torch.randn(3, 7, generator=gen)
    mask = torch.rand(3, 7, generator=gen) > 0.2
    ups = [torch.randn(3, 7, generator=gen) for _ in range(3)]  # upstream grads of loss, logp, kl
    args = (old, ref, adv, mask)
    kw = dict(eps_low=0.2, eps_high=0.28, beta=beta, temperature=0.9)

    def run(fn):
        x = logits.clone().requires_grad_()
        outs = fn(x)
        total = sum((o * u).sum() for o, u in zip(outs[:3], ups))
        return (*outs, torch.autograd.grad(total, x)[0])

    want = run(lambda x: grpo_naive(x, targets, *args, kw["eps_low"], kw["eps_high"], beta, 0.9))
    got = run(lambda x: grpo_token_loss(x, targets, *args, backend=backend, **kw))
    for a, b in zip(got, want):
        close(a, b) if a.is_floating_point() else torch.testing.assert_close(a, b)
    if has_old:  # the clip binds on some tokens, not all (without old_logp the ratio is 1)
        assert want[3].any() and not want[3].all()
    ref_out = grpo_loss_torch(logits, targets, *args, **kw)
    for a, b in zip(ref_out, want[:4]):
        close(a, b) if a.is_floating_point() else torch.testing.assert_close(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_grpo_bf16_logits(backend):
    logits, targets, _ = make((2, 5), 64, dtype=torch.bfloat16)
    gen = torch.Generator().manual_seed(2)
    old = selective_logprobs_naive(logits, targets) + 0.3 * torch.randn(2, 5, generator=gen)
    ref, adv = old + 0.1, torch.randn(2, 5, generator=gen)
    mask = torch.ones(2, 5, dtype=torch.bool)
    x1, x2 = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    got = grpo_token_loss(x1, targets, old, ref, adv, mask, beta=0.05, backend=backend)
    want = grpo_naive(x2, targets, old, ref, adv, mask, 0.2, 0.2, 0.05, 1.0)
    close(got[0], want[0])
    (g1,), (g2,) = torch.autograd.grad(got[0].sum(), x1), torch.autograd.grad(want[0].sum(), x2)
    assert g1.dtype == torch.bfloat16
    torch.testing.assert_close(g1.float(), g2.float(), rtol=ULP[torch.bfloat16], atol=1e-6)
