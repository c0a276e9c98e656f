"""Batched sampling with a preallocated KV cache: the rollouts of RL and the decoding of evaluation.

How `sample` works (as nanochat's engine): the distinct prompts are left-padded into one batch and
prefilled once; the cache is copied to each prompt's G samples; decoding is one token per step, each
row stopping at its own stop token. Finished rows leave the batch (their cache rows with them), so a
batch of 20- to 190-token rows stops paying for its longest one. All randomness comes from an
explicit `torch.Generator`, never the global RNG: each step draws one uniform per sample and picks
the token where the cumulative probability passes it (inverse-CDF sampling), so a sample's tokens do
not depend on the other rows in the batch and rollouts are reproducible from a seed.

  from sample import generate
  outs = generate(model, [tok.encode('1 + 2 =')], 32, num_samples=4, seed=0, stop_ids=(tok.eot_id,))

From the command line (the tokenizer.json beside the checkpoint is used):

  python sample.py --ckpt=out/zero/ckpt.pt --prompt="What is 3 + 4?" --num_samples=4
"""
import time
from collections import namedtuple
from dataclasses import dataclass

import torch

from checkpoint import load_model
from config import InputError, autocast_ctx, configure, get_device, input_errors
from model import KVCache, Transformer


@dataclass
class Samples:
    """N = P * G samples of P prompts, prompt-major: the layout GRPO's update reads (grpo.Batch)."""
    prompts: torch.Tensor        # (P, Lp) long: the distinct prompts, left-padded
    prompt_mask: torch.Tensor    # (P, Lp) bool: True on real prompt tokens
    group: torch.Tensor          # (N,) long: the prompt sample n answers (n // G)
    responses: torch.Tensor      # (N, Lr) long: right-padded, a stop token included; Lr = longest
    mask: torch.Tensor           # (N, Lr) bool: True on response tokens
    logprobs: torch.Tensor       # (N, Lr) float32: log-prob each token was drawn with, 0 on padding
    response_lens: torch.Tensor  # (N,) long
    stopped: torch.Tensor        # (N,) bool: ended with a stop token, not the length limit


def filter_logits(logits, top_k=None, top_p=None):
    """Set logits outside the top-k, then outside the top-p nucleus, to -inf. logits (N, V)."""
    if top_k is not None and top_k < logits.shape[-1]:
        kept = torch.full_like(logits, float('-inf'))
        idx = logits.topk(top_k, dim=-1).indices  # (N, k): exactly k kept, even with ties
        logits = kept.scatter(-1, idx, logits.gather(-1, idx))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)  # (N, V)
        probs = sorted_logits.softmax(-1)
        # keep the smallest prefix whose mass reaches top_p: drop a token once the mass
        # before it already does; the top token (mass before it = 0) always stays
        drop = probs.cumsum(-1) - probs >= top_p
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float('-inf')))
    return logits


def _pick(logits, temperature, top_k, top_p, u):
    """Each row's next token and its log-prob. logits (N, V) float32, u (N,) uniforms in [0, 1)."""
    if temperature == 0:  # greedy; its log-prob is under the plain (temperature 1) distribution
        tok = logits.argmax(-1)  # (N,)
        logp = logits.log_softmax(-1)
    else:
        scaled = logits / temperature
        logp = scaled.log_softmax(-1)  # unfiltered: the distribution the trainer recomputes
        probs = filter_logits(scaled, top_k, top_p).softmax(-1)  # (N, V)
        cdf = probs.cumsum(-1)
        # the first token whose cumulative probability exceeds u * total: a filtered token adds
        # nothing to the sum, so is never first. u * total can round up to the total (~1 in 2^24
        # draws) and a CUDA cumsum need not be monotone: then the top token, not a filtered one.
        tok = (torch.searchsorted(cdf, u[:, None] * cdf[:, -1:], right=True)
               .clamp(max=cdf.shape[-1] - 1))  # (N, 1)
        tok = torch.where(probs.gather(-1, tok) > 0, tok,
                          scaled.argmax(-1, keepdim=True)).squeeze(-1)  # (N,)
    return tok, logp.gather(-1, tok[:, None]).squeeze(-1)


# Finished rows leave the batch once a quarter of the rows have finished: dropping rows copies the
# cache, so doing it at every stop would cost more than the decoding it saves (bench.py sampler).
COMPACT_AT = 0.75

_compiled = {}  # device type -> torch.compile(Transformer._decode), built on first use


def compiled_decode(device_type):
    """The decode step compiled by torch.compile, once per process and device type: the sampler's
    one-token steps cost little arithmetic at our sizes and many small operator calls (bench.py
    sampler: a batch-8 step of the 7M model is 3.4 ms, its matrix products 1.0 ms). Inductor fuses
    those calls into a few C++ loops (on CPU, called from C++ without Python). Dynamic shapes
    (batch, cache length) let rows leave and prompt lengths change without recompiling; the cost is
    the first call's compilation (tens of seconds on 2 cores), so `compile` is off by default."""
    if device_type not in _compiled:
        options = {'cpp_wrapper': True} if device_type == 'cpu' else {}
        _compiled[device_type] = torch.compile(Transformer._decode, dynamic=True, fullgraph=True,
                                               options=options)
    return _compiled[device_type]


def sample(model, prompts, max_new_tokens, *, temperature=1.0, top_k=None, top_p=None, stop_ids=(),
           num_samples=1, seed=None, generator=None, pad_id=0, use_cache=True, compact=True,
           shard=None, compile=False):
    """Sample `num_samples` continuations of each prompt (lists of token ids); return `Samples`.

    use_cache=False recomputes the sequence each step and compact=False keeps finished rows (tests,
    bench.py); compile=True runs compiled_decode. None changes the tokens, bar a rounding tie.
    shard=(offset, total): these N samples are rows offset..offset+N-1 of a batch of `total` drawn
    with the same seed (ddp.py); each row gets the random numbers one process would give it."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError('sample needs at least one prompt, and every prompt at least one token')
    if max_new_tokens < 1 or num_samples < 1:
        raise ValueError(f'max_new_tokens ({max_new_tokens}) and num_samples ({num_samples}) '
                         f'must be >= 1')
    if (temperature < 0 or (top_k is not None and top_k < 1)
            or (top_p is not None and not 0 < top_p <= 1)):
        raise InputError(f'bad sampling settings: temperature={temperature} top_k={top_k} '
                         f'top_p={top_p}')
    if seed is not None and generator is not None:
        raise ValueError('pass seed or generator, not both')
    device = model.embed_tokens.weight.device
    if generator is None:
        generator = torch.Generator(device)
        if seed is None:
            generator.seed()  # fresh entropy from the OS, still without touching the global RNG
        else:
            generator.manual_seed(seed)
    P, G = len(prompts), num_samples
    N = P * G
    offset, total = shard or (0, N)
    if offset < 0 or offset + N > total:
        raise ValueError(f'shard={shard}: {N} samples do not fit')
    plens = torch.tensor([len(p) for p in prompts], device=device)  # (P,)
    Lp = int(plens.max())
    if Lp + max_new_tokens > model.config.block_size:
        raise InputError(f'longest prompt ({Lp}) + max_new_tokens ({max_new_tokens}) exceeds '
                         f'block_size {model.config.block_size}')
    x = torch.full((P, Lp), pad_id, dtype=torch.long, device=device)  # left-padded prompts
    for i, p in enumerate(prompts):
        x[i, Lp - len(p):] = torch.tensor(p, dtype=torch.long)
    real = torch.arange(Lp, device=device)[None] >= (Lp - plens)[:, None]  # (P, Lp) prompt tokens
    stop = torch.tensor(list(stop_ids), dtype=torch.long, device=device)
    out = torch.full((N, max_new_tokens), pad_id, dtype=torch.long, device=device)
    out_lp = torch.zeros(N, max_new_tokens, device=device)
    response_lens = torch.zeros(N, dtype=torch.long, device=device)
    stopped = torch.zeros(N, dtype=torch.bool, device=device)
    rows = torch.arange(N, device=device)  # the sample each batch row decodes
    live = torch.ones(N, dtype=torch.bool, device=device)  # batch rows not yet finished
    step = compiled_decode(device.type) if compile and use_cache else None
    with torch.inference_mode():
        if use_cache:
            cache = KVCache.for_model(model, P, Lp + max_new_tokens)
            h = model(x, kv_cache=cache, pad_mask=real, return_hidden=True)[:, -1]  # (P, C)
            cache.select(torch.arange(P, device=device).repeat_interleave(G))  # to the G samples
            logits = model.lm_head(h).float().repeat_interleave(G, dim=0)  # (N, V)
        else:
            seq, seq_real = x.repeat_interleave(G, dim=0), real.repeat_interleave(G, dim=0)
            logits = model(seq, pad_mask=seq_real)[:, -1]
        for t in range(max_new_tokens):
            # one per sample, used or not
            u = torch.rand(total, generator=generator, device=device)[offset:offset + N]
            tok, lp = _pick(logits, temperature, top_k, top_p, u[rows])
            tok = tok.masked_fill(~live, pad_id)  # a finished row still in the batch emits pad
            out[rows, t], out_lp[rows, t] = tok, lp.masked_fill(~live, 0.0)
            response_lens[rows] += live
            hit = live & torch.isin(tok, stop)
            stopped[rows] |= hit
            live &= ~hit
            n_live = int(live.sum())
            if t == max_new_tokens - 1 or n_live == 0:
                break
            if use_cache:
                if compact and n_live <= COMPACT_AT * len(rows):
                    keep = live.nonzero().squeeze(1)
                    rows, tok, live = rows[keep], tok[keep], live[keep]
                    cache.keep(keep)
                # finished rows still in the batch feed pad marked not real: nobody reads them
                logits = model.decode_step(tok, cache, live, step)
            else:
                seq = torch.cat([seq, tok[:, None]], 1)  # (N, Lp + t + 1)
                seq_real = torch.cat([seq_real, live[:, None]], 1)
                logits = model(seq, pad_mask=seq_real)[:, -1]
    Lr = int(response_lens.max())  # the decoding buffers, cut to the longest response
    return Samples(x, real, torch.arange(P, device=device).repeat_interleave(G), out[:, :Lr],
                   torch.arange(Lr, device=device) < response_lens[:, None], out_lp[:, :Lr],
                   response_lens, stopped)


def response_texts(samples, tok):
    """Each sample's response as text, without the end token, for the rewards and evaluation."""
    return [tok.decode(ids[:n - stop]) for ids, n, stop in zip(
        samples.responses.tolist(), samples.response_lens.tolist(), samples.stopped.tolist())]


def generate(model, prompts, max_new_tokens, *, temperature=1.0, top_k=None, top_p=None,
             stop_ids=(), num_samples=1, seed=None, use_cache=True, compile=False):
    """Each sample's new tokens (a stop token included if emitted), prompt-major."""
    s = sample(model, prompts, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
               stop_ids=stop_ids, num_samples=num_samples, seed=seed, use_cache=use_cache,
               compile=compile)
    return [ids[:n] for ids, n in zip(s.responses.tolist(), s.response_lens.tolist())]


# a decoded response (no end token), its length in tokens, whether it ended (not cut at the limit)
Rollout = namedtuple('Rollout', 'text tokens ended')


def rollout_texts(model, tok, prompts, k, *, temperature, top_p=None, max_new_tokens=128, seed=0,
                  batch_prompts=32):
    """k Rollouts per prompt string (a list per prompt), for evaluation and rejection sampling."""
    out = []
    for i in range(0, len(prompts), batch_prompts):
        chunk = [tok.encode(p) for p in prompts[i:i + batch_prompts]]
        s = sample(model, chunk, max_new_tokens, temperature=temperature, top_p=top_p,
                   stop_ids=(tok.eot_id,), num_samples=k, seed=seed + i, pad_id=tok.pad_id)
        rows = list(map(Rollout, response_texts(s, tok), s.response_lens.tolist(),
                        s.stopped.tolist()))
        out += [rows[j * k:(j + 1) * k] for j in range(len(chunk))]
    return out


if __name__ == '__main__':
    from tasks import TEMPLATE  # the command line's own need: tasks is a layer above the sampler

    ckpt = 'out/zero/ckpt.pt'  # checkpoint (tokenizer.json beside it) or a Hugging Face folder
    prompt = 'Compute 3 + 4'   # the question
    template = True            # wrap the question in the R1-Zero template (paper Table 1)
    num_samples = 4            # samples of the prompt
    max_new_tokens = 256       # length limit of each sample
    temperature = 1.0          # 0 = greedy
    top_k = 0                  # keep only the k most likely tokens; 0 = off
    top_p = 1.0                # nucleus sampling mass; 1.0 = off
    seed = 1337                # sampling seed
    device = 'auto'            # 'auto' = cuda, then mps, then cpu
    dtype = 'float32'          # 'float32', 'bfloat16' or 'float16' (autocast)
    with input_errors():  # a bad key or model: one line naming it, exit status 2
        cfg = configure(globals(),
                        bounds={'num_samples': (1, None), 'max_new_tokens': (1, None),
                                'temperature': (0, None), 'top_k': (0, None), 'top_p': (0, 1)},
                        choices={'dtype': ('float32', 'bfloat16', 'float16'),
                                 'device': ('auto', 'cpu', 'cuda', 'mps')})
        device = get_device() if cfg.device == 'auto' else cfg.device
        model, tok = load_model(cfg.ckpt, device)
        prompt = TEMPLATE.format(prompt=cfg.prompt) if cfg.template else cfg.prompt
        t0 = time.time()
        with autocast_ctx(device, cfg.dtype):
            outs = generate(model, [tok.encode(prompt)], cfg.max_new_tokens,
                            temperature=cfg.temperature, top_k=cfg.top_k or None, top_p=cfg.top_p,
                            stop_ids=(tok.eot_id,), num_samples=cfg.num_samples, seed=cfg.seed)
        for i, o in enumerate(outs):
            print(f'--- sample {i} ({len(o)} tokens)\n{prompt}{tok.decode(o)}')
        print(f'--- {sum(map(len, outs))} tokens in {time.time() - t0:.2f}s')
