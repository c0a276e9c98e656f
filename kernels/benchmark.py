"""Memory and time of the log-prob kernels against the naive log-softmax (docs/design.md, Performance).

    python -m kernels.benchmark                    # CPU, B=8 T=512 V=32768, fp32 then bf16
    python -m kernels.benchmark --B=2 --T=64 --V=4096 --dtypes=float32 --threads=1
    python -m kernels.benchmark --gpu              # on CUDA: bandwidth against the HBM bound

Naive is `log_softmax(logits.float(), -1).gather(...)`; ours is `selective_logprobs` (the
chunked torch path on CPU, the Triton kernels on CUDA). `bench_logprobs` and
`bench_logprobs_gpu` return dicts for bench.py; running the module prints tables (how memory is
measured: docs/benchmarks.md)."""
import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from .grpo_loss import grpo_token_loss
from .logprobs import resolve_backend, selective_logprobs, selective_logprobs_naive

HBM_BYTES_PER_S = 4.8e12  # H200 HBM3e bandwidth, the bound for a memory-bound kernel
VARIANTS = ("naive", "ours")
PASSES = ("fwd", "fwdbwd")  # forward only (no_grad, as for old/ref log-probs), forward + backward


def _dtype(name):
    dtype = name if isinstance(name, torch.dtype) else getattr(torch, str(name), None)
    if dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"dtype must be float32, bfloat16 or float16, got {name!r}")
    return dtype


def _inputs(B, T, V, dtype, device):
    gen = torch.Generator(device=device).manual_seed(0)
    logits = torch.randn(B, T, V, generator=gen, device=device).to(dtype)  # (B, T, V)
    targets = torch.randint(0, V, (B, T), generator=gen, device=device)  # (B, T)
    grad = torch.randn(B, T, generator=gen, device=device)  # (B, T) upstream dL/dlogp
    return logits, targets, grad


def _variant(name, backend):
    if name == "naive":
        return selective_logprobs_naive
    return lambda logits, targets: selective_logprobs(logits, targets, backend=backend)


def _run(fn, logits, targets, grad, mode):
    """One call: forward under no_grad, or forward then backward to the logits."""
    if mode == "fwd":
        with torch.no_grad():
            return fn(logits, targets)
    x = logits.detach().requires_grad_()
    (g,) = torch.autograd.grad(fn(x, targets), x, grad)
    return g


def saved_bytes(fn, logits, targets, others=()):
    """(new, shared): bytes of tensors autograd keeps for backward after fn(logits, targets),
    split into new storage and storage shared with the inputs or with `others` (tensors fn
    closes over, such as a weight), each storage counted once."""
    inputs = {t.untyped_storage().data_ptr() for t in (logits, targets, *others)}
    seen = {}
    def pack(t):
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t
    x = logits.detach().requires_grad_()
    inputs.add(x.untyped_storage().data_ptr())
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x, targets)
    new = sum(n for ptr, n in seen.items() if ptr not in inputs)
    return new, sum(seen.values()) - new


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(calls, device, repeats):
    """Median seconds per call for each named call, interleaved so drifting load hits all alike."""
    times = {name: [] for name in calls}
    for name, call in calls.items():  # warm-up: first-call costs (kernel compiles, page faults)
        call()
    for _ in range(repeats):
        for name, call in calls.items():
            _sync(device)
            t0 = time.perf_counter()
            call()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def _status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{key} missing from /proc/self/status")


def _peak_cpu_child(variant, mode, B, T, V, dtype, backend):
    """In a fresh process: bytes of resident memory the call needed above its inputs."""
    logits, targets, grad = _inputs(B, T, V, dtype, "cpu")
    fn = _variant(variant, backend)
    _run(fn, logits[:1, :2].clone(), targets[:1, :2], grad[:1, :2], mode)  # one-time setup costs
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident size
    before = _status_kib("VmRSS")
    out = _run(fn, logits, targets, grad, mode)
    peak = _status_kib("VmHWM")
    del out
    return (peak - before) * 1024


def _peak_cpu(variant, mode, B, T, V, dtype, backend):
    if not os.path.exists("/proc/self/clear_refs"):
        return None  # not Linux: no reliable per-call peak for CPU memory
    cmd = [sys.executable, "-m", "kernels.benchmark", f"--child={variant}:{mode}:{backend}",
           f"--B={B}", f"--T={T}", f"--V={V}", f"--dtypes={str(dtype).removeprefix('torch.')}",
           "--threads=1"]
    proc = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe {variant}:{mode} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_bytes"]


def _peak_cuda(fn, logits, targets, grad, mode):
    gc.collect()
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    out = _run(fn, logits, targets, grad, mode)
    torch.cuda.synchronize()
    del out
    return torch.cuda.max_memory_allocated() - before


def bench_logprobs(B=8, T=512, V=32768, device="cpu", dtype=torch.float32, repeats=3, threads=None):
    """Peak memory, time and bytes saved for backward: ours against naive, both passes.
    threads, if given, sets torch's CPU threads for this process (torch.set_num_threads)."""
    device, dtype = torch.device(device), _dtype(dtype)
    if threads:
        torch.set_num_threads(threads)
    backend = resolve_backend("auto", device)
    logits, targets, grad = _inputs(B, T, V, dtype, device)
    fns = {name: _variant(name, backend) for name in VARIANTS}
    calls = {(name, mode): (lambda f=fn, m=mode: _run(f, logits, targets, grad, m))
             for name, fn in fns.items() for mode in PASSES}
    seconds = _time(calls, device, repeats)
    result = {"B": B, "T": T, "V": V, "device": str(device),
              "dtype": str(dtype).removeprefix("torch."), "backend": backend,
              "threads": torch.get_num_threads(),
              "grad_bytes": logits.numel() * logits.element_size()}
    for name, fn in fns.items():
        row = {}
        for mode in PASSES:
            row[f"{mode}_s"] = seconds[(name, mode)]
            row[f"{mode}_peak_bytes"] = (
                _peak_cuda(fn, logits, targets, grad, mode) if device.type == "cuda"
                else _peak_cpu(name, mode, B, T, V, dtype, backend))
        row["saved_new_bytes"], row["saved_shared_bytes"] = saved_bytes(fn, logits, targets)
        result[name] = row
    ours, naive = result["ours"], result["naive"]
    if ours["fwd_peak_bytes"] is not None:
        # naive's peak can read 0 at toy sizes
        result["fwd_peak_ratio"] = ours["fwd_peak_bytes"] / max(1, naive["fwd_peak_bytes"])
        result["fwdbwd_peak_over_grad"] = ours["fwdbwd_peak_bytes"] / result["grad_bytes"]
    result["fwd_time_ratio"] = ours["fwd_s"] / naive["fwd_s"]
    result["fwdbwd_time_ratio"] = ours["fwdbwd_s"] / naive["fwdbwd_s"]
    return result


def bench_logprobs_gpu(N=8192, V=151936, dtype=torch.bfloat16, device="cuda", repeats=20,
                       hbm_bytes_per_s=HBM_BYTES_PER_S):
    """Time and achieved bandwidth of the Triton kernels against the naive torch path and the HBM
    bound; and the fused GRPO loss, forward + backward, against Triton log-probs + torch loss."""
    device, dtype = torch.device(device), _dtype(dtype)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("bench_logprobs_gpu needs CUDA; none is available here")
    logits, targets, grad = _inputs(1, N, V, dtype, device)
    logits, targets, grad = logits[0], targets[0], grad[0]  # (N, V), (N,), (N,)
    ours = _variant("ours", "triton")
    old, ref, adv = (torch.randn(N, device=device) for _ in range(3))  # per-token constants
    def grpo_fused():
        x = logits.detach().requires_grad_()
        loss = grpo_token_loss(x, targets, old, ref, adv, eps_high=0.28, beta=0.04,
                               backend="triton")[0]
        torch.autograd.grad(loss, x, grad)
    def grpo_unfused():  # section 6's formula in torch on top of the log-prob kernel
        x = logits.detach().requires_grad_()
        logp = selective_logprobs(x, targets, backend="triton")
        ratio = torch.exp(logp - old)
        d = ref - logp
        loss = (-torch.minimum(ratio * adv, ratio.clamp(0.8, 1.28) * adv)
                + 0.04 * (torch.exp(d) - d - 1))
        torch.autograd.grad(loss, x, grad)
    calls = {("ours", "fwd"): lambda: _run(ours, logits, targets, grad, "fwd"),
             ("ours", "fwdbwd"): lambda: _run(ours, logits, targets, grad, "fwdbwd"),
             ("naive", "fwd"): lambda: _run(selective_logprobs_naive, logits, targets, grad, "fwd"),
             ("naive", "fwdbwd"):
                 lambda: _run(selective_logprobs_naive, logits, targets, grad, "fwdbwd"),
             ("grpo_fused", "fwdbwd"): grpo_fused,
             ("grpo_unfused", "fwdbwd"): grpo_unfused}
    seconds = _time(calls, device, repeats)
    logits_bytes = logits.numel() * logits.element_size()
    # A memory-bound pass must at least read the logits (forward) and, for backward, read
    # them again and write the gradient: 1x and 3x the logits' bytes.
    moved = {"fwd": logits_bytes, "fwdbwd": 3 * logits_bytes}
    result = {"N": N, "V": V, "dtype": str(dtype).removeprefix("torch."), "device": str(device),
              "hbm_bytes_per_s": hbm_bytes_per_s}
    for (name, mode), s in seconds.items():
        row = result.setdefault(name, {})
        row[f"{mode}_s"] = s
        if name == "ours":
            row[f"{mode}_bytes_per_s"] = moved[mode] / s
            row[f"{mode}_hbm_fraction"] = moved[mode] / s / hbm_bytes_per_s
        if device.type == "cuda" and name in VARIANTS:
            fn = ours if name == "ours" else selective_logprobs_naive
            row[f"{mode}_peak_bytes"] = _peak_cuda(fn, logits, targets, grad, mode)
    result["fwd_speedup"] = seconds[("naive", "fwd")] / seconds[("ours", "fwd")]
    result["fwdbwd_speedup"] = seconds[("naive", "fwdbwd")] / seconds[("ours", "fwdbwd")]
    result["grpo_speedup"] = seconds[("grpo_unfused", "fwdbwd")] / seconds[("grpo_fused", "fwdbwd")]
    return result


def _mib(n):
    return "-" if n is None else f"{n / 2**20:9.1f}"


def print_table(r):
    print(f"\nlog-probs B={r['B']} T={r['T']} V={r['V']} {r['dtype']} on {r['device']} "
          f"(ours = {r['backend']} backend, {r['threads']} threads); "
          f"logits' gradient {_mib(r['grad_bytes']).strip()} MiB")
    print(f"{'':6} | {'fwd s':>7} | {'fwd MiB':>9} | {'fwd+bwd s':>9} | {'fwd+bwd MiB':>11} | "
          f"{'saved new KiB':>13} | {'saved shared MiB':>16}")
    for name in VARIANTS:
        row = r[name]
        print(f"{name:6} | {row['fwd_s']:7.3f} | {_mib(row['fwd_peak_bytes'])} | "
              f"{row['fwdbwd_s']:9.3f} | {_mib(row['fwdbwd_peak_bytes']):>11} | "
              f"{row['saved_new_bytes'] / 1024:13.1f} | {_mib(row['saved_shared_bytes']):>16}")
    if "fwd_peak_ratio" in r:
        print(f"fwd peak ours/naive {r['fwd_peak_ratio']:.4f} (target <= 0.1); "
              f"fwd+bwd peak / gradient {r['fwdbwd_peak_over_grad']:.3f} (target <= 1.1)")
    print(f"time ours/naive: fwd {r['fwd_time_ratio']:.2f}, "
          f"fwd+bwd {r['fwdbwd_time_ratio']:.2f} (target <= 1.3)")


def print_gpu_table(r):
    print(f"\nGPU log-probs N={r['N']} V={r['V']} {r['dtype']}: "
          f"HBM bound {r['hbm_bytes_per_s'] / 1e12:.1f} TB/s")
    for mode in PASSES:
        o, n = r["ours"], r["naive"]
        peaks = (f" | peak MiB ours {_mib(o[f'{mode}_peak_bytes']).strip()}, "
                 f"naive {_mib(n[f'{mode}_peak_bytes']).strip()}"
                 if f"{mode}_peak_bytes" in o else "")
        print(f"{mode:6} | ours {o[f'{mode}_s'] * 1e3:8.3f} ms, "
              f"{o[f'{mode}_bytes_per_s'] / 1e12:5.2f} TB/s "
              f"({o[f'{mode}_hbm_fraction']:.0%} of HBM) | "
              f"naive {n[f'{mode}_s'] * 1e3:8.3f} ms{peaks}")
    print(f"GRPO loss fwd+bwd: fused {r['grpo_fused']['fwdbwd_s'] * 1e3:.3f} ms, unfused "
          f"{r['grpo_unfused']['fwdbwd_s'] * 1e3:.3f} ms (x{r['grpo_speedup']:.2f})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--B", type=int, default=8, help="sequences")
    parser.add_argument("--T", type=int, default=512, help="tokens per sequence")
    parser.add_argument("--V", type=int, default=32768, help="vocabulary size")
    parser.add_argument("--dtypes", default="float32,bfloat16",
                        help="logits' dtypes, comma-separated")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed calls per variant (median kept)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default)")
    parser.add_argument("--gpu", action="store_true",
                        help="also run bench_logprobs_gpu (needs CUDA)")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)  # memory probe (_peak_cpu)
    args = parser.parse_args(argv)
    for key in ("B", "T", "V", "repeats"):
        if getattr(args, key) < 1:
            parser.error(f"--{key} must be >= 1")
    try:
        dtypes = [_dtype(d) for d in args.dtypes.split(",")]
    except ValueError as e:
        parser.error(f"--dtypes: {e}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        variant, mode, backend = args.child.split(":")
        print(json.dumps({"peak_bytes": _peak_cpu_child(variant, mode, args.B, args.T, args.V,
                                                        dtypes[0], backend)}))
        return
    for dtype in dtypes:
        print_table(bench_logprobs(args.B, args.T, args.V, args.device, dtype, args.repeats))
    if args.gpu:
        print_gpu_table(bench_logprobs_gpu())


if __name__ == "__main__":
    main()
