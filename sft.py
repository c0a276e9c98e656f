"""SFT: the one supervised fine-tuning loop, and rejection sampling, the data it is fed.

Every stage that fine-tunes calls train(): R1's cold start (2.3.1), SFT on rejection-sampled data
(2.3.3) and distillation (2.4). The loss is next-token prediction on the response tokens and the end
token after them; the prompt is context, masked out of the loss (docs/design.md, Supervised stages).

Rejection sampling (2.3.3; also R1's cold start and distill.py's teacher data): sample k responses
per prompt, keep the correct ones not mixed-language, over-long or repetitive; report keep rates.

Data file (CLI): JSON lines {"prompt": "...", "response": "..."}; the prompt is the full text
the model sees (the R1-Zero template already applied) and the response what should follow.

  python sft.py --data=out/r1/rejection_sft/data.jsonl --init=out/base --out_dir=out/sft
  python sft.py --help

What we chose: padding (right-padded batches, one permutation per epoch) rather than packing:
examples are short and of similar length here, so padding wastes little and keeps one example
per row, which the loss mask needs anyway. A cosine schedule with warmup, as pretraining."""
import json
import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass

import torch

import ddp
import rewards
from checkpoint import MetricsLog, StepGuard, load_model, open_run, write_json, write_jsonl
from config import (ConfigError, InputError, Key, Options, autocast_ctx, configure, get_device,
                    input_errors, print_config, resolve_dtype)
from kernels.logprobs import IGNORE_INDEX, selective_logprobs
from model import lr_schedule, make_optimizer
from sample import rollout_texts

# ---- config: plain names, one comment each; override with --key=value -------------------
# This script's own keys; the loop's (--epochs, --lr, ...) are OPTIONS below (--help lists all).
init = 'out/base'        # run folder (or ckpt.pt) of the model to fine-tune
data = ''                # JSON-lines file of {"prompt": ..., "response": ...} examples
out_dir = 'out/sft'      # run folder of this fine-tune
resume = False           # continue from out_dir/ckpt.pt
# -------------------------------------------------------------------------------------------

# The loop's settings, defined once; train_r1.py and distill.py change a few (OPTIONS.settings).
OPTIONS = Options({
    'epochs': Key(2.0, 'passes over the data (fractions allowed)', (0, None)),
    'batch_size': Key(16, 'examples per optimizer step', (1, None)),
    'lr': Key(3e-4, 'peak learning rate', (0, 1)),
    'min_lr': Key(3e-5, 'learning rate at the end of the cosine decay', (0, 1)),
    'warmup_steps': Key(10, 'linear warmup steps', (0, None)),
    'weight_decay': Key(0.0, 'AdamW weight decay on matrices', (0, None)),
    'grad_clip': Key(1.0, 'clip the global gradient norm (0 = off)', (0, None)),
    'log_interval': Key(10, 'print a line every this many steps', (1, None)),
    'ckpt_interval': Key(0, 'steps between checkpoints (0 = only at the end)', (0, None)),
    'seed': Key(0, 'seeds the order of the examples'),
    'dtype': Key('auto', "'float32', 'bfloat16', or 'auto' (bfloat16 where measured faster)",
                 choices=('auto', 'float32', 'bfloat16')),
    'kernels': Key('auto', "log-prob path: 'auto' (Triton on CUDA, torch on CPU), 'torch', "
                   "'triton'", choices=('auto', 'torch', 'triton')),
})


# ---- Examples -> token rows -> padded batches with the prompt masked.

def encode_examples(tok, examples, block_size):
    """(prompt, response) pairs -> (ids, n_prompt) rows, encoded apart and joined as the sampler
    sees them (no BPE merge crosses the seam), then the end token, so the model learns to stop."""
    rows = []
    for i, (prompt, response) in enumerate(examples):
        if (not isinstance(prompt, str) or not isinstance(response, str)
                or not prompt or not response):
            raise ValueError(f'example {i}: prompt and response must be non-empty strings')
        p, r = tok.encode(prompt), tok.encode(response) + [tok.eot_id]
        if len(p) + len(r) > block_size + 1:
            raise ValueError(f'example {i}: {len(p) + len(r)} tokens do not fit the model context '
                             f'({block_size}); filter long examples first '
                             f'(rejection_sample max_tokens)')
        rows.append((p + r, len(p)))
    return rows


def collate(rows, pad_id):
    """Right-padded x (B, T) and targets y: x shifted by one, IGNORE_INDEX outside the responses."""
    T = max(len(ids) for ids, _ in rows) - 1
    x = torch.full((len(rows), T), pad_id, dtype=torch.long)
    y = torch.full((len(rows), T), IGNORE_INDEX, dtype=torch.long)
    for b, (ids, n_prompt) in enumerate(rows):
        t = torch.tensor(ids)
        x[b, :len(ids) - 1] = t[:-1]
        y[b, n_prompt - 1:len(ids) - 1] = t[n_prompt:]  # the response tokens and the end token
    return x, y


def sft_loss(model, x, y, kernels='auto', n=None):
    """Mean negative log-likelihood of the unmasked targets (log-probs from kernels/). n: the
    number of targets to divide by, when x is one process's share of a larger batch (ddp.py)."""
    logp = selective_logprobs(model(x), y, backend=kernels)  # (B, T); 0 where masked
    n = (y != IGNORE_INDEX).sum() if n is None else n
    if n == 0:
        raise ValueError('a batch with no response tokens: every target is masked')
    return -logp.sum() / n


def read_examples(path):
    """Examples from a JSON-lines file, with the line number of any malformed one."""
    if not os.path.exists(path):
        raise FileNotFoundError(f'no SFT data at {path}')
    out = []
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                out.append((row['prompt'], row['response']))
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise InputError(f'{path}:{n}: not a {{"prompt", "response"}} JSON object '
                                 f'({e})') from None
    if not out:
        raise InputError(f'{path}: no examples')
    return out


def write_examples(path, examples):
    """The pairs as the JSON lines read_examples reads, written atomically."""
    write_jsonl(path, [{'prompt': p, 'response': r} for p, r in examples])


# ---- The loop.

def train(model, tok, examples, cfg, *, evaluate=None, eval_interval=0, name='sft'):
    """Fine-tune `model` in place on (prompt, response) pairs; write out_dir/ckpt.pt, metrics.jsonl.
    evaluate(model, step) -> dict joins that step's metrics row every eval_interval steps and after
    the last. Resumes bit-identically: the example order is a function of (seed, epoch)."""
    missing = [k for k in (*OPTIONS.keys, 'device', 'out_dir', 'resume') if not hasattr(cfg, k)]
    if missing:
        raise ValueError(f'sft.train: config lacks {", ".join(missing)}')
    rows = encode_examples(tok, examples, model.config.block_size)
    if not rows:
        raise ValueError(f'{name}: no examples to fine-tune on')
    main = ddp.is_main()  # with several processes, only rank 0 logs, evaluates and saves
    if not main:
        evaluate = None
    if any(p.dtype != torch.float32 for p in model.parameters()):
        model.float()  # float32 master weights for a bf16 base (see grpo.train)
    per_epoch = math.ceil(len(rows) / cfg.batch_size)
    steps = max(1, round(per_epoch * cfg.epochs))
    device, dt = cfg.device, cfg.dtype
    opt = make_optimizer(model, cfg.lr, cfg.weight_decay)
    start, log, save = open_run(name, cfg, model, opt, main)
    print(f'{name}: {len(rows)} examples, {steps} steps of {cfg.batch_size} ({cfg.epochs} epochs)')
    order, order_epoch = None, -1
    model.train()
    t0 = time.time()
    with StepGuard(name, save, start, log, cfg.ckpt_interval) as guard:
        for step in range(start, steps):
            epoch, i = divmod(step, per_epoch)
            if epoch != order_epoch:
                g = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
                order, order_epoch = torch.randperm(len(rows), generator=g).tolist(), epoch
            lr_now = lr_schedule(step, cfg.lr, cfg.warmup_steps, steps, cfg.min_lr)
            for group in opt.param_groups:
                group['lr'] = lr_now
            row = {'step': step}
            if evaluate is not None and eval_interval and step % eval_interval == 0:
                row.update(evaluate(model, step))
                model.train()
            batch_rows = [rows[j] for j in order[i * cfg.batch_size:(i + 1) * cfg.batch_size]]
            mine = batch_rows[ddp.shard(len(batch_rows))]  # our share (all of it in one process)
            n_tok = ddp.all_sum(sum(len(ids) - n_prompt for ids, n_prompt in mine))  # global count
            opt.zero_grad(set_to_none=True)
            loss = torch.zeros(())
            if mine:  # a last short batch can leave a process with nothing: it adds a zero gradient
                x, y = collate(mine, tok.pad_id)
                x, y = x.to(device), y.to(device)
                with autocast_ctx(device, dt):
                    loss = sft_loss(model, x, y, cfg.kernels, n=n_tok if ddp.world() > 1 else None)
                loss.backward()  # non-finite loss -> non-finite grad norm below, on every process
            ddp.sum_grads(model)
            loss = ddp.all_sum(loss.item())
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or float('inf'))
            skipped = None if math.isfinite(loss) and torch.isfinite(norm) else 'nonfinite'
            if skipped:  # never let one bad batch write NaN into the weights
                opt.zero_grad(set_to_none=True)
                if main:
                    print(f'{name} {step}: non-finite loss or gradient, optimizer step skipped')
            else:
                opt.step()
            elapsed = time.time() - t0
            row.update({'loss': loss, 'lr': lr_now, 'epoch': epoch, 'elapsed': elapsed,
                        'skipped': skipped, 'grad_norm': None if skipped else norm.item(),
                        'tokens': int(n_tok)})
            log.write(row)
            if main and (step % cfg.log_interval == 0 or step == steps - 1):
                eta = elapsed / (step - start + 1) * (steps - step - 1)
                print(f'{name} {step:5d} | loss {loss:.4f} | lr {lr_now:.2e} | epoch {epoch} | '
                      f'{elapsed:6.1f}s | ETA {eta:5.1f}s')
            guard.completed(step)
            if ddp.any_true(guard.stop):  # a Ctrl-C in any process stops all processes at this step
                guard.stop = True
                break
    model.eval()
    if evaluate is not None:
        with MetricsLog(os.path.join(cfg.out_dir, 'metrics.jsonl'), resume=True) as final:
            final.write({'step': steps, **evaluate(model, steps)})
    return model


# ---- Rejection sampling (R1 2.3.3): the one place SFT data is filtered.

@dataclass
class Kept:
    examples: list                    # (prompt, response) pairs that passed every filter
    problems: list                    # the problem of each kept example
    report: dict                      # per filter: samples in, samples kept, keep rate


def filter_samples(problems, prompts, samples, *, max_tokens=None, per_prompt=1, extra=None):
    """Filters, in order: correct (accuracy 1, so well-formed), ended (not cut off), single-language
    (no reasoning word outside the prompt's language), not over-long (max_tokens), not repetitive,
    and the caller's `extra=(name, keep(text, problem))` if given; then <= `per_prompt` distinct
    responses per prompt, longest first (the long chains of thought R1's cold start collects)."""
    flat = [(i, text, n, ended) for i, rows in enumerate(samples) for text, n, ended in rows]
    scored = rewards.score([t for _, t, _, _ in flat], [problems[i] for i, _, _, _ in flat], 'zero',
                           [e for _, _, _, e in flat])
    filters = [
        ('correct', lambda i, t, n, e, s: s['accuracy'] == 1.0),
        ('ended', lambda i, t, n, e, s: e),
        ('single_language', lambda i, t, n, e, s: not rewards.is_mixed(t, problems[i].lang)),
        ('not_overlong', lambda i, t, n, e, s: max_tokens is None or n <= max_tokens),
        ('not_repetitive', lambda i, t, n, e, s: not rewards.is_repetitive(t)),
    ]
    if extra is not None:
        filters.append((extra[0], lambda i, t, n, e, s: extra[1](t, problems[i])))
    alive = list(zip(flat, scored))
    report = {'samples': len(flat)}
    for fname, keep in filters:
        before = len(alive)
        alive = [(f, s) for f, s in alive if keep(*f, s)]
        report[fname] = {'in': before, 'kept': len(alive),
                         'rate': len(alive) / before if before else 0.0}
    by_prompt = {}
    for (i, text, n, _), _ in alive:
        by_prompt.setdefault(i, {}).setdefault(text.strip(), n)  # distinct responses only
    examples, kept_problems = [], []
    for i in sorted(by_prompt):
        for text, _ in sorted(by_prompt[i].items(), key=lambda tn: -tn[1])[:per_prompt]:
            examples.append((prompts[i], ' ' + text))
            kept_problems.append(problems[i])
    report['kept_examples'] = len(examples)
    report['prompts_with_one'] = len(by_prompt) / max(1, len(problems))
    report['per_family'] = dict(Counter(p.family for p in kept_problems))
    return Kept(examples, kept_problems, report)


def fitting(tok, examples, max_tokens):
    """Examples whose response (+ end token) fits max_tokens under `tok`: what can be sampled."""
    return [(p, r) for p, r in examples if len(tok.encode(r)) + 1 <= max_tokens]


def rejection_sample(model, tok, problems, k, *, render, temperature=1.0, max_new_tokens=128,
                     seed=0, **filters):
    """Sample k responses per problem from `model` and keep what filter_samples keeps."""
    prompts = [render(p) for p in problems]
    model.eval()
    samples = rollout_texts(model, tok, prompts, k, temperature=temperature,
                            max_new_tokens=max_new_tokens, seed=seed)
    return filter_samples(problems, prompts, samples, **filters)


def format_report(report):
    parts = [f"{report['samples']} samples"]
    parts += [f"{k} {v['rate']:.0%}" for k, v in report.items()
              if isinstance(v, dict) and 'rate' in v]
    return ' -> '.join(parts) + f" -> {report['kept_examples']} examples"


def main(argv=None):
    cfg = configure(globals(), argv, options=OPTIONS)
    ddp.init()  # under torchrun: each process fine-tunes on its slice of every batch (ddp.py)
    cfg.device = get_device()
    cfg.dtype = resolve_dtype(cfg.dtype, cfg.device)
    print_config(cfg)
    if not cfg.data:
        raise ConfigError('--data=<file.jsonl> is required (JSON lines of {"prompt", "response"})')
    examples = read_examples(cfg.data)
    model, tok = load_model(cfg.init, cfg.device)
    if ddp.is_main():
        write_json(os.path.join(cfg.out_dir, 'config.json'), cfg)  # (makes out_dir)
        tok.save(os.path.join(cfg.out_dir, 'tokenizer.json'))
    train(model, tok, examples, cfg)
    print(f"saved {os.path.join(cfg.out_dir, 'ckpt.pt')}")


if __name__ == '__main__':
    with input_errors():
        main(sys.argv[1:])
    ddp.finish()  # all processes leave together (ddp.py)
