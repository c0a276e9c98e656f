"""Tests for model.py: config checks, parameter count, causality, rotary embeddings, GQA, KV cache.

Run: .venv/bin/pytest tests/test_model.py
"""
import math

import pytest
import torch

from model import KVCache, ModelConfig, Transformer, apply_rope, rope_cos_sin


def cfg(**kw):
    base = dict(vocab_size=67, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, block_size=96)
    base.update(kw)
    return ModelConfig(**base)


@pytest.mark.parametrize('kw, field', [
    (dict(n_embd=30, n_head=4), 'n_embd'),
    (dict(n_head=4, n_kv_head=3), 'n_head'),
    (dict(n_embd=36, n_head=12, n_kv_head=4), 'head_dim'),
    (dict(vocab_size=0), 'vocab_size'),
])
def test_config_validation_names_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        cfg(**kw)


def test_mlp_hidden_default():
    assert cfg(n_embd=32).mlp_hidden == 96  # 8/3 * 32 = 85.3 -> 96
    assert cfg(n_embd=256, n_head=8).mlp_hidden == 704  # 682.7 -> 704
    assert cfg(mlp_hidden=50).mlp_hidden == 50


@pytest.mark.parametrize('tie, bias', [(True, False), (False, True)])
def test_param_count_matches_formula(tie, bias):
    c = cfg(tie_embeddings=tie, qkv_bias=bias, mlp_hidden=40)
    V, C, L, H, hd, kvh = 67, 32, 2, 40, 8, 2
    # q, k, v, o (+ q/k/v biases)
    attn = C * C + 2 * C * kvh * hd + C * C + (C + 2 * kvh * hd) * bias
    per_layer = attn + 3 * C * H + 2 * C  # SwiGLU and two norms
    expected = V * C + L * per_layer + C + (0 if tie else V * C)
    m = Transformer(c)
    assert m.num_params() == expected
    assert m.num_params(non_embedding=True) == L * per_layer + C


def test_qwen2_module_names():
    m = Transformer(cfg(n_layer=1, qkv_bias=True, tie_embeddings=False))
    names = set(m.state_dict())
    expected = {'embed_tokens.weight', 'norm.weight', 'lm_head.weight',
                'layers.0.input_layernorm.weight', 'layers.0.post_attention_layernorm.weight',
                'layers.0.self_attn.o_proj.weight'}
    expected |= {f'layers.0.self_attn.{p}_proj.{w}' for p in 'qkv' for w in ('weight', 'bias')}
    expected |= {f'layers.0.mlp.{p}_proj.weight' for p in ('gate', 'up', 'down')}
    assert names == expected


def test_init():
    torch.manual_seed(0)
    m = Transformer(cfg(n_layer=4, n_embd=128, n_head=4, qkv_bias=True))
    assert torch.equal(m.norm.weight, torch.ones(128))
    assert torch.equal(m.layers[0].self_attn.q_proj.bias, torch.zeros(128))
    assert abs(m.layers[0].self_attn.q_proj.weight.std().item() - 0.02) < 0.002
    assert abs(m.layers[0].mlp.down_proj.weight.std().item() - 0.02 / math.sqrt(8)) < 0.001
    assert m.lm_head.weight is m.embed_tokens.weight


def test_shapes_and_hidden(tiny_model):
    m = tiny_model()
    idx = torch.randint(0, 67, (3, 11))
    logits = m(idx)
    assert logits.shape == (3, 11, 67) and logits.dtype == torch.float32
    h = m(idx, return_hidden=True)
    assert h.shape == (3, 11, 32)
    torch.testing.assert_close(h @ m.lm_head.weight.T, logits)


def test_causality(tiny_model):
    m = tiny_model()
    idx = torch.randint(0, 67, (2, 20))
    base = m(idx)
    changed = idx.clone()
    changed[:, 12] = (changed[:, 12] + 1) % 67
    out = m(changed)
    assert torch.equal(out[:, :12], base[:, :12])
    assert (out[:, 12:] - base[:, 12:]).abs().max() > 1e-4


def test_too_long_sequence_raises(tiny_model):
    with pytest.raises(ValueError, match='block_size'):
        tiny_model(block_size=8)(torch.zeros(1, 9, dtype=torch.long))


def test_rope_is_a_rotation_of_half_split_pairs():
    # reference: pair (x[i], x[i + d/2]) as the complex number x[i] + 1j*x[i + d/2],
    # times e^(1j*pos*theta_i)
    d, theta = 8, 10000.0
    x = torch.randn(2, 3, 5, d, dtype=torch.float64)
    pos = torch.tensor([[0, 1, 2, 7, 40], [3, 3, 4, 5, 90]])
    cos, sin = rope_cos_sin(pos, d, theta)
    got = apply_rope(x.float(), cos, sin).double()
    freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)  # (d/2,)
    z = (torch.complex(x[..., :d // 2], x[..., d // 2:])
         * torch.exp(1j * pos[:, None, :, None] * freqs))
    ref = torch.cat([z.real, z.imag], dim=-1)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_gqa_equals_mha_with_repeated_kv_heads(tiny_model):
    gqa = tiny_model(n_head=4, n_kv_head=2)
    mha = Transformer(cfg(n_head=4, n_kv_head=4)).eval()
    sd = gqa.state_dict()
    for i in range(2):  # query head h reads kv head h // 2 (HF repeat_kv / repeat_interleave order)
        for p in 'kv':
            w = sd[f'layers.{i}.self_attn.{p}_proj.weight'].view(2, 8, 32)
            sd[f'layers.{i}.self_attn.{p}_proj.weight'] = (w.repeat_interleave(2, dim=0)
                                                           .reshape(32, 32))
    mha.load_state_dict(sd)
    idx = torch.randint(0, 67, (2, 13))
    torch.testing.assert_close(mha(idx), gqa(idx), atol=1e-5, rtol=1e-5)


def ragged_rows(lengths, vocab=67, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab, (n,), generator=g) for n in lengths]


def left_pad(rows, pad=0):
    L = max(len(r) for r in rows)
    x = torch.full((len(rows), L), pad, dtype=torch.long)
    real = torch.zeros(len(rows), L, dtype=torch.bool)
    for i, r in enumerate(rows):
        x[i, L - len(r):], real[i, L - len(r):] = r, True
    return x, real


def test_left_padded_forward_matches_unpadded(tiny_model):
    m = tiny_model()
    rows = ragged_rows([5, 9, 1, 7])
    x, real = left_pad(rows)
    out = m(x, pad_mask=real)
    for i, r in enumerate(rows):
        ref = m(r[None])[0]
        assert (out[i, -len(r):] - ref).abs().max() <= 1e-5


@pytest.mark.parametrize('qkv_bias', [False, True])
def test_cached_decoding_matches_full_forward_with_ragged_prompts(tiny_model, qkv_bias):
    m = tiny_model(qkv_bias=qkv_bias)
    rows = ragged_rows([5, 9, 1, 7])
    x, real = left_pad(rows)
    cache = KVCache.for_model(m, 4, 9 + 24)  # 12 steps of 1, 2, 3 tokens
    logits = m(x, kv_cache=cache, pad_mask=real)  # prefill
    seqs = [r.clone() for r in rows]
    g = torch.Generator().manual_seed(2)
    for step in range(12):
        # each row's last logits against a plain forward of its own tokens
        for i, s in enumerate(seqs):
            assert (logits[i, -1] - m(s[None])[0, -1]).abs().max() <= 1e-5, (step, i)
        new = torch.randint(0, 67, (4, 1 + step % 3), generator=g)  # 1-3 tokens at a time
        logits = m(new, kv_cache=cache)
        seqs = [torch.cat([s, n]) for s, n in zip(seqs, new)]
        for i, s in enumerate(seqs):
            ref = m(s[None])[0, -new.shape[1]:]
            assert (logits[i] - ref).abs().max() <= 1e-5, (step, i)
    assert cache.pos == 9 + 24


def test_cache_select_matches_prefilling_every_copy(tiny_model):
    m = tiny_model()
    x, real = left_pad(ragged_rows([3, 6]))
    a = KVCache.for_model(m, 2, 10)
    m(x, kv_cache=a, pad_mask=real)
    a.select(torch.arange(2).repeat_interleave(3))
    b = KVCache.for_model(m, 6, 10)
    m(x.repeat_interleave(3, 0), kv_cache=b, pad_mask=real.repeat_interleave(3, 0))
    new = torch.randint(0, 67, (6, 2))
    torch.testing.assert_close(m(new, kv_cache=a), m(new, kv_cache=b), atol=1e-6, rtol=1e-6)
    assert len(a.k) == 2 and a.k[0].shape == (6, 2, 10, 8)


def test_dropping_rows_from_the_cache_leaves_the_others_unchanged(tiny_model):
    m = tiny_model()
    x, real = left_pad(ragged_rows([4, 7, 2, 5]))
    cache = KVCache.for_model(m, 4, 12)
    m(x, kv_cache=cache, pad_mask=real)
    new = torch.randint(0, 67, (4, 1))
    full = m(new, kv_cache=cache)[:, -1]  # (4, V) all rows decode one step
    keep = torch.tensor([1, 3])  # rows 0 and 2 finished
    cache.keep(keep)
    new2 = torch.randint(0, 67, (2, 1))
    out = m(new2, kv_cache=cache)[:, -1]
    for i, r in enumerate(keep.tolist()):
        seq = torch.cat([x[r][real[r]], new[r], new2[i]])
        assert (out[i] - m(seq[None])[0, -1]).abs().max() <= 1e-5
    assert (cache.k[0].shape[0] == 2 and cache.n_real.tolist() == [7 + 2, 5 + 2]
            and full.shape == (4, 67))


def test_finished_rows_masked_out_do_not_disturb_others(tiny_model):
    m = tiny_model()
    x = torch.randint(0, 67, (2, 4))
    cache = KVCache.for_model(m, 2, 8)
    m(x, kv_cache=cache)
    pad_mask = torch.tensor([[True], [False]])  # row 1 is finished: its token is not real
    out = m(torch.tensor([[5], [0]]), kv_cache=cache, pad_mask=pad_mask)
    assert torch.isfinite(out).all()
    out = m(torch.tensor([[7], [0]]), kv_cache=cache)
    ref = m(torch.cat([x[0], torch.tensor([5, 7])])[None])[0, -1]
    assert (out[0, -1] - ref).abs().max() <= 1e-5
    assert cache.n_real.tolist() == [6, 5]


def test_cache_limits(tiny_model):
    m = tiny_model(block_size=16)
    with pytest.raises(ValueError, match='block_size'):
        KVCache.for_model(m, 1, 17)
    cache = KVCache.for_model(m, 1, 4)
    m(torch.zeros(1, 3, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match='full'):
        m(torch.zeros(1, 2, dtype=torch.long), kv_cache=cache)


def test_bf16_autocast_runs_and_stays_close(tiny_model):
    m = tiny_model()
    idx = torch.randint(0, 67, (2, 10))
    ref = m(idx)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        cache = KVCache.for_model(m, 2, 12)
        out = torch.cat([m(idx[:, :7], kv_cache=cache), m(idx[:, 7:], kv_cache=cache)], 1)
    assert cache.k[0].dtype == torch.bfloat16 and out.dtype == torch.float32
    assert (out - ref).abs().max() < 0.05
