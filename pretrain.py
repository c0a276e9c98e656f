"""Pretrain the tiny base model that stands in for DeepSeek-V3-Base.

R1-Zero starts from a pretrained base, and RL can only amplify what that base already does
(corpus.py says why). We cannot download one, so this script makes one from scratch:
  1. build the corpus (corpus.py: this world's internet from tasks.py's train problems: careful and
     sloppy traces, direct answers, slips and fixes, language switches, broken tags, chat),
  2. train our own byte-level BPE tokenizer on it (tokenizer.py),
  3. pretrain a small Llama-style transformer (model.py) on next-token prediction,
  4. measure the base (R1-Zero template, held-out math, k samples at T=1) into out/base/eval.json.

  python pretrain.py                    # cpu preset: 6.6 minutes on our 2-core machine
  python pretrain.py --preset=gpu       # tens of millions of parameters, harder problems
  python pretrain.py --max_iters=20 --n_docs=500 --out_dir=/tmp/b  # a quick smoke run
  python pretrain.py --knobs=careful=0.3 --out_dir=out/base_c30    # a world of more careful authors
"""
import os
import time

import numpy as np
import torch

import corpus
import ddp
import evaluation
import tasks
from checkpoint import MetricsLog, save_checkpoint, write_json
from config import (ConfigError, autocast_ctx, configure, get_device, input_errors, print_config,
                    resolve_dtype)
from model import ModelConfig, Transformer, lr_schedule, make_optimizer
from tokenizer import train_tokenizer

# ---- config: plain names, one comment each; override with --key=value -------------------
preset = 'auto'          # 'auto' picks 'gpu' when CUDA is present, else 'cpu'
out_dir = 'out/base'     # run folder: ckpt.pt, tokenizer.json, config.json, metrics, eval.json
seed = 1337              # seeds the corpus, the initial weights and the batch order
knobs = ''               # corpus knob overrides, e.g. 'careful=0.3,sloppy_error=0.4' (corpus.py)
n_docs = 60000           # corpus documents, drawn from the train split only
vocab_size = 1024        # BPE vocabulary, special tokens included
tok_docs = 6000          # documents the tokenizer is trained on
n_layer = 4              # transformer blocks
n_head = 4               # attention heads
n_kv_head = 2            # key/value heads (grouped-query attention)
n_embd = 192             # model width
block_size = 384         # context in tokens (a findx search of ~160 tokens fits after its prompt)
mlp_hidden = 0           # SwiGLU width; 0 = 8/3 * n_embd rounded up to a multiple of 32
qkv_bias = False         # biases on the query/key/value projections (Qwen2 has them, Llama not)
tie_embeddings = True    # share the input embedding and the output matrix
batch_size = 22          # sequences per step (22 x 384: about the tokens of 32 x 256)
max_iters = 640          # optimizer steps
lr = 3e-3                # peak learning rate (small models like large ones)
min_lr = 3e-4            # learning rate at the end of the cosine decay
warmup_iters = 50        # linear warmup steps
weight_decay = 0.1       # AdamW weight decay on matrices
grad_clip = 1.0          # clip the global gradient norm (0 = off)
dtype = 'auto'           # 'float32', 'bfloat16', or 'auto' (bf16 autocast where measured faster)
log_interval = 10        # print a line every this many steps
eval_n = 100             # held-out math problems in the behaviour report (0 = skip it)
eval_k = 8               # samples per problem in the behaviour report
eval_temperature = 1.0   # sampling temperature of the behaviour report
max_new_tokens = 128     # longest response sampled in the report
# -------------------------------------------------------------------------------------------
PRESETS = {'cpu': {},
           'gpu': dict(n_docs=400000, vocab_size=4096, tok_docs=20000, n_layer=8, n_head=8,
                       n_kv_head=4, n_embd=512, block_size=512, batch_size=64, max_iters=6000,
                       lr=1e-3, min_lr=1e-4, eval_n=200, max_new_tokens=256)}
BOUNDS = {'n_docs': (1, None), 'vocab_size': (260, 65536), 'tok_docs': (1, None),
          'n_layer': (1, None), 'n_head': (1, None), 'n_kv_head': (1, None), 'n_embd': (8, None),
          'block_size': (8, None), 'mlp_hidden': (0, None), 'batch_size': (1, None),
          'max_iters': (1, None), 'lr': (0, 1), 'min_lr': (0, 1), 'warmup_iters': (0, None),
          'weight_decay': (0, None), 'grad_clip': (0, None), 'log_interval': (1, None),
          'eval_n': (0, None), 'eval_k': (1, None), 'eval_temperature': (0, 10),
          'max_new_tokens': (1, None)}
CHOICES = {'preset': ('auto', 'cpu', 'gpu'), 'dtype': ('auto', 'float32', 'bfloat16')}


def parse_knobs(text):
    """corpus.CorpusKnobs with --knobs overrides ('careful=0.3,sloppy_error=0.4'), so a world
    variant is a command, not an edit. Values take their knob's type; floats are probabilities."""
    knobs = corpus.CorpusKnobs()
    numeric = [k for k, v in vars(knobs).items() if type(v) in (int, float)]
    for item in filter(None, (t.strip() for t in text.split(','))):
        name, eq, value = (x.strip() for x in item.partition('='))
        if not eq or name not in numeric:
            raise ConfigError(f'--knobs: {item!r} is not name=value with name a corpus knob '
                              f'({", ".join(numeric)})')
        kind = type(getattr(knobs, name))
        try:
            v = kind(value)
        except ValueError:
            need = 'an integer' if kind is int else 'a number'
            raise ConfigError(f'--knobs: {name} needs {need}, got {value!r}') from None
        if not (0 <= v <= 1 if kind is float else v >= 0):
            raise ConfigError(f"--knobs: {name}={value} is out of range "
                              f"({'0..1' if kind is float else '>= 0'})")
        setattr(knobs, name, v)
    if knobs.direct + knobs.careful > 1:
        raise ConfigError(f'--knobs: direct + careful = {knobs.direct + knobs.careful:g} > 1 '
                          'leaves no share for the sloppy style')
    if knobs.findx_direct + knobs.findx_one_try > 1:
        raise ConfigError(f'--knobs: findx_direct + findx_one_try = '
                          f'{knobs.findx_direct + knobs.findx_one_try:g} > 1 '
                          'leaves no share for the search style')
    return knobs


def build_data(cfg, knobs):
    """Corpus -> tokenizer -> one long token stream (documents separated by the end token)."""
    t0 = time.time()
    print('corpus knobs:', ', '.join(f'{k}={v}' for k, v in vars(knobs).items()))
    docs = corpus.build_corpus(cfg.n_docs, cfg.seed, knobs, cfg.preset)
    tok = train_tokenizer(docs[:cfg.tok_docs], cfg.vocab_size)
    ids = tok.encode_batch(docs)
    stream = np.fromiter((t for d in ids for t in d + [tok.eot_id]), dtype=np.int32)
    print(f'corpus: {len(docs)} docs, {len(stream) / 1e6:.2f}M tokens '
          f'({sum(map(len, docs)) / len(stream):.2f} chars/token), '
          f'built in {time.time() - t0:.1f}s')
    return tok, torch.from_numpy(stream.astype(np.int64))


def main(argv=None):
    cfg = configure(globals(), argv, presets=PRESETS, bounds=BOUNDS, choices=CHOICES)
    knobs = parse_knobs(cfg.knobs)  # before any work: a typo fails now
    ddp.init()  # under torchrun: each process trains on its slice of every batch (ddp.py)
    main = ddp.is_main()  # rank 0 alone prints, writes and evaluates
    if main:
        print_config(cfg)
    device = get_device()
    dt = resolve_dtype(cfg.dtype, device)
    torch.manual_seed(cfg.seed)
    if main:  # (write_json makes out_dir; the other processes write nothing)
        write_json(os.path.join(cfg.out_dir, 'config.json'), cfg)
    tok, data = build_data(cfg, knobs)  # each process builds the same corpus and tokenizer (seeded)
    if main:
        tok.save(os.path.join(cfg.out_dir, 'tokenizer.json'))
    n_val = max(cfg.block_size + 1, len(data) // 50)  # last 2% of the stream: unseen train docs
    train, val = data[:-n_val], data[-n_val:]
    if len(train) <= cfg.block_size + 1:
        raise ConfigError(f'--n_docs={cfg.n_docs}: the corpus is too small for '
                          f'--block_size={cfg.block_size}')
    mcfg = ModelConfig(vocab_size=tok.vocab_size, n_layer=cfg.n_layer, n_head=cfg.n_head,
                       n_kv_head=cfg.n_kv_head, n_embd=cfg.n_embd, block_size=cfg.block_size,
                       mlp_hidden=cfg.mlp_hidden or None, qkv_bias=cfg.qkv_bias,
                       tie_embeddings=cfg.tie_embeddings)
    model = Transformer(mcfg).to(device)
    print(f'model: {model.num_params() / 1e6:.2f}M parameters, dtype {dt}, device {device}')
    opt = make_optimizer(model, cfg.lr, cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    log = MetricsLog(os.path.join(cfg.out_dir, 'metrics.jsonl') if main else None)

    def batch(src):
        ix = torch.randint(len(src) - cfg.block_size - 1, (cfg.batch_size,), generator=gen)
        x = torch.stack([src[i:i + cfg.block_size] for i in ix])  # (B, T)
        y = torch.stack([src[i + 1:i + 1 + cfg.block_size] for i in ix])  # (B, T)
        return x.to(device), y.to(device)
    t_start = time.time()
    for it in range(cfg.max_iters):
        lr_now = lr_schedule(it, cfg.lr, cfg.warmup_iters, cfg.max_iters, cfg.min_lr)
        for group in opt.param_groups:
            group['lr'] = lr_now
        x, y = batch(train)  # the global batch: every process draws it, then takes its rows
        mine = ddp.shard(len(x))
        x, y = x[mine], y[mine]
        with autocast_ctx(device, dt):
            logits = model(x)  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(logits.float().view(-1, logits.size(-1)),
                                                 y.view(-1))
        opt.zero_grad(set_to_none=True)
        (loss * (len(x) / cfg.batch_size)).backward()  # summed over processes: global batch mean
        ddp.sum_grads(model)
        loss = ddp.all_sum(loss.item() * len(x) / cfg.batch_size)
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        elapsed = time.time() - t_start
        tok_s = (it + 1) * cfg.batch_size * cfg.block_size / elapsed
        log.write({'step': it, 'loss': loss, 'lr': lr_now, 'tok_s': tok_s, 'elapsed': elapsed})
        if main and (it % cfg.log_interval == 0 or it == cfg.max_iters - 1):
            eta = elapsed / (it + 1) * (cfg.max_iters - it - 1)
            print(f'step {it:5d} | loss {loss:.4f} | lr {lr_now:.2e} | {tok_s:,.0f} tok/s | '
                  f'{elapsed:6.1f}s | ETA {eta:5.1f}s')
    log.close()
    if not main:
        return model, tok
    model.eval()
    with torch.no_grad():
        x, y = batch(val)
        val_loss = torch.nn.functional.cross_entropy(model(x).float().view(-1, tok.vocab_size),
                                                     y.view(-1)).item()
    ckpt = os.path.join(cfg.out_dir, 'ckpt.pt')
    save_checkpoint(ckpt, model, step=cfg.max_iters, config=vars(cfg), val_loss=val_loss)
    print(f'val loss {val_loss:.4f}; saved {ckpt} after {time.time() - t_start:.0f}s of training')
    if cfg.eval_n > 0:  # the base under the R1-Zero template on held-out math: what RL works with
        probs = tasks.eval_set('math', cfg.eval_n, preset=cfg.preset)
        report = evaluation.evaluate(model, tok, probs, k=cfg.eval_k,
                                     temperature=cfg.eval_temperature, top_p=None,
                                     max_new_tokens=cfg.max_new_tokens,
                                     save_to=(cfg.out_dir, 'base'))
        print(f"behaviour of the base (held-out math, k={cfg.eval_k}, T={cfg.eval_temperature}):")
        print(evaluation.format_block('base', report))
        write_json(os.path.join(cfg.out_dir, 'eval.json'), {'models': {'base': {
            'step': cfg.max_iters, 'checkpoint': ckpt, 'tasks': report}}})
    return model, tok


if __name__ == '__main__':
    with input_errors():
        main()
    ddp.finish()  # all processes leave together (ddp.py)
