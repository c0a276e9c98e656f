"""Tests for kernels/ around the kernels: backend dispatch, errors that name the bad input, the
benchmark's machinery, and the compiled-kernel check (on CPU through Triton's interpreter; on a
GPU compiled). The kernels' values and gradients: tests/test_kernels.py.

Run: .venv/bin/pytest tests/test_kernels_dispatch.py
"""
import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is first imported

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

import kernels.logprobs as L  # noqa: E402
from kernels import grpo_token_loss, linear_logprobs, selective_logprobs  # noqa: E402
from kernels.benchmark import _peak_cpu, bench_logprobs_gpu  # noqa: E402

needs_triton = pytest.mark.skipif(not L.HAVE_TRITON, reason="triton is not installed")


# ---------------------------------------------------------------------------- dispatch and errors

def test_dispatch(monkeypatch):
    cpu = torch.device("cpu")
    assert L.resolve_backend("auto", cpu) == "torch"
    assert L.resolve_backend("torch", cpu) == "torch"
    monkeypatch.setattr(L, "BACKEND", "torch")
    assert L.resolve_backend("auto", torch.device("cuda")) == "torch"  # the flag beats the device
    monkeypatch.setattr(L, "BACKEND", "fast")
    with pytest.raises(ValueError, match="NANO_R1_KERNELS"):
        L.resolve_backend("auto", cpu)
    with pytest.raises(ValueError, match="backend must be"):
        L.resolve_backend("cuda", cpu)


@needs_triton
def test_triton_on_cpu_needs_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        L.jit(L._logprobs_fwd_kernel, torch.device("cpu"))
    with pytest.raises(RuntimeError, match="backend='torch'"):
        L.jit(L._logprobs_fwd_kernel, torch.device("meta"))


@pytest.mark.parametrize("call, match", [
    (lambda: selective_logprobs(torch.randn(2, 5), torch.zeros(3, dtype=torch.long)),
     "targets shape"),
    (lambda: selective_logprobs(torch.randn(2, 5), torch.tensor([0, 5])), r"\[0, 5\)"),
    (lambda: selective_logprobs(torch.randn(2, 5), torch.tensor([0, -1])), "IGNORE_INDEX"),
    (lambda: selective_logprobs(torch.randn(2, 5), torch.zeros(2)), "integer"),
    (lambda: selective_logprobs(torch.randn(5), torch.tensor(0)), "logits must be"),
    (lambda: selective_logprobs(torch.randn(2, 5), torch.zeros(2, dtype=torch.long), 0.0),
     "temperature"),
    (lambda: linear_logprobs(torch.randn(2, 4), torch.randn(5, 3),
                             torch.zeros(2, dtype=torch.long)), "weight"),
    (lambda: grpo_token_loss(torch.randn(2, 5), torch.zeros(2, dtype=torch.long), None, None,
                             torch.zeros(2), beta=0.1), "ref_logp"),
    (lambda: grpo_token_loss(torch.randn(2, 5), torch.zeros(2, dtype=torch.long), None, None,
                             torch.zeros(3)), "advantages"),
    (lambda: grpo_token_loss(torch.randn(2, 5), torch.zeros(2, dtype=torch.long), None, None,
                             torch.zeros(2), eps_low=1.0), "eps_low"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------- the benchmark's machinery

@needs_triton
def test_gpu_benchmark_runs_on_the_interpreter():
    r = bench_logprobs_gpu(N=3, V=64, dtype=torch.float32, device="cpu", repeats=1)
    assert r["ours"]["fwdbwd_bytes_per_s"] > 0 and 0 < r["ours"]["fwd_hbm_fraction"]
    assert r["grpo_fused"]["fwdbwd_s"] > 0 and r["naive"]["fwd_s"] > 0


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
def test_cpu_peak_memory_probe():
    # 512 x 32768 fp32 logits (64 MiB): naive's forward makes a log-softmax that size; ours a
    # few chunks of 1 MiB. Each probe runs in a fresh process.
    naive = _peak_cpu("naive", "fwd", 1, 512, 32768, torch.float32, "torch")
    ours = _peak_cpu("ours", "fwd", 1, 512, 32768, torch.float32, "torch")
    assert naive >= 60 * 2 ** 20
    assert ours <= naive / 10


# ---------------------------------------------------------------------- compiled kernels on a GPU

# Run in a fresh process without TRITON_INTERPRET, so that Triton compiles for the GPU. The
# same script runs on CPU through the interpreter (tiny sizes) to keep it honest here.
GPU_CHECK = r"""
import sys, torch
from kernels import grpo_loss_torch, grpo_token_loss, selective_logprobs, selective_logprobs_naive
device, N, big_v = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ulp = {torch.float32: 1e-5, torch.bfloat16: 2 ** -7}
for dtype in (torch.float32, torch.bfloat16):
    # many tokens; a large multi-block vocabulary
    for n, V in ((N, 1000), (max(1, N // 256), big_v)):
        g = torch.Generator().manual_seed(0)
        logits = (torch.randn(2, n, V, generator=g) * 3).to(device, dtype)  # (2, n, V)
        targets = torch.randint(0, V, (2, n), generator=g).to(device)
        targets[:, ::7] = -100
        up = torch.randn(2, n, generator=g).to(device)
        x1, x2 = logits.clone().requires_grad_(), logits.clone().requires_grad_()
        a, b = (selective_logprobs(x1, targets, 0.9, backend="triton"),
                selective_logprobs_naive(x2, targets, 0.9))
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        (ga,), (gb,) = torch.autograd.grad(a, x1, up), torch.autograd.grad(b, x2, up)
        torch.testing.assert_close(ga.float(), gb.float(), rtol=ulp[dtype], atol=1e-6)
        old, ref, adv = b.detach() + 0.3 * up, b.detach() - 0.2 * up, up.flip(-1)
        kw = dict(eps_low=0.2, eps_high=0.28, beta=0.04, temperature=0.9)
        fused = grpo_token_loss(x1, targets, old, ref, adv, backend="triton", **kw)
        plain = grpo_loss_torch(x2, targets, old, ref, adv, **kw)
        for p, q in zip(fused, plain):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-5)
        (ga,), (gb,) = (torch.autograd.grad(fused[0].sum(), x1),
                        torch.autograd.grad(plain[0].sum(), x2))
        torch.testing.assert_close(ga.float(), gb.float(), rtol=ulp[dtype], atol=1e-6)
print("ok")
"""


def run_check(env, *args):
    proc = subprocess.run([sys.executable, "-c", GPU_CHECK, *map(str, args)],
                          cwd=Path(__file__).resolve().parents[1],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", (
        proc.stdout + proc.stderr[-3000:])


@needs_triton
@pytest.mark.slow
def test_gpu_check_script_on_the_interpreter():
    run_check(dict(os.environ, TRITON_INTERPRET="1"), "cpu", 40, 5000)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_compiled_kernels_on_cuda():
    # 140,000 tokens (2 x 70,000: past the 65,535 limit of a second grid axis) with V = 1000,
    # and 546 tokens with V = 151,936 (38 blocks), fp32 and bf16.
    run_check({k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}, "cuda", 70_000,
              151_936)
