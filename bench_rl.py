"""The GRPO benchmarks of bench.py (`python bench.py grpo|step|curve`): where a step's time goes,
a whole step against an earlier commit's code, and the torch path against the Triton kernels."""
import json
import os
import sys
import time

import torch

from bench import _prompts, _table
from config import autocast_ctx, resolve_dtype
from model import ModelConfig, Transformer
from sample import sample


def bench_grpo(cfg):
    """Where a GRPO step's time goes: generation, the no-grad log-prob pass (old/reference),
    the loss forward + backward, and the optimizer. cpu-preset model (random init), 16 prompts
    of 107 tokens (the R1-Zero template's typical length), G = 8, 50 new tokens each (the
    base's mean response length)."""
    import grpo
    P, G, Lp, new = (2, 2, 16, 8) if cfg['tiny'] else (16, 8, 107, 50)
    torch.manual_seed(cfg['seed'])
    model = Transformer(ModelConfig(vocab_size=1024, n_layer=4, n_head=4, n_kv_head=2, n_embd=192, block_size=256))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(cfg['seed'])
    prompts = _prompts(P, Lp, 1024, g)
    dt = resolve_dtype('auto', cfg['device'])
    t = {}
    for rep in range(2):  # the first pass warms up; the second is reported
        t0 = time.time()
        s = sample(model, prompts, new, num_samples=G, seed=rep)
        t['generation'] = time.time() - t0
        adv = torch.randn(P * G)
        rows, mask = grpo.rows_of(s, torch.arange(P * G)), s.mask  # the sampler's layout is the update's
        t0 = time.time()
        with torch.no_grad(), autocast_ctx(cfg['device'], dt):
            old = grpo.logprobs_of(model, rows, 1.0, 'auto').float()
        t['logprobs_nograd'] = time.time() - t0
        t0 = time.time()
        knobs = dict(device=cfg['device'], dtype=dt, kernels='auto', eps_low=0.2, eps_high=0.2, beta=0.0, temperature=1.0)
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
    print(f'one GRPO step: {P} prompts x G={G}, {Lp}-token prompts, {new} new tokens, train dtype {dt}')
    _table([(k, f'{v * 1000:.0f} ms', f'{v / total:.0%}') for k, v in t.items()])
    print('(the no-grad pass runs only with beta > 0 or mu > 1; bench.py step times a whole step against older code)')
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
    model = Transformer(ModelConfig(vocab_size=1024, n_layer=4, n_head=4, n_kv_head=2, n_embd=192, block_size=512))
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
    if hasattr(grpo, 'assemble_batch'):  # the older trees built the batch from the sampler's full rows
        batch = grpo.assemble_batch([(s, rewards, adv, signal, signal, [{}] * N, [''] * N)], G, gen)
    else:
        batch = grpo.Batch(**vars(s), rewards=rewards, advantages=adv, signal=signal, scored=[{}] * N, texts=[''] * N)
    read = ('prompts', 'prompt_mask', 'group', 'responses', 'mask', 'advantages')  # what the update reads
    if batch_out:
        torch.save({k: getattr(batch, k) for k in read}, batch_out)
    if batch_in:
        for k, v in torch.load(batch_in, weights_only=True).items():
            setattr(batch, k, v)
    settings = grpo.OPTIONS.settings if hasattr(grpo, 'OPTIONS') else grpo.zero_recipe  # the older trees' name
    cfg = settings(out_dir='', device='cpu', dtype=dtype, kernels='auto')
    opt = torch.optim.AdamW(model.parameters(), lr=cfg['lr'], betas=(0.9, 0.99))
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
    """Run fn(**kw) (its source) in a subprocess inside commit `rev`'s files; its result dict, or None."""
    import inspect
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        tar = subprocess.run(['git', 'archive', rev], capture_output=True, cwd=os.path.dirname(os.path.abspath(__file__)))
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
    """A whole GRPO step at ragged lengths (generation + update), this tree against `baseline`
    (an earlier commit) on the same prompts, seed and, for the update, the same batch. The
    baseline runs in both dtypes its code could pick on CPU: bf16 autocast (what its 'auto'
    chose) and float32; ours in what 'auto' picks on this machine."""
    import tempfile
    dt = resolve_dtype('auto', cfg['device'])
    with tempfile.TemporaryDirectory() as d:
        saved = os.path.join(d, 'batch.pt')
        ours = _grpo_step(dt, cfg['seed'], cfg['tiny'], batch_out=saved)
        res = {'ours': ours, 'baseline_rev': cfg['baseline'], 'baseline': {}}
        if cfg['baseline']:
            for bdt in ('float32', 'bfloat16'):
                b = _in_tree(cfg['baseline'], _grpo_step, dtype=bdt, seed=cfg['seed'], tiny=cfg['tiny'], batch_in=saved)
                if b is not None:
                    res['baseline'][bdt] = b
    print(f"one GRPO step, {ours['prompts']} prompts x {ours['group_size']}, up to {ours['max_new_tokens']} new tokens: "
          f"{ours['shortest']} to {ours['longest']}, {ours['response_tokens']} in all ({ours['padded_tokens']} padded)")
    rows = [(f'ours ({dt}): generation / update / step', f"{ours['generation_s']:.2f} / {ours['update_s']:.2f} / "
             f"{ours['step_s']:.2f} s", '')]
    for bdt, b in res['baseline'].items():
        b['speedup'] = {k: b[k] / ours[k] for k in ('generation_s', 'update_s', 'step_s')}
        rows.append((f"{cfg['baseline']} ({bdt}): generation / update / step",
                     f"{b['generation_s']:.2f} / {b['update_s']:.2f} / {b['step_s']:.2f} s",
                     f"ours {b['speedup']['step_s']:.2f}x faster (target >= 2x)"))
    _table(rows)
    print("(the baseline samples from the same seed with its own RNG scheme; its update runs on our batch)")
    return res


def bench_curve(cfg):
    """The same tiny GRPO run (seeded, beta > 0, mu = 2 so every log-prob path runs)
    once on the torch path and once on the fused Triton kernels; reports the largest
    per-step difference in reward, KL and clip fraction, and in the final weights. On CPU the
    kernels run through Triton's interpreter (TRITON_INTERPRET=1 is set here)."""
    if cfg['device'] == 'cpu':
        os.environ.setdefault('TRITON_INTERPRET', '1')  # before grpo's kernels first import triton
    import random
    import tempfile
    import grpo
    import corpus
    import tasks
    from tokenizer import train_tokenizer
    steps = 2 if cfg['tiny'] else cfg['steps']
    tok = train_tokenizer(corpus.build_corpus(200, cfg['seed']), 300)

    def draw(step, round_):
        rng = random.Random(f'{step}:{round_}')
        return [tasks.draw_problem('math', rng) for _ in range(2)]

    def reward(problems, texts, ended):  # signal even for a random model: shorter is better
        return [{'reward': -float(len(t)), 'accuracy': 0.0, 'format': 0.0} for t in texts]

    runs, t = {}, {}
    for backend in ('torch', 'triton'):
        torch.manual_seed(cfg['seed'])
        policy = Transformer(ModelConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_kv_head=1,
                                         n_embd=32, block_size=512))
        with tempfile.TemporaryDirectory() as d:
            rl = grpo.OPTIONS.settings(steps=steps, n_prompts=2, group_size=3, max_new_tokens=6, lr=1e-3, warmup_steps=1,
                                       beta=0.05, mu=2, micro_batch=6, max_refill=1, ref_reset=0, eval_interval=0,
                                       ckpt_interval=0, seed=cfg['seed'], dtype='float32', kernels=backend, out_dir=d,
                                       resume=False, device=cfg['device'])
            t0 = time.time()
            grpo.train(policy, tok, rl, draw_prompts=draw, reward_fn=reward, name=backend)
            t[backend] = time.time() - t0
            rows = [json.loads(line) for line in open(os.path.join(d, 'metrics.jsonl'))]
        runs[backend] = (policy, rows)
    (pa, ra), (pb, rb) = runs['torch'], runs['triton']
    diff = {k: max(abs(a[k] - b[k]) for a, b in zip(ra, rb)) for k in ('reward', 'kl', 'clip_frac', 'loss')
            if k in ra[0]}
    diff['weights'] = max((a - b).abs().max().item() for a, b in zip(pa.parameters(), pb.parameters()))
    res = {'steps': steps, 'max_abs_diff': diff, 'seconds': t,
           'reward_curve': {'torch': [r['reward'] for r in ra], 'triton': [r['reward'] for r in rb]}}
    print(f'{steps} GRPO steps, tiny model, same seed: torch path vs Triton kernels')
    _table([(f'max |diff| {k}', f'{v:.2e}', '') for k, v in diff.items()]
           + [(f'{k} seconds', f'{v:.1f}', '') for k, v in t.items()])
    return res
