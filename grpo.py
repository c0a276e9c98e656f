"""GRPO: the one RL loop every stage uses (R1 section 2.2.1; DeepSeekMath eq. 3-4).

For each prompt, sample a group of G responses, score them with rule-based rewards, and
push up the log-probability of the responses that beat their group's mean:

    A_i    = (R_i - mean(R)) / (std(R) + eps)                   same on every token of i
    r_t    = exp(logp_t - old_logp_t)
    loss_t = -min(r_t A_i, clip(r_t, 1 - eps_low, 1 + eps_high) A_i) + beta * k3_t
    k3_t   = exp(ref_t - logp_t) - (ref_t - logp_t) - 1          (>= 0; Schulman's estimator)

No value model: the group mean is the baseline. Aggregations ('grpo', DeepSeekMath eq. 3;
'token', DAPO; 'dr_grpo', Dr. GRPO) and the options (clip-higher, dynamic sampling, overlong
penalty, beta = 0, reference reset, mu > 1) are described in docs/design.md, GRPO.

What we simplify: no vLLM or rollout workers; the policy samples its own rollouts. Under torchrun
each process samples a share of the prompts, gradients are summed (ddp.py), rank 0 logs and saves.
"""
import copy
import math
import os
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

import ddp
from checkpoint import MetricsLog, StepGuard, open_run
from config import InputError, Key, Options, autocast_ctx
from kernels.grpo_loss import grpo_token_loss
from kernels.logprobs import resolve_backend
from logits import PromptPass, Rows, batch_logprobs, response_logits, select_rows
from model import lr_schedule
from sample import Samples, response_texts, sample


# ---- The loop's settings, each defined once: train_zero.py puts them on its command line;
# train_r1.py and distill.py change a few (OPTIONS.settings). Defaults: R1-Zero on 2 CPU cores.

OPTIONS = Options({
    'steps': Key(100, 'GRPO steps (fits the 20-minute CPU budget, base included; the curve '
                 'flattens after ~100)', (0, None)),
    'n_prompts': Key(16, 'prompts per step', (1, None)),
    'group_size': Key(8, 'G: responses sampled per prompt', (2, None)),
    'max_new_tokens': Key(256, "longest response (prompt + response must fit the base's "
                          "384-token context)", (1, None)),
    'temperature': Key(1.0, 'rollout temperature (the paper: 1.0)', (0.01, 10)),
    'lr': Key(1e-4, "AdamW learning rate (tiny models want far more than the paper's 3e-6)",
              (0, 1)),
    'warmup_steps': Key(10, 'linear warmup steps', (0, None)),
    'lr_decay': Key(False, 'cosine decay to 10% after warmup (else constant)'),
    'weight_decay': Key(0.0, 'AdamW weight decay during RL', (0, None)),
    'grad_clip': Key(1.0, 'global gradient-norm clip (0 = off)', (0, None)),
    'beta': Key(0.0, 'KL weight to the reference (paper R1-Zero: 0.001); 0 skips the '
                'reference model', (0, None)),
    'eps_low': Key(0.2, 'clip range below 1', (0, 1)),
    'eps_high': Key(0.2, "clip range above 1 (raise it for DAPO's clip-higher)", (0, None)),
    'loss_agg': Key('token', "'grpo' (per response, DeepSeekMath), 'token' (DAPO), 'dr_grpo'",
                    choices=('grpo', 'token', 'dr_grpo')),
    'scale_std': Key(True, "divide advantages by the group's std (Dr. GRPO turns this off)"),
    'mu': Key(1, 'passes over each batch; > 1 needs old log-probs (a no-grad forward)', (1, None)),
    'minibatches': Key(1, 'optimizer steps per pass over the batch', (1, None)),
    'micro_batch': Key(32, 'rows per forward/backward, longest first '
                       '(32 cuts padding that 64 keeps)', (1, None)),
    'dynamic_sampling': Key(False, 'drop groups whose rewards are all equal and refill (DAPO)'),
    'max_refill': Key(2, 'extra sampling rounds dynamic sampling may take per step', (0, None)),
    'overlong_buffer': Key(0, 'DAPO soft overlong penalty over the last N tokens (0 = off)',
                           (0, None)),
    'ref_reset': Key(400, 'copy the policy into the reference every N steps (paper: 400)',
                     (0, None)),
    'eval_interval': Key(25, 'steps between the small held-out evaluations of the curves',
                         (0, None)),
    'ckpt_interval': Key(50, 'steps between checkpoints', (0, None)),
    'log_samples': Key(2, "prompts per step whose G rollouts go to samples.jsonl (report.py's "
                       'viewer; 0 = none)', (0, None)),
    'seed': Key(0, 'seeds prompts, rollouts and minibatch order'),
    'dtype': Key('auto', "'float32', 'bfloat16', or 'auto' (bfloat16 where measured faster)",
                 choices=('auto', 'float32', 'bfloat16')),
    'compile': Key(False, 'torch.compile the rollouts\' decode step: faster decoding after a '
                   'one-off compile (bench.py sampler)'),
    'kernels': Key('auto', "log-prob path: 'auto' (Triton on CUDA, torch on CPU), 'torch', "
                   "'triton'", choices=('auto', 'torch', 'triton')),
}, presets={'gpu': dict(steps=1000, n_prompts=32, group_size=16, lr=5e-5, beta=0.001,
                        micro_batch=128, eval_interval=50)})


# ---- Advantages, guarded: a group whose rewards are all equal carries no signal: advantage 0.

def group_advantages(rewards, G, scale_std=True, eps=1e-4):
    """rewards (P*G,) -> advantages (P*G,) and the mask of groups that carry signal (P,).

    A group of equal rewards gets exactly 0, found by comparing them, not std > 0: (r - mean) of
    equal floats can be 1e-9, which / (std + eps), renormalised by AdamW, is a full random step."""
    if G < 2:
        raise ValueError(f'GRPO needs at least 2 samples per prompt to compare them (got G={G})')
    r = rewards.view(-1, G).float()  # (P, G)
    signal_ = (r != r[:, :1]).any(dim=1)  # (P,)
    adv = r - r.mean(dim=1, keepdim=True)
    if scale_std:
        adv = adv / (r.std(dim=1, keepdim=True) + eps)
    adv = torch.where(signal_[:, None], adv, torch.zeros_like(adv))
    return adv.reshape(-1), signal_


def overlong_penalty(lengths, max_len, buffer):
    """DAPO's soft overlong punishment: 0 up to max_len - buffer, then linear down to -1."""
    if buffer <= 0:
        return torch.zeros_like(lengths, dtype=torch.float32)
    over = (lengths.float() - (max_len - buffer)).clamp(min=0)
    return -(over / buffer).clamp(max=1.0)


# ---- The loss: per token in kernels/ (torch reference, fused Triton kernel), aggregated here.

def aggregate(loss_t, mask, agg, max_len=None, denom=None):
    """Reduce per-token values (N, T) over the response tokens (mask) to one number; denom overrides
    the normaliser (responses, or tokens for 'token') so micro-batches sum to the minibatch loss."""
    m = mask.float()
    if agg == 'grpo':  # mean over each response's tokens, then over responses
        return ((loss_t * m).sum(1) / m.sum(1).clamp(min=1)).sum() / (denom or loss_t.shape[0])
    if agg == 'token':  # mean over every response token in the batch
        return (loss_t * m).sum() / (denom or m.sum().clamp(min=1))
    if agg == 'dr_grpo':  # a constant normaliser: no length bias
        return (loss_t * m).sum() / ((denom or loss_t.shape[0]) * max_len)
    raise ValueError(f"loss_agg must be 'grpo', 'token' or 'dr_grpo', got {agg!r}")


def per_token_loss(model, rows, mask, old_logp, ref_logp, adv, cfg, encoded=None):
    """Forward the policy on Rows (responses (n, w)); return the per-token (loss, kl, clipped), each
    (n, w). encoded: as for logits.response_logits. The formula is kernels/grpo_loss.py's: a fused
    Triton kernel on CUDA (or kernels='triton') that reads the logits once, else its torch reference
    (what CPU training runs). Padding gets 0 loss and no gradient; old_logp None: the ratio is 1."""
    targets = rows.responses  # logits[n, j] scores responses[n, j]
    with autocast_ctx(cfg.device, cfg.dtype):
        logits = response_logits(model, rows, encoded=encoded)  # (N, Lr, V)
    loss_t, _, kl, clipped = grpo_token_loss(
        logits, targets, old_logp, ref_logp, adv[:, None].expand(targets.shape).float(), mask,
        eps_low=cfg.eps_low, eps_high=cfg.eps_high, beta=cfg.beta, temperature=cfg.temperature,
        backend=resolve_backend(cfg.kernels, targets.device))
    return loss_t, kl.detach(), clipped.bool()


# ---- Rollouts: a generator that yields one batch per step, in the sampler's layout.

@dataclass
class Batch(Samples):
    """A step's rollouts: sample.Samples (the sampler's layout and log-probs) plus their scores."""
    rewards: torch.Tensor     # (N,)
    advantages: torch.Tensor  # (N,) the same on every token of a response
    signal: torch.Tensor      # (P_drawn,) groups whose rewards were not all equal, all rounds drawn
    scored: list              # (N,) reward_fn's dict per response: the reward and its components
    texts: list               # (N,) decoded responses
    problems: list            # (N,) the problem each response answers
    gen_s: float = 0.0        # seconds spent sampling and scoring


def rollouts(policy, tok, draw_prompts, reward_fn, cfg, start_step):
    """Yield each step's batch from start_step on (draw_prompts, reward_fn: see train). Prompts and
    seeds are functions of the step, so a resumed run sees what an uninterrupted one would."""
    G, step = cfg.group_size, start_step
    while True:
        t0, rounds = time.time(), []
        while True:  # dynamic sampling (DAPO) refills until enough groups carry signal
            drawn = draw_prompts(step, len(rounds))
            n_all, mine = len(drawn), ddp.shard(len(drawn))  # our share (all in one process)
            problems = [p for _, p in drawn[mine]]
            s = sample(policy, [tok.encode(text) for text, _ in drawn[mine]], cfg.max_new_tokens,
                       temperature=cfg.temperature, stop_ids=(tok.eot_id,), num_samples=G,
                       seed=cfg.seed * 100003 + step * 101 + len(rounds), pad_id=tok.pad_id,
                       shard=(mine.start * G, n_all * G), compile=cfg.compile)
            texts = response_texts(s, tok)
            scored = reward_fn([p for p in problems for _ in range(G)], texts, s.stopped.tolist())
            rewards = torch.tensor([x['reward'] for x in scored], dtype=torch.float32,
                                   device=s.responses.device)
            if cfg.overlong_buffer > 0:
                rewards += overlong_penalty(s.response_lens, cfg.max_new_tokens,
                                            cfg.overlong_buffer)
            adv, signal_ = group_advantages(rewards, G, cfg.scale_std)
            rounds.append(Batch(**vars(s), rewards=rewards, advantages=adv, signal=signal_,
                                scored=scored, texts=texts,
                                problems=[p for p in problems for _ in range(G)]))
            kept = sum(int(b.signal.sum()) for b in rounds)
            if not cfg.dynamic_sampling or kept >= len(problems) or len(rounds) > cfg.max_refill:
                break
        batch = join(rounds, G) if cfg.dynamic_sampling else rounds[0]
        batch.gen_s = time.time() - t0
        yield batch
        step += 1


def join(rounds, G):
    """Dynamic sampling's batch (DAPO): the groups that carry signal, round after round, up to one
    round's number of groups, laid out as one round is (prompts left-, responses right-padded)."""
    dev = rounds[0].responses.device
    keep = torch.cat([b.signal for b in rounds]).nonzero().flatten()[:len(rounds[0].signal)]  # (P,)
    rows = (keep[:, None] * G + torch.arange(G, device=dev)).flatten()  # (N,) their responses

    def cat(name, idx, left=False):  # one field of every round, chosen rows
        ts = [getattr(b, name) for b in rounds]
        if ts[0].dim() == 2:  # pad to the widest round: prompts on the left, responses on the right
            w = max(t.shape[1] for t in ts)
            ts = [F.pad(t, (w - t.shape[1], 0) if left else (0, w - t.shape[1])) for t in ts]
        return torch.cat(ts)[idx]

    def flat(name):  # a list field of every round, chosen rows
        every = [x for b in rounds for x in getattr(b, name)]
        return [every[i] for i in rows.tolist()]

    prompt_mask, mask = cat('prompt_mask', keep, left=True), cat('mask', rows)
    lp = int(prompt_mask.sum(1).max()) if len(keep) else 1  # the longest kept prompt and response
    lr = int(mask.sum(1).max()) if len(rows) else 1
    return Batch(prompts=cat('prompts', keep, left=True)[:, -lp:], prompt_mask=prompt_mask[:, -lp:],
                 group=torch.arange(len(keep), device=dev).repeat_interleave(G),
                 responses=cat('responses', rows)[:, :lr], mask=mask[:, :lr],
                 logprobs=cat('logprobs', rows)[:, :lr], response_lens=cat('response_lens', rows),
                 stopped=cat('stopped', rows), rewards=cat('rewards', rows),
                 advantages=cat('advantages', rows), signal=torch.cat([b.signal for b in rounds]),
                 scored=flat('scored'), texts=flat('texts'), problems=flat('problems'))


# ---- One optimizer update per minibatch; mu passes over the batch (DeepSeekMath Algorithm 1).

def optimize(policy, ref, opt, batch, cfg, step):
    """GRPO updates on a batch -> stats; skips a step with no signal or non-finite loss or grad."""
    stats = {'kl': 0.0, 'clip_frac': 0.0, 'grad_norm': 0.0, 'skipped': '', 'updates': 0}
    N = batch.responses.shape[0]
    # with several processes (ddp.py) each decision below is taken on the whole batch, so they agree
    if ddp.all_sum(N > 0 and bool((batch.advantages != 0).any())) == 0:
        stats['skipped'] = 'no_signal'  # nothing to learn: all groups scored alike
        return stats
    temp, backend, dt = cfg.temperature, cfg.kernels, cfg.dtype
    ref_logp = old_logp = None
    with torch.no_grad(), autocast_ctx(cfg.device, dt):
        if cfg.beta > 0:
            ref_logp = batch_logprobs(ref, batch, temp, backend, cfg.micro_batch)
        if cfg.mu > 1:  # the policy before this batch's updates; with mu = 1 the ratio is 1
            old_logp = batch_logprobs(policy, batch, temp, backend, cfg.micro_batch)
    mb_size = math.ceil(N / cfg.minibatches)
    g = torch.Generator().manual_seed(cfg.seed * 100003 + step)  # step-seeded minibatch order
    lens = batch.mask.sum(1)
    for _ in range(cfg.mu):
        order = torch.randperm(N, generator=g) if cfg.minibatches > 1 else torch.arange(N)
        for start in range(0, N, mb_size):
            idx = order[start:start + mb_size]
            # longest first: each micro-batch holds responses of similar length and select_rows cuts
            # its padding; the minibatch's loss sums its micro-batches, so their order is free
            idx = idx[lens[idx].argsort(descending=True, stable=True)]
            opt.zero_grad(set_to_none=True)
            m = batch.mask[idx]
            denom = max(1, ddp.all_sum(m.sum().item() if cfg.loss_agg == 'token' else len(idx)))
            total, ok = 0.0, True
            # each prompt runs once per minibatch, however many micro-batches its responses fall in
            used = torch.unique(batch.group[idx])
            mine = select_rows(batch, idx)
            prompts, prompt_mask = mine.prompts, mine.prompt_mask
            with autocast_ctx(cfg.device, dt):
                shared = PromptPass(policy, prompts, prompt_mask, batch.responses.shape[1])
            for mstart in range(0, len(idx), cfg.micro_batch):
                sub = idx[mstart:mstart + cfg.micro_batch]
                rows = Rows(prompts, prompt_mask, torch.searchsorted(used, batch.group[sub]),
                            select_rows(batch, sub).responses)
                w = rows.responses.shape[1]  # the micro-batch's columns
                loss_t, kl, clipped = per_token_loss(
                    policy, rows, batch.mask[sub, :w],
                    None if old_logp is None else old_logp[sub, :w],
                    None if ref_logp is None else ref_logp[sub, :w], batch.advantages[sub], cfg,
                    encoded=shared.encoded)
                mm = batch.mask[sub, :w].float()
                part = aggregate(loss_t, mm, cfg.loss_agg, cfg.max_new_tokens, denom)
                if not torch.isfinite(part):
                    ok = False
                    break
                part.backward()
                shared.collect()
                total += part.item()
                n_tok = mm.sum().clamp(min=1)
                stats['kl'] += ((kl * mm).sum() / n_tok).item() * len(sub) / N / cfg.mu
                stats['clip_frac'] += (((clipped.float() * mm).sum() / n_tok).item()
                                       * len(sub) / N / cfg.mu)
            if ok:
                shared.backward()
            ok = ddp.all_sum(not ok) == 0
            ddp.sum_grads(policy)  # the batch's gradient: each loss had the global denominator
            norm = torch.nn.utils.clip_grad_norm_(policy.parameters(),
                                                  cfg.grad_clip or float('inf'))
            if not ok or not torch.isfinite(norm):
                opt.zero_grad(set_to_none=True)
                stats['skipped'] = 'nonfinite'  # never let one bad batch write NaN into the weights
                continue
            opt.step()
            stats['updates'] += 1
            stats['grad_norm'], stats['loss'] = norm.item(), total
    return stats


# ---- The loop: lr, eval/checkpoint, rollouts, updates, log (nanoGPT's order).

def check_parallel(cfg):
    """Settings several processes (ddp.py) cannot share; each must hold equally many groups."""
    W = ddp.world()
    if W > 1 and cfg.dynamic_sampling:  # each process would refill on its own and fall out of step
        raise InputError('--dynamic_sampling is not supported with several processes (torchrun); '
                         'run it in one')
    if cfg.n_prompts % W:
        raise InputError(f"--n_prompts={cfg.n_prompts} must be a multiple of the {W} processes")


def train(policy, tok, cfg, *, draw_prompts, reward_fn, evaluate=None, name='rl', on_eval=None):
    """Run GRPO on `policy` in place for cfg.steps steps; write out_dir/ckpt.pt and metrics.jsonl.
    draw_prompts(step, round) -> [(prompt text, problem), ...], the step's rendered prompts.
    reward_fn(problems, texts, ended) -> one dict per response: 'reward' and the measures the loop
    logs, each averaged where present, 0 if absent ('accuracy', 'format', 'language', 'reflection').
    evaluate(policy, step) -> dict for the metrics row, every eval_interval steps and at the end;
    on_eval() runs once that row is written (the scripts rewrite report.html there)."""
    if missing := [k for k in (*OPTIONS.keys, 'device', 'out_dir', 'resume')
                   if not hasattr(cfg, k)]:
        raise ValueError(f'grpo.train: config lacks {", ".join(missing)}')  # here, not mid-step
    check_parallel(cfg)
    # float32 master weights (compute still runs under cfg.dtype autocast): a published base arrives
    # in bf16, where an AdamW step of lr 1e-6 on a weight near 0.02 rounds away
    policy.float()
    main = ddp.is_main()  # with several processes, only rank 0 logs, evaluates and saves
    evaluate = evaluate if main else None
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, betas=(0.9, 0.99),
                            weight_decay=cfg.weight_decay)
    ref = copy.deepcopy(policy).eval().requires_grad_(False) if cfg.beta > 0 else None
    start, log, save = open_run(name, cfg, policy, opt, main,
                                **({'ref_model': ref} if ref is not None else {}))
    batches = rollouts(policy, tok, draw_prompts, reward_fn, cfg, start)
    # a few rollouts of every step, for report.py's viewer; a resumed run keeps the earlier steps'
    samples = MetricsLog(os.path.join(cfg.out_dir, 'samples.jsonl') if main else None,
                         resume=start > 0, keep_below=start)
    t_start, recent_signal = time.time(), []
    with StepGuard(name, save, start, log, cfg.ckpt_interval) as guard:
        for step in range(start, cfg.steps):
            lr_now = lr_schedule(step, cfg.lr, cfg.warmup_steps, cfg.steps,
                                 0.1 * cfg.lr if cfg.lr_decay else None)
            for group in opt.param_groups:
                group['lr'] = lr_now
            row = {'step': step}
            evaluated = evaluate is not None and cfg.eval_interval and step % cfg.eval_interval == 0
            if evaluated:
                row.update(evaluate(policy, step))
            if ref is not None and cfg.ref_reset and step > 0 and step % cfg.ref_reset == 0:
                ref.load_state_dict(policy.state_dict())  # the paper resets it every 400 steps
            batch = next(batches)
            t0 = time.time()
            stats = optimize(policy, ref, opt, batch, cfg, step)
            train_s = time.time() - t0
            row.update(_step_metrics(batch, stats, lr_now, train_s))
            log.write(row)
            for sample_row in _sample_rows(batch, tok, step, cfg.log_samples):
                samples.write(sample_row)
            if evaluated and on_eval:
                on_eval()
            recent_signal = (recent_signal + [row['signal']])[-5:]
            elapsed = time.time() - t_start
            eta = elapsed / (step - start + 1) * (cfg.steps - step - 1)
            if main:
                print(f"{name} {step:4d} | reward {row['reward']:.3f} | acc {row['accuracy']:.3f} "
                      f"| fmt {row['format']:.2f} | len {row['mean_len']:5.1f} "
                      f"| refl {row['reflection_rate']:.2f} | kl {row['kl']:.4f} "
                      f"| signal {row['signal']:.2f} | {row['tok_s']:,.0f} tok/s "
                      f"| {elapsed:6.0f}s | ETA {eta:5.0f}s"
                      + (f" | skipped: {stats['skipped']}" if stats['skipped'] else ''), flush=True)
            if main and len(recent_signal) == 5 and max(recent_signal) < 0.1:
                print(f'{name}: WARNING: under 10% of groups carried any signal for 5 steps; '
                      f'GRPO is learning almost nothing. The base may be too weak for these '
                      f'prompts (RL only amplifies what it already does).')
            guard.completed(step)
            if ddp.any_true(guard.stop):  # a Ctrl-C in any process stops all processes at this step
                guard.stop = True
                break
    samples.close()
    if evaluate is not None and cfg.eval_interval:  # the curves' last point, after the last step
        with MetricsLog(os.path.join(cfg.out_dir, 'metrics.jsonl'), resume=True) as final:
            final.write({'step': cfg.steps, **evaluate(policy, cfg.steps)})
        if on_eval:
            on_eval()
    return policy


def _sample_rows(batch, tok, step, n_groups):
    """samples.jsonl rows of n_groups of a step's prompts, spread over the batch (its prompts come
    family after family): each response with its reward and parts (and the problem's id, family
    and language where it has them)."""
    P, rows = len(batch.prompts), []
    picked = torch.linspace(0, P - 1, min(n_groups, P)).round().long() if n_groups and P else []
    for i in torch.isin(batch.group, torch.as_tensor(picked)).nonzero().flatten().tolist():
        g, x, p = int(batch.group[i]), batch.scored[i], batch.problems[i]
        prompt = tok.decode(batch.prompts[g][batch.prompt_mask[g]].tolist())
        rows.append({'step': step, 'group': g, 'id': getattr(p, 'id', None),
                     'family': getattr(p, 'family', None), 'lang': getattr(p, 'lang', None),
                     'prompt': prompt, 'response': batch.texts[i],
                     'reward': batch.rewards[i].item(),
                     'parts': {k: v for k, v in x.items() if k != 'reward'},
                     'correct': x['accuracy'] == 1.0 if 'accuracy' in x else None,
                     'length': int(batch.response_lens[i]), 'stopped': bool(batch.stopped[i]),
                     'reflective': bool(x.get('reflection'))})
    return rows


LOGGED = {'reward', 'accuracy', 'format', 'language', 'reflection'}  # the measures logged by name


def _step_metrics(batch, stats, lr_now, train_s):
    """The metrics.jsonl row of one step (docs/design.md, Contracts)."""
    scored, n = batch.scored, max(1, len(batch.scored))
    # each measure over the responses that carry it (chat rows have no accuracy, for one); 0 when
    # none does: a reward_fn that reports no 'reflection' logs a reflection rate of 0
    mean = lambda k: sum(x[k] for x in scored if k in x) / max(1, sum(k in x for x in scored))
    mask = batch.mask.float()
    n_tok = mask.sum().item()
    n_seq_tok = n_tok + batch.prompt_mask.sum(1)[batch.group].sum().item()  # every row's tokens
    return {
        'reward': batch.rewards.mean().item() if len(batch.rewards) else 0.0,
        'accuracy': mean('accuracy'), 'format': mean('format'), 'language': mean('language'),
        'mean_len': batch.response_lens.sum().item() / n, 'reflection_rate': mean('reflection'),
        'kl': stats['kl'], 'clip_frac': stats['clip_frac'], 'grad_norm': stats['grad_norm'],
        # entropy estimated from the sampled tokens: E[-log p] over the policy's own samples
        'entropy': -(batch.logprobs * mask).sum().item() / max(1.0, n_tok),
        'signal': batch.signal.float().mean().item(), 'lr': lr_now, 'gen_s': batch.gen_s,
        'train_s': train_s, 'tok_s': n_seq_tok / max(1e-9, batch.gen_s + train_s),
        'skipped': stats['skipped'],
        # any other measure reward_fn reports (e.g. a reward model's score, the hidden chat rubric)
        **{k: mean(k) for k in sorted({k for x in scored for k in x} - LOGGED)},
    }
