"""Micro-benchmarks, each a subcommand; results print as a table and go
to out/bench/<name>.json. Ratios within one run are the numbers to trust: machines are noisy.

    python bench.py sampler          # KV cache vs none, per-step decode time, batch scaling
    python bench.py dtype            # bf16 autocast vs fp32: a training step and the sampler
    python bench.py logprobs         # our log-prob kernels vs the naive path: time, peak memory
    python bench.py grpo             # a GRPO step's time: generation, log-probs, loss, optimizer
    python bench.py step             # a whole GRPO step, ragged lengths, vs an earlier commit
    python bench.py curve            # a tiny GRPO run, torch path vs Triton kernels: same curve?
    python bench.py report           # out/zero's report.html: size, write time, time to open
    python bench.py sampler --tiny   # a few-second smoke run (used by the tests)

Adding a benchmark: write `def bench_x(cfg) -> dict` and add it to BENCHES at the bottom."""
import inspect
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import torch

import corpus
import data
import grpo
import logits
import report
import tasks
from config import (Config, InputError, autocast_ctx, configure, get_device, input_errors,
                    resolve_dtype)
from kernels import benchmark as kb
from model import KVCache, ModelConfig, Transformer
from sample import generate, sample
from tokenizer import train_tokenizer

tiny = False          # tiny sizes: a smoke test whose numbers mean nothing
device = 'auto'       # 'auto' = cuda, then mps, then cpu
out_dir = 'out/bench' # where <name>.json is written
seed = 0              # seed for the random-init model and the prompts
steps = 36            # curve: GRPO steps per run (on CPU the kernels run in Triton's interpreter)
baseline = '70a1014'  # step: the commit compared with (before finished rows left the batch)
run = 'out/zero'      # report: the run folder whose page is written, opened and photographed
threads = 0           # torch CPU threads; 0 = torch's default (1 avoids thrashing a shared machine)


def _model(tiny, seed, n_layer=8, n_embd=256, vocab=2048, device='cpu'):
    """A random-init model: the sampler's cost does not depend on what the weights learned."""
    torch.manual_seed(seed)
    if tiny:
        cfg = ModelConfig(vocab_size=64, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, block_size=64)
    else:
        cfg = ModelConfig(vocab_size=vocab, n_layer=n_layer, n_head=8, n_kv_head=4, n_embd=n_embd,
                          block_size=512)
    return Transformer(cfg).to(device).eval()


def _sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def _timed(fn, device):
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - t0


def _prompts(B, T, vocab, g):
    return torch.randint(0, vocab, (B, T), generator=g).tolist()


def _table(rows):
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f'{name:<{width}} | {value:>12} | {target}')


def bench_sampler(cfg):
    """Tokens/s with and without the KV cache, decode step time vs position, batch scaling."""
    dev, tiny = cfg.device, cfg.tiny
    model = _model(tiny, cfg.seed, device=dev)
    V = model.config.vocab_size
    B, T0, new = (8, 8, 16) if tiny else (8, 64, 256)
    g = torch.Generator().manual_seed(cfg.seed)
    prompts = _prompts(B, T0, V, g)
    generate(model, prompts, 4, temperature=0)  # warm-up (allocator, kernels)
    # greedy, so the two timed runs also tell whether the cache changes the output
    cached, t_cache = _timed(lambda: generate(model, prompts, new, temperature=0), dev)
    plain, t_plain = _timed(
        lambda: generate(model, prompts, new, temperature=0, use_cache=False), dev)
    # time single decode steps (cache) and single full forwards (no cache) at two positions
    p_lo, p_hi = T0, T0 + new  # 64 and 320
    step_ms = {}
    with torch.inference_mode():
        for _ in range(2):  # two passes, the faster per position: a busy machine only adds time
            cache = KVCache.for_model(model, B, p_hi + 16)
            model(torch.tensor(prompts, device=dev), kv_cache=cache)
            tok, live = (torch.zeros(B, dtype=torch.long, device=dev),
                         torch.ones(B, dtype=torch.bool, device=dev))
            while cache.pos < p_hi + 16:  # the sampler's own step, eager
                pos = cache.pos
                _, dt = _timed(lambda: model.decode_step(tok, cache, live), dev)
                step_ms[pos] = min(step_ms.get(pos, float('inf')), dt * 1e3)
        full_ms = {}
        for n in (p_lo, p_hi):
            x = torch.randint(0, V, (B, n), generator=g).to(dev)
            full_ms[n] = statistics.median(_timed(lambda: model(x), dev)[1] for _ in range(3)) * 1e3
    at_lo = statistics.median(step_ms[p] for p in range(p_lo, p_lo + 16))
    at_hi = statistics.median(step_ms[p] for p in range(p_hi, p_hi + 16))
    # the floor under a decode step: its matrix products alone (every nn.Linear once, batch B),
    # and one read of the same weights; their ratio is the matmul library's speed at this shape
    linears = [mod.weight for mod in model.modules() if isinstance(mod, torch.nn.Linear)]
    xs = {n: torch.randn(B, n, device=dev) for n in {w.shape[1] for w in linears}}
    with torch.inference_mode():
        mm_ms = min(_timed(lambda: [torch.nn.functional.linear(xs[w.shape[1]], w) for w in linears],
                           dev)[1] for _ in range(20)) * 1e3
        read_ms = min(_timed(lambda: [w.sum() for w in linears], dev)[1] for _ in range(20)) * 1e3
    batch_tok_s = {}
    for b in (1, 4, 16, 64):
        ps = _prompts(b, T0, V, g)
        _, dt = _timed(lambda: sample(model, ps, new, seed=0), dev)
        batch_tok_s[str(b)] = b * new / dt
    versus = _versus_hf(model, prompts, new, g, tiny)
    res = {'model': dict(vars(model.config), params=model.num_params()),
           'device': dev, 'batch': B, 'prompt_len': T0, 'new_tokens': new,
           'threads': torch.get_num_threads(), 'cache_tok_s': B * new / t_cache,
           'no_cache_tok_s': B * new / t_plain, 'cache_speedup': t_plain / t_cache,
           'step_ms': {str(p_lo): at_lo, str(p_hi): at_hi}, 'step_ratio': at_hi / at_lo,
           'matmul_only_ms': mm_ms, 'weight_read_ms': read_ms,
           'full_forward_ms': {str(k): v for k, v in full_ms.items()},
           'batch_tok_s': batch_tok_s, 'batch16_over_1': batch_tok_s['16'] / batch_tok_s['1'],
           'greedy_identical': cached == plain, **versus}
    print(f"model: {res['model']['params'] / 1e6:.2f}M params, {model.config.n_layer} layers, "
          f"d {model.config.n_embd}, vocab {V}; batch {B}, prompt {T0}, {new} new tokens, "
          f"device {dev}")
    _table([
        ('tokens/s with KV cache', f"{res['cache_tok_s']:.0f}", ''),
        ('tokens/s without cache', f"{res['no_cache_tok_s']:.0f}", ''),
        ('cache speedup', f"{res['cache_speedup']:.1f}x", 'target >= 8x'),
        (f'decode step ms at pos {p_lo}', f'{at_lo:.2f}', ''),
        (f'decode step ms at pos {p_hi}', f'{at_hi:.2f}', ''),
        (f'step time {p_hi} / {p_lo}', f"{res['step_ratio']:.2f}", 'target <= 1.5'),
        (f'a step\'s matrix products alone, batch {B} / one read of the weights',
         f'{mm_ms:.2f} / {read_ms:.2f} ms', '(the floor under a decode step)'),
        (f'no-cache forward ms at len {p_lo} / {p_hi}',
         f'{full_ms[p_lo]:.1f} / {full_ms[p_hi]:.1f}', 'grows with length'),
        *[(f'tokens/s at B={b}', f'{v:.0f}', '') for b, v in batch_tok_s.items()],
        ('B=16 / B=1 throughput', f"{res['batch16_over_1']:.1f}x", 'target >= 4x'),
        ('greedy identical with/without cache', str(res['greedy_identical']), 'must be True'),
        ('ragged batch: tokens/s, finished rows dropped / kept',
         f"{versus['ragged_ours_tok_s']:.0f} / {versus['ragged_kept_tok_s']:.0f}",
         f"{versus['compact_speedup']:.2f}x"),
        ('compiled decode step: first call (compiles) s', f"{versus['compile_s']:.1f}", ''),
        ('ragged batch: tokens/s compiled / eager',
         f"{versus['ragged_compiled_tok_s']:.0f} / {versus['ragged_ours_tok_s']:.0f}",
         f"{versus['ragged_compiled_tok_s'] / versus['ragged_ours_tok_s']:.2f}x"),
    ])
    if 'hf' in versus:
        hf = versus['hf']
        print(f"against transformers {hf['version']} generate, same dimensions and weights:")
        _table([
            (f'batch {B}, greedy: tokens/s ours / generate',
             f"{hf['ours_tok_s']:.0f} / {hf['hf_tok_s']:.0f}", f"{hf['speedup']:.2f}x"),
            (f'batch {B}, greedy: tokens/s compiled / generate',
             f"{hf['compiled_tok_s']:.0f} / {hf['hf_tok_s']:.0f}",
             f"{hf['compiled_speedup']:.2f}x (target >= 2x)"),
            ('same greedy tokens: ours, compiled, generate', str(hf['greedy_identical']),
             'must be True'),
            (f"ragged batch {versus['ragged_batch']}: tokens/s ours / compiled / generate",
             f"{versus['ragged_ours_tok_s']:.0f} / {versus['ragged_compiled_tok_s']:.0f} / "
             f"{hf['ragged_hf_tok_s']:.0f}",
             f"{hf['ragged_ours_speedup']:.2f}x / {hf['ragged_compiled_speedup']:.2f}x"),
        ])
    else:
        print('(transformers is not installed: no side-by-side with its generate)')
    return res


def _hf_twin(model):
    """The same weights in transformers' LlamaForCausalLM (our module names are Llama's, less the
    `model.` prefix), or None when transformers is not installed."""
    try:
        import transformers
    except ImportError:
        return None
    c = model.config
    hc = transformers.LlamaConfig(
        vocab_size=c.vocab_size, hidden_size=c.n_embd, intermediate_size=c.mlp_hidden,
        num_hidden_layers=c.n_layer, num_attention_heads=c.n_head, num_key_value_heads=c.n_kv_head,
        max_position_embeddings=c.block_size, rms_norm_eps=c.norm_eps, rope_theta=c.rope_theta,
        tie_word_embeddings=c.tie_embeddings, attention_bias=c.qkv_bias)
    hf = transformers.LlamaForCausalLM(hc).eval()
    sd = {(k if k == 'lm_head.weight' else 'model.' + k): v for k, v in model.state_dict().items()}
    hf.load_state_dict(sd, strict=not c.tie_embeddings)
    return hf


def _versus_hf(model, prompts, new, g, tiny):
    """Ours, eager and compiled, vs transformers' generate on the same weights: batch 8 greedy, no
    stops; then the RL shape, 16 prompts x 8 samples at temperature 1, stop tokens ending rows from
    a few tokens to the limit (ours also with finished rows kept). The compile is timed apart."""
    V = model.config.vocab_size
    P, G = (2, 2) if tiny else (16, 8)
    ragged_prompts = _prompts(P, len(prompts[0]), V, g)
    # with random weights the next token is close to uniform, so V/85 stop tokens end a row
    # after about 85 tokens on average, from a handful to the limit
    stops = tuple(range(max(1, V // 85)))
    _, compile_s = _timed(lambda: generate(model, prompts, 2, temperature=0, compile=True), 'cpu')
    runs = {}
    for name, kw in (('ours', {}), ('kept', {'compact': False}), ('compiled', {'compile': True})):
        s, dt = _timed(lambda: sample(model, ragged_prompts, new, num_samples=G, stop_ids=stops,
                                      seed=1, **kw), 'cpu')
        runs[name] = (int(s.response_lens.sum()), dt, s.response_lens.float())
    lens = runs['ours'][2]
    res = {'compile_s': compile_s, 'ragged_batch': P * G, 'ragged_lens': {'min': lens.min().item(),
           'mean': lens.mean().item(), 'max': lens.max().item()},
           **{f'ragged_{name}_tok_s': n / dt for name, (n, dt, _) in runs.items()}}
    res['compact_speedup'] = res['ragged_ours_tok_s'] / res['ragged_kept_tok_s']
    hf = _hf_twin(model)
    if hf is None:
        return res
    import transformers
    x = torch.tensor(prompts)
    kw = dict(max_new_tokens=new, pad_token_id=V - 1)
    with torch.inference_mode():
        hf.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=4, do_sample=False,
                    pad_token_id=V - 1)
        best, outs = {}, {}
        for _ in range(2):  # alternate, keep each one's faster run: a busy machine only adds time
            for name, fn in (('ours', lambda: generate(model, prompts, new, temperature=0)),
                             ('compiled',
                              lambda: generate(model, prompts, new, temperature=0, compile=True)),
                             ('hf', lambda: hf.generate(x, attention_mask=torch.ones_like(x),
                                                        do_sample=False, min_new_tokens=new,
                                                        **kw)[:, x.shape[1]:].tolist())):
                outs[name], t = _timed(fn, 'cpu')
                best[name] = min(best.get(name, float('inf')), t)
        xr = torch.tensor(ragged_prompts)
        outr, t_hfr = _timed(lambda: hf.generate(
            xr, attention_mask=torch.ones_like(xr), do_sample=True, top_k=0, temperature=1.0,
            num_return_sequences=G, eos_token_id=list(stops), **kw), 'cpu')
    gen = outr[:, xr.shape[1]:]
    is_stop = torch.isin(gen, torch.tensor(stops))
    # a row's tokens up to and including its first stop token (generate pads after it)
    n_hf = int(torch.where(is_stop.any(1), is_stop.float().argmax(1) + 1, gen.shape[1]).sum())
    B = len(prompts)
    res['hf'] = {
        'version': transformers.__version__, **{f'{k}_tok_s': B * new / t for k, t in best.items()},
        'speedup': best['hf'] / best['ours'], 'compiled_speedup': best['hf'] / best['compiled'],
        'greedy_identical': outs['ours'] == outs['compiled'] == outs['hf'],
        'ragged_hf_tok_s': n_hf / t_hfr}
    for name in ('ours', 'compiled'):
        res['hf'][f'ragged_{name}_speedup'] = (res[f'ragged_{name}_tok_s']
                                               / res['hf']['ragged_hf_tok_s'])
    return res


def bench_dtype(cfg):
    """Is bf16 autocast faster than fp32 here? A training step (fwd + bwd + AdamW), the sampler."""
    dev, tiny = cfg.device, cfg.tiny
    model = _model(tiny, cfg.seed, n_layer=4, n_embd=256, device=dev)
    V = model.config.vocab_size
    B, T, steps = (2, 16, 2) if tiny else (16, 256, 5)
    g = torch.Generator().manual_seed(cfg.seed)
    x = torch.randint(0, V, (B, T + 1), generator=g).to(dev)
    prompts = _prompts(8, 8 if tiny else 64, V, g)
    new = 8 if tiny else 128
    res = {'model_params': model.num_params(), 'train_batch': [B, T], 'device': dev}
    for dtype in ('float32', 'bfloat16'):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        times, losses = [], []
        for i in range(steps + 2):  # the first two are warm-up
            def step():
                with autocast_ctx(dev, dtype):
                    logits = model(x[:, :-1])
                loss = torch.nn.functional.cross_entropy(logits.view(-1, V), x[:, 1:].reshape(-1))
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                return loss.item()
            loss, dt = _timed(step, dev)
            losses.append(loss)
            if i >= 2:
                times.append(dt)
        with autocast_ctx(dev, dtype):
            sample(model, prompts, 4, seed=0)  # warm-up
            _, t_s = _timed(lambda: sample(model, prompts, new, seed=0), dev)
        res[dtype] = {'train_step_ms': statistics.median(times) * 1e3, 'first_loss': losses[0],
                      'sampler_tok_s': len(prompts) * new / t_s}
        model = _model(tiny, cfg.seed, n_layer=4, n_embd=256, device=dev)  # same init, next dtype
    f32, b16 = res['float32'], res['bfloat16']
    res['train_speedup'] = f32['train_step_ms'] / b16['train_step_ms']
    res['sampler_speedup'] = b16['sampler_tok_s'] / f32['sampler_tok_s']
    print(f"model: {res['model_params'] / 1e6:.2f}M params; train batch {B}x{T}; "
          f"sampler batch 8, {new} new tokens")
    _table([
        ('train step ms fp32 / bf16', f"{f32['train_step_ms']:.0f} / {b16['train_step_ms']:.0f}",
         f"{res['train_speedup']:.2f}x"),
        ('first loss fp32 / bf16', f"{f32['first_loss']:.4f} / {b16['first_loss']:.4f}", ''),
        ('sampler tok/s fp32 / bf16', f"{f32['sampler_tok_s']:.0f} / {b16['sampler_tok_s']:.0f}",
         f"{res['sampler_speedup']:.2f}x"),
    ])
    return res


def bench_logprobs(cfg):
    """Ours vs the naive log_softmax(logits.float()) + gather: time and peak memory (kernels/)."""
    size = dict(B=1, T=64, V=4096, repeats=1) if cfg.tiny else dict(B=8, T=512, V=32768)
    res = kb.bench_logprobs(device=cfg.device, **size)
    kb.print_table(res)
    if cfg.device == 'cuda' and not cfg.tiny:  # bandwidth against the HBM bound
        res['gpu'] = kb.bench_logprobs_gpu()
        kb.print_gpu_table(res['gpu'])
    return res


# ---- the GRPO step: where its time goes, against an earlier commit, torch path vs kernels ----

def bench_grpo(cfg):
    """Where a GRPO step's time goes: generation, the no-grad log-prob pass (old/reference), loss
    forward + backward, optimizer. cpu-preset model (random init), 16 prompts of 107 tokens (the
    R1-Zero template's typical length), G = 8, 50 new tokens (the base's mean response length)."""
    P, G, Lp, new = (2, 2, 16, 8) if cfg.tiny else (16, 8, 107, 50)
    torch.manual_seed(cfg.seed)
    model = Transformer(ModelConfig(vocab_size=1024, n_layer=4, n_head=4, n_kv_head=2, n_embd=192,
                                    block_size=256))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(cfg.seed)
    prompts = _prompts(P, Lp, 1024, g)
    dt = resolve_dtype('auto', cfg.device)
    t = {}
    for rep in range(2):  # the first pass warms up; the second is reported
        t0 = time.time()
        s = sample(model, prompts, new, num_samples=G, seed=rep)
        t['generation'] = time.time() - t0
        adv = torch.randn(P * G)
        # the sampler's layout is the update's
        rows, mask = logits.select_rows(s, torch.arange(P * G)), s.mask
        t0 = time.time()
        with torch.no_grad(), autocast_ctx(cfg.device, dt):
            old = logits.logprobs(model, rows, 1.0, 'auto').float()
        t['logprobs_nograd'] = time.time() - t0
        t0 = time.time()
        knobs = Config(device=cfg.device, dtype=dt, kernels='auto', eps_low=0.2, eps_high=0.2,
                       beta=0.0, temperature=1.0)
        loss_t, _, _ = grpo.per_token_loss(model, rows, mask, old, None, adv, knobs)
        grpo.aggregate(loss_t, mask, 'token').backward()
        t['loss_fwd_bwd'] = time.time() - t0
        t0 = time.time()
        opt.step()
        opt.zero_grad(set_to_none=True)
        t['optimizer'] = time.time() - t0
    total = sum(t.values())
    res = {'prompts': P, 'group_size': G, 'prompt_tokens': Lp, 'new_tokens': new, 'dtype': dt,
           'seconds': t, 'share': {k: v / total for k, v in t.items()}}
    print(f'one GRPO step: {P} prompts x G={G}, {Lp}-token prompts, {new} new tokens, '
          f'train dtype {dt}')
    _table([(k, f'{v * 1000:.0f} ms', f'{v / total:.0%}') for k, v in t.items()])
    print('(the no-grad pass runs only with beta > 0 or mu > 1; '
          'bench.py step times a whole step against older code)')
    return res


def _grpo_step(dtype, seed, tiny, batch_in=None, batch_out=None):
    """Time one GRPO step with responses from a few tokens to the limit: 16 prompts of 107 tokens
    x G = 8, up to 192 new tokens, the cpu-preset model with random weights and V/85 stop tokens
    (about 85 tokens a response), the R1-Zero update (grpo.OPTIONS). bench.py step also runs
    this source in an earlier commit's tree, so it uses only calls that tree has; batch_in lets
    the update run on the batch the other tree saved (batch_out)."""
    import time
    import torch
    import grpo
    from model import ModelConfig, Transformer
    from sample import sample
    P, G, Lp, new = (2, 2, 16, 12) if tiny else (16, 8, 107, 192)
    torch.manual_seed(seed)
    model = Transformer(ModelConfig(vocab_size=1024, n_layer=4, n_head=4, n_kv_head=2, n_embd=192,
                                    block_size=512))
    g = torch.Generator().manual_seed(seed)
    prompts = torch.randint(0, 1024, (P, Lp), generator=g).tolist()
    stops = tuple(range(1024 // 85))
    sample(model, prompts[:1], 4, num_samples=2, seed=seed)  # warm-up
    t0 = time.perf_counter()
    s = sample(model, prompts, new, num_samples=G, stop_ids=stops, seed=seed)
    gen = time.perf_counter() - t0
    N = P * G
    rewards = torch.randn(N, generator=g)
    adv, signal = grpo.group_advantages(rewards, G)
    if hasattr(grpo, 'assemble_batch'):  # older trees built the batch from the sampler's full rows
        batch = grpo.assemble_batch([(s, rewards, adv, signal, signal, [{}] * N, [''] * N)], G, gen)
    else:
        more = {'problems': [None] * N} if 'problems' in grpo.Batch.__dataclass_fields__ else {}
        batch = grpo.Batch(**vars(s), rewards=rewards, advantages=adv, signal=signal,
                           scored=[{}] * N, texts=[''] * N, **more)
    read = ('prompts', 'prompt_mask', 'group', 'responses', 'mask', 'advantages')  # update's inputs
    if batch_out:
        torch.save({k: getattr(batch, k) for k in read}, batch_out)
    if batch_in:
        for k, v in torch.load(batch_in, weights_only=True).items():
            setattr(batch, k, v)
    settings = grpo.OPTIONS.settings if hasattr(grpo, 'OPTIONS') else grpo.zero_recipe  # old name
    cfg = settings(out_dir='', device='cpu', dtype=dtype, kernels='auto')
    lr = cfg.get('lr') if isinstance(cfg, dict) else cfg.lr  # older trees' settings are dicts
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99))
    updates = []
    for rep in range(2):  # the first update also pays one-time costs (AdamW's state, the allocator)
        t0 = time.perf_counter()
        grpo.optimize(model, None, opt, batch, cfg, rep)
        updates.append(time.perf_counter() - t0)
    return {'prompts': P, 'group_size': G, 'max_new_tokens': new,
            'generation_s': gen, 'update_s': updates[1], 'step_s': gen + updates[1], 'dtype': dtype,
            'response_tokens': int(batch.mask.sum()), 'padded_tokens': batch.mask.numel(),
            'longest': int(batch.mask.sum(1).max()), 'shortest': int(batch.mask.sum(1).min())}


def _in_tree(rev, fn, **kw):
    """Run fn(**kw) (by its source) in a subprocess in commit `rev`'s files: its result, or None."""
    with tempfile.TemporaryDirectory() as d:
        tar = subprocess.run(['git', 'archive', rev], capture_output=True,
                             cwd=os.path.dirname(os.path.abspath(__file__)))
        if tar.returncode != 0:
            print(f'(no commit {rev!r} here: {tar.stderr.decode().strip()}; no comparison)')
            return None
        subprocess.run(['tar', '-x', '-C', d], input=tar.stdout, check=True)
        code = f'{inspect.getsource(fn)}\nimport json\nprint(json.dumps({fn.__name__}(**{kw!r})))\n'
        r = subprocess.run([sys.executable, '-c', code], cwd=d, capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=d))
        if r.returncode != 0:
            print(f'(the run in {rev} failed: {r.stderr.strip()[-500:]})')
            return None
        return json.loads(r.stdout.strip().splitlines()[-1])


def bench_step(cfg):
    """A whole GRPO step at ragged lengths (generation + update), this tree vs `baseline` (an
    earlier commit): same prompts, seed and, for the update, batch. The baseline runs in both
    dtypes its code could pick on CPU, bf16 autocast (its 'auto') and float32; ours in 'auto'."""
    dt = resolve_dtype('auto', cfg.device)
    with tempfile.TemporaryDirectory() as d:
        saved = os.path.join(d, 'batch.pt')
        ours = _grpo_step(dt, cfg.seed, cfg.tiny, batch_out=saved)
        res = {'ours': ours, 'baseline_rev': cfg.baseline, 'baseline': {}}
        if cfg.baseline:
            for bdt in ('float32', 'bfloat16'):
                b = _in_tree(cfg.baseline, _grpo_step, dtype=bdt, seed=cfg.seed, tiny=cfg.tiny,
                             batch_in=saved)
                if b is not None:
                    res['baseline'][bdt] = b
    print(f"one GRPO step, {ours['prompts']} prompts x {ours['group_size']}, "
          f"up to {ours['max_new_tokens']} new tokens: {ours['shortest']} to {ours['longest']}, "
          f"{ours['response_tokens']} in all ({ours['padded_tokens']} padded)")
    rows = [(f'ours ({dt}): generation / update / step',
             f"{ours['generation_s']:.2f} / {ours['update_s']:.2f} / {ours['step_s']:.2f} s", '')]
    for bdt, b in res['baseline'].items():
        b['speedup'] = {k: b[k] / ours[k] for k in ('generation_s', 'update_s', 'step_s')}
        rows.append((f"{cfg.baseline} ({bdt}): generation / update / step",
                     f"{b['generation_s']:.2f} / {b['update_s']:.2f} / {b['step_s']:.2f} s",
                     f"ours {b['speedup']['step_s']:.2f}x faster (target >= 2x)"))
    _table(rows)
    print("(the baseline samples from the same seed with its own RNG scheme; "
          "its update runs on our batch)")
    return res


def bench_curve(cfg):
    """The same tiny GRPO run (seeded, beta > 0, mu = 2 so every log-prob path runs) on the torch
    path and on the Triton kernels: the largest per-step difference in reward, KL, clip fraction and
    final weights. On CPU the kernels run in Triton's interpreter (TRITON_INTERPRET=1, set here)."""
    if cfg.device == 'cpu':
        os.environ.setdefault('TRITON_INTERPRET', '1')  # kernels/ imports triton at its first call
    steps = 2 if cfg.tiny else cfg.steps
    tok = train_tokenizer(corpus.build_corpus(200, cfg.seed), 300)
    def draw(step, round_):
        rng = random.Random(f'{step}:{round_}')
        return data.rendered([tasks.draw_problem('math', rng) for _ in range(2)])
    def reward(problems, texts, ended):  # signal even for a random model: shorter is better
        return [{'reward': -float(len(t)), 'accuracy': 0.0, 'format': 0.0} for t in texts]

    runs, t = {}, {}
    for backend in ('torch', 'triton'):
        torch.manual_seed(cfg.seed)
        policy = Transformer(ModelConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2,
                                         n_kv_head=1, n_embd=32, block_size=512))
        with tempfile.TemporaryDirectory() as d:
            rl = grpo.OPTIONS.settings(
                steps=steps, n_prompts=2, group_size=3, max_new_tokens=6, lr=1e-3, warmup_steps=1,
                beta=0.05, mu=2, micro_batch=6, max_refill=1, ref_reset=0, eval_interval=0,
                ckpt_interval=0, seed=cfg.seed, dtype='float32', kernels=backend, out_dir=d,
                resume=False, device=cfg.device)
            t0 = time.time()
            grpo.train(policy, tok, rl, draw_prompts=draw, reward_fn=reward, name=backend)
            t[backend] = time.time() - t0
            rows = [json.loads(line) for line in open(os.path.join(d, 'metrics.jsonl'))]
        runs[backend] = (policy, rows)
    (pa, ra), (pb, rb) = runs['torch'], runs['triton']
    diff = {k: max(abs(a[k] - b[k]) for a, b in zip(ra, rb))
            for k in ('reward', 'kl', 'clip_frac', 'loss') if k in ra[0]}
    diff['weights'] = max((a - b).abs().max().item()
                          for a, b in zip(pa.parameters(), pb.parameters()))
    res = {'steps': steps, 'max_abs_diff': diff, 'seconds': t, 'reward_curve': {
        'torch': [r['reward'] for r in ra], 'triton': [r['reward'] for r in rb]}}
    print(f'{steps} GRPO steps, tiny model, same seed: torch path vs Triton kernels')
    _table([(f'max |diff| {k}', f'{v:.2e}', '') for k, v in diff.items()]
           + [(f'{k} seconds', f'{v:.1f}', '') for k, v in t.items()])
    return res


def bench_report(cfg):
    """report.html of a run: its size, the seconds to write it, and the milliseconds headless
    Chromium takes to open it until the page is drawn; a full-page screenshot beside the json."""
    t0 = time.perf_counter()
    path = report.write_report([cfg.run], quiet=True)
    res = {'run': cfg.run, 'write_s': time.perf_counter() - t0, 'mb': os.path.getsize(path) / 1e6}
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if chromium:
        from playwright.sync_api import sync_playwright  # test-time only (requirements-test.txt)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=['--no-sandbox'])
            page = browser.new_page(viewport={'width': 1200, 'height': 900})
            page.goto('file://' + os.path.abspath(path))
            page.wait_for_function('window.reportReady !== undefined')
            res['ready_ms'] = page.evaluate('window.reportReady')
            os.makedirs(cfg.out_dir, exist_ok=True)
            page.screenshot(path=os.path.join(cfg.out_dir, 'report.png'), full_page=True)
            browser.close()
    _table([('report.html size', f"{res['mb']:.2f} MB", 'target < 5 MB'),
            ('written in', f"{res['write_s']:.2f} s", 'target < 5 s'),
            ('opened and drawn in headless Chromium', f"{res.get('ready_ms', float('nan')):.0f} ms",
             'target < 2000 ms' if chromium else 'no chromium installed')])
    return res


BENCHES = {'sampler': bench_sampler, 'dtype': bench_dtype, 'logprobs': bench_logprobs,
           'grpo': bench_grpo, 'step': bench_step, 'curve': bench_curve, 'report': bench_report}

if __name__ == '__main__':
    args = sys.argv[1:]
    _name = args.pop(0) if args and not args[0].startswith('-') else None
    with input_errors():
        cfg = configure(globals(), args, bounds={'threads': (0, None), 'steps': (1, None)},
                        choices={'device': ('auto', 'cpu', 'cuda', 'mps')})
        if _name not in BENCHES:
            raise InputError(f"usage: python bench.py {{{'|'.join(BENCHES)}}} [--key=value ...] "
                             "(--help for keys)")
        cfg.device = get_device() if cfg.device == 'auto' else cfg.device
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        result = BENCHES[_name](cfg)
    os.makedirs(cfg.out_dir, exist_ok=True)
    path = os.path.join(cfg.out_dir, f'{_name}.json')
    with open(path, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'wrote {path}')
