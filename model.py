"""A decoder-only transformer from scratch, in the Llama / Qwen2 family.

RMSNorm, rotary position embeddings (Llama and Qwen2's "rotate_half" convention), grouped-query
attention via `scaled_dot_product_attention`, a SwiGLU MLP, optional q/k/v biases (Qwen2's),
optional tied embeddings, no dropout. Modules are named as in Hugging Face's Qwen2 (`lm_head`,
`embed_tokens`, `layers.N.self_attn.q_proj`, ...), so a real Qwen2 state dict loads without its
`model.` prefix: "point it at a real base model" changes inputs, not code (docs/design.md Layering).

`KVCache` lives here because attention writes into it. Preallocated for a batch and a maximum
length, it takes left-padded ragged prompts (rotary positions count real tokens only); its rows
can be selected: each prompt is prefilled once for its G samples, finished rows leave (sample.py).

    cfg = ModelConfig(vocab_size=2048, n_layer=4, n_head=4, n_kv_head=2, n_embd=128,
                      block_size=256)
    model = Transformer(cfg)
    logits = model(idx)  # (B, T, vocab), plain causal attention at positions 0..T-1
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ModelConfig:
    vocab_size: int
    n_layer: int
    n_head: int              # query heads
    n_kv_head: int           # key/value heads; n_head // n_kv_head query heads share each (GQA)
    n_embd: int
    block_size: int          # longest sequence the model is meant to see
    mlp_hidden: int = None   # SwiGLU width; None = 8/3 * n_embd rounded up to a multiple of 32
    rope_theta: float = 10000.0
    qkv_bias: bool = False
    tie_embeddings: bool = True
    norm_eps: float = 1e-5

    def __post_init__(self):
        for name in ('vocab_size', 'n_layer', 'n_head', 'n_kv_head', 'n_embd', 'block_size'):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f'ModelConfig.{name} must be a positive int, '
                                 f'got {getattr(self, name)!r}')
        if self.n_embd % self.n_head:
            raise ValueError(f'ModelConfig.n_embd ({self.n_embd}) must be divisible by '
                             f'n_head ({self.n_head})')
        if self.n_head % self.n_kv_head:
            raise ValueError(f'ModelConfig.n_head ({self.n_head}) must be divisible by '
                             f'n_kv_head ({self.n_kv_head})')
        if (self.n_embd // self.n_head) % 2:
            raise ValueError(f'ModelConfig.n_embd // n_head (head_dim '
                             f'{self.n_embd // self.n_head}) must be even for rotary embeddings')
        if self.mlp_hidden is None:
            # 8/3 gives SwiGLU's three matrices the parameter count of a 4x GELU MLP (Shazeer 2020)
            self.mlp_hidden = 32 * math.ceil(8 * self.n_embd / 3 / 32)
        elif self.mlp_hidden < 1:
            raise ValueError(f'ModelConfig.mlp_hidden must be positive, got {self.mlp_hidden}')

    @property
    def head_dim(self):
        return self.n_embd // self.n_head


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        # normalise in fp32 (as Llama/Qwen2 do): the mean of squares loses precision in bf16
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.type_as(x)


def rope_cos_sin(pos, head_dim, theta):
    """cos and sin tables for positions `pos` (B, T), each (B, 1, T, head_dim), in fp32: computed
    per call from integer positions, not kept as a buffer, so `model.to(bf16)` cannot round the
    frequencies, and ragged rows can each have their own positions."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=pos.device).float() / head_dim)
    freqs = pos.float()[..., None] * inv_freq  # (B, T, head_dim/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (B, T, head_dim): Llama/Qwen2's half-split layout
    return emb.cos()[:, None], emb.sin()[:, None]


def apply_rope(x, cos, sin):
    """Rotate pairs (x[i], x[i + d/2]) by angle pos * theta^(-2i/d); x is (B, H, T, d)."""
    xf = x.float()
    x1, x2 = xf.chunk(2, dim=-1)
    rotated = torch.cat((-x2, x1), dim=-1)  # "rotate_half"
    return (xf * cos + rotated * sin).type_as(x)


class KVCache:
    """Preallocated keys and values for every layer, plus which columns hold real tokens.

    k, v: one (B, n_kv_head, max_len, head_dim) tensor per layer (separate tensors, so a compiled
    decode step can write each in place: views of one shared buffer are copied whole). `pos` columns
    are filled (same in every row); `valid` (B, max_len) marks real tokens, so prompts of different
    lengths can be left-padded into one prefill; `bias` is `valid` as an additive 0 / -inf mask
    (filled columns only); `n_real` (B,) counts real tokens per row: its next rotary position."""

    def __init__(self, n_layer, batch_size, n_kv_head, max_len, head_dim, dtype, device):
        shape = (batch_size, n_kv_head, max_len, head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        self.valid = torch.zeros(batch_size, max_len, dtype=torch.bool, device=device)
        self.bias = torch.zeros(batch_size, max_len, device=device)  # decode mask: valid as 0/-inf
        self.n_real = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.pos = 0
        self.max_len = max_len

    @classmethod
    def for_model(cls, model, batch_size, max_len):
        cfg = model.config
        if max_len > cfg.block_size:
            raise ValueError(f'KVCache max_len {max_len} exceeds the model block_size '
                             f'{cfg.block_size}')
        p = model.embed_tokens.weight
        # under autocast, store what attention computes (e.g. bf16): half the memory, no casts
        dtype = (torch.get_autocast_dtype(p.device.type) if torch.is_autocast_enabled(p.device.type)
                 else p.dtype)
        return cls(cfg.n_layer, batch_size, cfg.n_kv_head, max_len, cfg.head_dim, dtype, p.device)

    def select(self, rows):
        """Row i becomes the old row rows[i] (rows may repeat): P prefilled prompts -> P*G rows."""
        self.k = [k.index_select(0, rows) for k in self.k]
        self.v = [v.index_select(0, rows) for v in self.v]
        self.valid, self.bias, self.n_real = (t.index_select(0, rows)
                                              for t in (self.valid, self.bias, self.n_real))

    def keep(self, rows):
        """Keep only `rows` (ascending), in that order: the rows still decoding (sample.py).
        Survivors move to the front of the same buffers (filled columns only): on our 2-core VM,
        first touching tens of MB of a fresh buffer cost more (page faults; a one-off reading)."""
        rows_ = rows.tolist()
        if any(b <= a for a, b in zip(rows_, rows_[1:])):
            raise ValueError(f'KVCache.keep needs strictly ascending rows, got {rows_}')
        for i, r in enumerate(rows_):
            if i != r:  # rows ascend, so row i's slot is never a source still to be read
                for t in self.k + self.v:
                    t[i, :, :self.pos] = t[r, :, :self.pos]
        self.k, self.v = [k[:len(rows)] for k in self.k], [v[:len(rows)] for v in self.v]
        self.valid, self.bias, self.n_real = (t.index_select(0, rows)
                                              for t in (self.valid, self.bias, self.n_real))

    def start(self, pad_mask):
        """Register T new columns (pad_mask (B, T), True = real): their positions and attention
        mask, boolean (B, 1, T, S) for a prefill, additive bias (B, 1, 1, S) for a decode step."""
        B, T = pad_mask.shape
        if self.pos + T > self.max_len:
            raise ValueError(f'KVCache is full: {self.pos} + {T} new tokens > max_len '
                             f'{self.max_len}')
        self.valid[:, self.pos:self.pos + T] = pad_mask
        self.bias[:, self.pos:self.pos + T] = torch.where(pad_mask, 0.0, float('-inf'))
        if T == 1:  # decode: no (B, 1, T, S) mask to build. A pad query sees no own column here,
            # so every row needs a real token already in the cache (the prompt: sample, logits)
            pos = self.n_real[:, None].clone()  # (B, 1)
            self.n_real += pad_mask[:, 0]
            return pos, self.bias[:, None, None, :self.pos + 1]
        # a token's position counts the real tokens before it, so a left-padded row computes what it
        # would alone (rotary scores depend only on offsets; absolute angles decide the rounding)
        pos = self.n_real[:, None] + pad_mask.cumsum(1) - pad_mask.long()  # (B, T)
        self.n_real += pad_mask.sum(1)
        mask = _attn_mask(self.valid[:, :self.pos + T], self.pos)  # (B, 1, T, pos+T)
        return pos, mask

    def write(self, layer, k, v):
        """Store the new (B, n_kv_head, T, hd) keys/values of `layer`; return all filled columns."""
        end = self.pos + k.shape[2]
        self.k[layer][:, :, self.pos:end] = k
        self.v[layer][:, :, self.pos:end] = v
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]  # (B, n_kv_head, end, hd)


class ConcatKVCache(KVCache):
    """The cache for training: new keys/values are concatenated onto the old rather than written
    into a preallocated buffer, so autograd can differentiate through them (an in-place write would
    overwrite tensors backward needs). GRPO runs each distinct prompt through it once, selects a row
    per response and runs the responses on top (logits.response_logits): the full rows' numbers."""

    def __init__(self, n_layer, batch_size, max_len, device):
        self.k, self.v = [None] * n_layer, [None] * n_layer
        self.valid = torch.zeros(batch_size, max_len, dtype=torch.bool, device=device)
        self.bias = torch.zeros(batch_size, max_len, device=device)
        self.n_real = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.pos, self.max_len = 0, max_len

    def select(self, rows):
        """Row i becomes the old row rows[i] (rows may repeat): prompts -> their responses."""
        self.k = [k.index_select(0, rows) for k in self.k]
        self.v = [v.index_select(0, rows) for v in self.v]
        self.valid, self.bias, self.n_real = (t.index_select(0, rows)
                                              for t in (self.valid, self.bias, self.n_real))

    def write(self, layer, k, v):
        if self.k[layer] is not None:
            k, v = torch.cat([self.k[layer], k], 2), torch.cat([self.v[layer], v], 2)
        self.k[layer], self.v[layer] = k, v
        return k, v


def _attn_mask(valid, start):
    """Boolean mask (B, 1, T, S) for queries at columns start..S-1 over keys 0..S-1. A query sees
    real keys at or before its column, and always its own column, so a pad query never has an
    all-masked row (NaN in some attention backends); its output is ignored."""
    B, S = valid.shape
    q_col = torch.arange(start, S, device=valid.device)[:, None]  # (T, 1)
    k_col = torch.arange(S, device=valid.device)[None, :]  # (1, S)
    mask = (k_col <= q_col) & valid[:, None, :]  # (B, T, S)
    return (mask | (k_col == q_col))[:, None]


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head, self.n_kv_head, self.head_dim = cfg.n_head, cfg.n_kv_head, cfg.head_dim
        self.q_proj = nn.Linear(cfg.n_embd, cfg.n_head * cfg.head_dim, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(cfg.n_embd, cfg.n_kv_head * cfg.head_dim, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(cfg.n_embd, cfg.n_kv_head * cfg.head_dim, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(cfg.n_head * cfg.head_dim, cfg.n_embd, bias=False)

    def qkv(self, x, cos, sin):
        B, T, C = x.shape
        # q (B, nh, T, hd); k, v (B, nkv, T, hd)
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def decode(self, x, cos, sin, k_buf, v_buf, col, end, bias):
        """One new token per row against a preallocated cache layer (B, nkv, max_len, hd): its key
        and value are written in place at column `col` (a 1-element tensor, so a compiled step does
        not copy the layer); it attends to the `end` filled columns through bias (B, 1, 1, max_len).
        torch.compile with dynamic shapes builds this once for all batch sizes and cache lengths."""
        q, k, v = self.qkv(x, cos, sin)
        k_buf.index_copy_(2, col, k.to(k_buf.dtype))
        v_buf.index_copy_(2, col, v.to(v_buf.dtype))
        return self.o_proj(_decode_attention(q, k_buf[:, :, :end].to(q.dtype),
                                             v_buf[:, :, :end].to(q.dtype), bias[..., :end]))

    def forward(self, x, cos, sin, mask, kv_cache, layer):
        B, T, C = x.shape
        q, k, v = self.qkv(x, cos, sin)
        if kv_cache is not None:
            k, v = kv_cache.write(layer, k, v)  # (B, nkv, S, hd), S = filled columns
            k, v = k.to(q.dtype), v.to(q.dtype)
        gqa = self.n_kv_head != self.n_head
        if kv_cache is not None and T == 1:  # a decode step: mask is the additive bias (B, 1, 1, S)
            return self.o_proj(_decode_attention(q, k, v, mask))
        if mask is None:  # training: right-padded rows, plain causal attention (fast path)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
        y = y.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim)  # (B, T, nh*hd)
        return self.o_proj(y)


def _decode_attention(q, k, v, bias):
    """Attention of one query per row: q (B, nh, 1, hd), k and v (B, nkv, S, hd), bias (B, 1, 1, S).
    The query heads sharing a key/value head (GQA) become the rows of one matrix product,
    (B, nkv, nh/nkv, hd) @ (B, nkv, hd, S): two batched matmuls and a softmax. In a 128-row rollout
    on our 2-core CPU this profiled faster than scaled_dot_product_attention (a one-off reading)."""
    B, nh, _, hd = q.shape
    nkv = k.shape[1]
    scores = q.reshape(B, nkv, nh // nkv, hd) @ k.transpose(-1, -2)  # (B, nkv, g, S)
    probs = (scores.float() * hd ** -0.5 + bias).softmax(-1).to(v.dtype)
    return (probs @ v).reshape(B, 1, nh * hd)  # head h = kv head h // g, as enable_gqa pairs them


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.n_embd, cfg.mlp_hidden, bias=False)
        self.up_proj = nn.Linear(cfg.n_embd, cfg.mlp_hidden, bias=False)
        self.down_proj = nn.Linear(cfg.mlp_hidden, cfg.n_embd, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))  # SwiGLU


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, mask, kv_cache, layer):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, kv_cache, layer)
        return x + self.mlp(self.post_attention_layernorm(x))

    def decode(self, x, cos, sin, k_buf, v_buf, col, end, bias):
        x = x + self.self_attn.decode(self.input_layernorm(x), cos, sin, k_buf, v_buf, col, end,
                                      bias)
        return x + self.mlp(self.post_attention_layernorm(x))


class Transformer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.n_embd)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = RMSNorm(config.n_embd, config.norm_eps)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if getattr(module, 'bias', None) is not None:
                    nn.init.zeros_(module.bias)
        # GPT-2's scaled init: each block adds two residual branches, so shrink their output
        # projections by 1/sqrt(2 * n_layer) to keep the residual stream's variance flat with depth
        for name, p in self.named_parameters():
            if name.endswith(('o_proj.weight', 'down_proj.weight')):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def num_params(self, non_embedding=False):
        """Parameter count (tied once); non_embedding drops the embedding and an untied lm_head."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.embed_tokens.weight.numel()
            if not self.config.tie_embeddings:
                n -= self.lm_head.weight.numel()
        return n

    def forward(self, idx, *, kv_cache=None, pad_mask=None, return_hidden=False):
        """idx (B, T) -> float logits (B, T, vocab), or the final normed hidden states (B, T, C).
        No cache, no pad_mask: causal attention at positions 0..T-1 (rows right-padded). pad_mask
        (B, T), True = real: rows may be LEFT-padded; positions count real tokens only. kv_cache:
        idx is each row's next T tokens, written at column kv_cache.pos, seeing filled columns."""
        B, T = idx.shape
        if pad_mask is not None and pad_mask.shape != idx.shape:
            raise ValueError(f'pad_mask shape {tuple(pad_mask.shape)} does not match '
                             f'idx {tuple(idx.shape)}')
        if kv_cache is not None:
            if pad_mask is None:
                pad_mask = torch.ones_like(idx, dtype=torch.bool)
            pos, mask = kv_cache.start(pad_mask)
        elif pad_mask is not None:
            pos = pad_mask.cumsum(1) - pad_mask.long()  # (B, T)
            mask = _attn_mask(pad_mask, 0)  # (B, 1, T, T)
        else:
            if T > self.config.block_size:
                raise ValueError(f'sequence length {T} exceeds block_size {self.config.block_size}')
            pos, mask = torch.arange(T, device=idx.device)[None], None  # (1, T)
        cos, sin = rope_cos_sin(pos, self.config.head_dim, self.config.rope_theta)
        x = self.embed_tokens(idx)  # (B, T, C)
        for i, block in enumerate(self.layers):
            x = block(x, cos, sin, mask, kv_cache, i)
        if kv_cache is not None:
            kv_cache.pos += T
        x = self.norm(x)  # (B, T, C)
        if return_hidden:
            return x
        return self.lm_head(x).float()  # (B, T, vocab)

    def decode_step(self, tok, kv_cache, live, fn=None):
        """The sampler's decode step: logits (B, vocab) after one token per row, tok (B,), live (B,)
        False = a finished row's pad, as forward(tok[:, None], kv_cache, pad_mask=live[:, None])
        gives them; via Transformer._decode or `fn`, its torch.compile (sample.compiled_decode)."""
        pos, _ = kv_cache.start(live[:, None])  # (B, 1) rotary positions; registers the column
        col = torch.tensor([kv_cache.pos], device=tok.device)
        logits = (fn or Transformer._decode)(self, tok, pos, col, kv_cache.pos + 1, kv_cache.k,
                                             kv_cache.v, kv_cache.bias[:, None, None])
        kv_cache.pos += 1
        return logits

    def _decode(self, tok, pos, col, end, ks, vs, bias):
        cos, sin = rope_cos_sin(pos, self.config.head_dim, self.config.rope_theta)
        x = self.embed_tokens(tok)[:, None]  # (B, 1, C)
        for block, k_buf, v_buf in zip(self.layers, ks, vs):
            x = block.decode(x, cos, sin, k_buf, v_buf, col, end, bias)
        return self.lm_head(self.norm(x)).float()[:, 0]


# ---- Training helpers every loop shares (pretrain.py, sft.py, grpo.py).

def make_optimizer(model, lr, weight_decay, betas=(0.9, 0.95)):
    """AdamW with decay on matrices only (norm weights and biases are not decayed)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{'params': decay, 'weight_decay': weight_decay},
              {'params': rest, 'weight_decay': 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=1e-8)


def lr_schedule(step, lr, warmup, total, final=None):
    """Linear warmup over `warmup` steps, then cosine decay to `final` at `total` steps, or
    constant when `final` is None."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if final is None:
        return lr
    frac = (step - warmup) / max(1, total - warmup)
    return final + 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))) * (lr - final)
