"""Tests for sample.py (cached batched sampling) and the bench.py sampler smoke run.

Run: .venv/bin/pytest tests/test_sample.py
"""
import json
import os
import subprocess
import sys

import pytest
import torch

from model import KVCache, ModelConfig
from checkpoint import load_model
from sample import filter_logits, generate, sample
from tokenizer import train_tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMP_NUM_THREADS='1')  # single-threaded, as conftest.py sets for this process
PROMPTS = [[5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 8], [9], [3, 3, 4, 10, 11]]  # ragged on purpose


@pytest.fixture
def sharp_model(tiny_model):
    """A tiny model with a scaled-up output layer: logits spread over a few units (std about 1.7),
    so greedy choices are not near-ties, while sampling at temperature 1 still varies."""
    m = tiny_model(tie_embeddings=False)
    with torch.no_grad():
        m.lm_head.weight.mul_(15)
    return m


class Stub(torch.nn.Module):
    """A fake model whose next-token logits depend only on the last input token:
    logits_fn(last) -> (V,)."""

    def __init__(self, logits_fn, vocab=16):
        super().__init__()
        self.config = ModelConfig(vocab_size=vocab, n_layer=1, n_head=1, n_kv_head=1, n_embd=2,
                                  block_size=64)
        self.embed_tokens = torch.nn.Embedding(vocab, 2)
        self.logits_fn, self.calls = logits_fn, 0
        self.lm_head = torch.nn.Identity()  # forward's "hidden states" are already the logits

    def forward(self, idx, kv_cache=None, pad_mask=None, return_hidden=False):
        self.calls += 1
        # (B, T, V)
        return torch.stack([torch.stack([self.logits_fn(int(t)) for t in row]) for row in idx])

    # the sampler's decode step, through forward
    def decode_step(self, tok, kv_cache, live, fn=None):
        return self(tok[:, None], kv_cache, live[:, None])[:, -1]


def test_filter_top_k_keeps_exactly_k():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0, 2.0], [0.0, 0.0, 9.0, 1.0, 8.0]])
    out = filter_logits(logits, top_k=2)
    assert torch.isfinite(out).tolist() == [[False, True, False, True, False],
                                            [False, False, True, False, True]]
    assert torch.equal(out[0, 1], logits[0, 1])


@pytest.mark.parametrize('p, kept', [(0.3, 1), (0.75, 2), (0.85, 3), (0.99, 4), (1.0, 4)])
def test_filter_top_p_keeps_smallest_nucleus(p, kept):
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3]])  # sorted: 0.5, 0.3, 0.15, 0.05
    out = filter_logits(probs.log(), top_p=p)
    expected = [1, 3, 2, 0][:kept]
    assert sorted(torch.isfinite(out)[0].nonzero().flatten().tolist()) == sorted(expected)


def test_filter_top_k_then_top_p():
    probs = torch.tensor([[0.4, 0.3, 0.2, 0.1]])
    out = filter_logits(probs.log(), top_k=3, top_p=0.95)  # top-3 renormalised: 0.44, 0.33, 0.22
    assert torch.isfinite(out).tolist() == [[True, True, True, False]]
    out = filter_logits(probs.log(), top_k=3, top_p=0.7)  # 0.44 + 0.33 >= 0.7
    assert torch.isfinite(out).tolist() == [[True, True, False, False]]


@pytest.mark.parametrize('kw, allowed', [(dict(top_k=3), {2, 7, 11}), (dict(top_p=0.6), {2, 7})])
def test_sampling_never_leaves_the_kept_set(kw, allowed):
    base = torch.full((16,), -1.0)
    # probs about 0.35, 0.32, 0.13; the other 13 share 0.2
    base[2], base[7], base[11] = 2.0, 1.9, 1.0
    m = Stub(lambda last: base)
    s = sample(m, [[1], [2]], 40, num_samples=4, seed=0, **kw)
    got = set(s.responses[s.mask].tolist())
    assert got == allowed  # nothing outside, and every kept token shows up in 320 draws


def test_stop_token_ends_only_its_row():
    m = Stub(lambda last:
             torch.nn.functional.one_hot(torch.tensor((last + 1) % 16), 16).float() * 10)
    s = sample(m, [[0, 3], [10], [5]], 8, temperature=0, stop_ids=(6, 15), pad_id=0)
    assert s.response_lens.tolist() == [3, 5, 1]
    assert s.stopped.tolist() == [True, True, True]
    assert s.prompts.tolist() == [[0, 3], [0, 10], [0, 5]]  # left-padded with pad_id
    assert s.prompt_mask.tolist() == [[True, True], [False, True], [False, True]]
    assert (s.responses[0].tolist() == [4, 5, 6, 0, 0]
            and s.responses[2].tolist() == [6, 0, 0, 0, 0])
    assert s.mask.tolist() == [[True] * 3 + [False] * 2, [True] * 5, [True] + [False] * 4]
    assert m.calls == 5  # stopped early: prefill + 4 decode steps, not 8
    s = sample(m, [[0, 3], [10]], 8, temperature=0, stop_ids=(6,))
    assert s.stopped.tolist() == [True, False] and s.response_lens.tolist() == [3, 8]


def test_samples_layout_and_logprobs_match_a_plain_forward(sharp_model):
    s = sample(sharp_model, PROMPTS, 10, temperature=0.7, num_samples=2, seed=3)
    N, Lr = s.responses.shape
    assert (N == 8 and s.group.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
            and Lr == int(s.response_lens.max()))
    Lp = max(map(len, PROMPTS))
    for i, p in enumerate(PROMPTS):
        assert s.prompts[i, Lp - len(p):].tolist() == p and s.prompt_mask[i].sum() == len(p)
    assert torch.equal(s.mask, torch.arange(Lr) < s.response_lens[:, None])
    assert (s.logprobs[~s.mask] == 0).all() and (s.logprobs[s.mask] < 0).all()
    # the full rows [left pad, prompt, response, pad]: one plain forward, log-softmax at
    # temperature, scores each response token with the log-prob it was drawn with
    rows = torch.cat([s.prompts[s.group], s.responses], 1)
    real = torch.cat([s.prompt_mask[s.group], s.mask], 1)
    logp = (sharp_model(rows, pad_mask=real)[:, Lp - 1:-1] / 0.7).log_softmax(-1)
    logp = logp.gather(-1, s.responses[..., None])[..., 0]
    assert (logp[s.mask] - s.logprobs[s.mask]).abs().max() <= 1e-4
    # outputs are ordinary tensors, usable by autograd (not inference-mode tensors)
    w = torch.zeros(N, Lr, requires_grad=True)
    (w * s.logprobs).gather(1, s.responses.clamp(max=Lr - 1)).sum().backward()


def test_greedy_same_with_and_without_cache(sharp_model):
    a = generate(sharp_model, PROMPTS, 20, temperature=0)
    b = generate(sharp_model, PROMPTS, 20, temperature=0, use_cache=False)
    assert a == b and all(len(x) == 20 for x in a)


def test_seeded_sampling_same_with_and_without_cache(sharp_model):
    a = sample(sharp_model, PROMPTS, 15, seed=11, num_samples=2)
    b = sample(sharp_model, PROMPTS, 15, seed=11, num_samples=2, use_cache=False)
    assert torch.equal(a.responses, b.responses)
    assert (a.logprobs - b.logprobs).abs().max() <= 1e-5


def _ragged(s):
    return sorted(set(s.response_lens.tolist()))


# tokens this model emits often (greedy: rows 0 and 2 stop at steps 3 and 2, rows 1 and 3 never)
STOPS = {0.0: (45, 21), 1.0: (28,)}


@pytest.mark.parametrize('temperature', [0.0, 1.0])
def test_dropping_finished_rows_changes_no_token(sharp_model, temperature):
    # rows end at many different steps, so the batch shrinks several times
    kw = dict(temperature=temperature, stop_ids=STOPS[temperature], num_samples=6, seed=4)
    a = sample(sharp_model, PROMPTS, 40, **kw)
    b = sample(sharp_model, PROMPTS, 40, compact=False, **kw)
    c = sample(sharp_model, PROMPTS, 40, use_cache=False, **kw)
    assert len(_ragged(a)) >= 3 and a.stopped.any() and not a.stopped.all()  # the test has bite
    for other in (b, c):
        assert (torch.equal(a.responses, other.responses)
                and torch.equal(a.response_lens, other.response_lens))
        assert torch.equal(a.stopped, other.stopped)
        assert (a.logprobs - other.logprobs).abs().max() <= 1e-5


def test_a_row_that_stops_early_decodes_as_it_would_alone(sharp_model):
    stops = STOPS[0.0]
    batch = generate(sharp_model, PROMPTS, 30, temperature=0, stop_ids=stops)
    assert sorted(len(x) for x in batch) == [2, 3, 30, 30]  # ragged stops
    for p, got in zip(PROMPTS, batch):
        assert generate(sharp_model, [p], 30, temperature=0, stop_ids=stops)[0] == got


def test_fixed_shape_decode_step_matches_the_cached_forward(sharp_model):
    # Transformer.decode_step (the code sample(compile=True) compiles) against forward with a
    # cache, finished rows included: a live row's logits agree, a finished row's are never read
    m, x = sharp_model, torch.randint(0, 67, (3, 5))
    a, b = (KVCache.for_model(m, 3, 12) for _ in range(2))
    m(x, kv_cache=a), m(x, kv_cache=b)
    live = torch.tensor([True, False, True])
    for step in range(4):
        tok = torch.randint(0, 67, (3,))
        ref = m(tok[:, None], kv_cache=a, pad_mask=live[:, None])[:, -1]
        got = m.decode_step(tok, b, live)
        assert (got - ref)[live].abs().max() <= 1e-5, step
    assert b.pos == a.pos and torch.equal(a.n_real, b.n_real)


@pytest.mark.slow  # compiles the decode step: tens of seconds
@pytest.mark.parametrize('temperature', [0.0, 1.0])
def test_compiled_decoding_gives_the_same_tokens(sharp_model, temperature):
    kw = dict(temperature=temperature, stop_ids=STOPS[temperature], num_samples=6, seed=4)
    a = sample(sharp_model, PROMPTS, 40, **kw)
    # rows leave the batch: other shapes, one compile
    b = sample(sharp_model, PROMPTS, 40, compile=True, **kw)
    assert len(_ragged(a)) >= 3
    assert torch.equal(a.responses, b.responses) and torch.equal(a.response_lens, b.response_lens)
    assert (a.logprobs - b.logprobs).abs().max() <= 1e-5


def test_inverse_cdf_draws_follow_the_distribution():
    probs = torch.tensor([0.5, 0.0, 0.3, 0.15, 0.05] + [0.0] * 11)
    m = Stub(lambda last: probs.log())
    s = sample(m, [[1]], 1, num_samples=4000, seed=0)
    counts = torch.bincount(s.responses[:, 0], minlength=16).float() / 4000
    assert counts[probs == 0].sum() == 0  # a zero-probability token is never drawn
    assert (counts - probs).abs().max() < 4 * (0.25 / 4000) ** 0.5  # within 4 standard errors


def test_num_samples_equals_repeated_prompts(sharp_model):
    repeated = [p for p in PROMPTS for _ in range(3)]
    assert generate(sharp_model, PROMPTS, 12, temperature=0, num_samples=3) == \
        generate(sharp_model, repeated, 12, temperature=0)
    assert generate(sharp_model, PROMPTS, 12, num_samples=3, seed=5) == \
        generate(sharp_model, repeated, 12, seed=5)


def test_seed_reproducible_and_global_rng_untouched(sharp_model):
    state = torch.get_rng_state()
    a = generate(sharp_model, PROMPTS, 16, num_samples=2, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert a == generate(sharp_model, PROMPTS, 16, num_samples=2, seed=1)
    assert a != generate(sharp_model, PROMPTS, 16, num_samples=2, seed=2)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(sample(sharp_model, PROMPTS, 8, generator=g1).responses,
                       sample(sharp_model, PROMPTS, 8, generator=g2).responses)


@pytest.mark.parametrize('kw', [dict(temperature=-1), dict(top_k=0), dict(top_p=0.0),
                                dict(num_samples=0), dict(max_new_tokens=100),
                                dict(seed=1, generator=torch.Generator())])
def test_bad_arguments_raise(sharp_model, kw):
    args = dict(max_new_tokens=4)
    args.update(kw)
    with pytest.raises(ValueError):
        sample(sharp_model, PROMPTS, **args)
    with pytest.raises(ValueError):
        sample(sharp_model, [[1], []], 4)


def test_checkpoint_loading_and_cli(tmp_path, tiny_model):
    tok = train_tokenizer(['abc 123 hello hello'] * 3, 300)
    tok.save(tmp_path / 'tokenizer.json')
    model = tiny_model(vocab_size=tok.vocab_size)
    path = tmp_path / 'ckpt.pt'
    torch.save({'model': model.state_dict(), 'model_config': vars(model.config)}, path)
    m, _ = load_model(str(path))
    assert generate(m, PROMPTS, 6, temperature=0) == generate(model, PROMPTS, 6, temperature=0)
    with pytest.raises(FileNotFoundError, match='nope.pt'):
        load_model(str(tmp_path / 'nope.pt'))
    (tmp_path / 'cut.pt').write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match='cut.pt.*truncated'):
        load_model(str(tmp_path / 'cut.pt'))
    r = subprocess.run([sys.executable, 'sample.py', f'--ckpt={path}', '--prompt=hi 12',
                        '--template=false', '--num_samples=2', '--max_new_tokens=5',
                        '--temperature=0.8'], cwd=ROOT, capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count('--- sample') == 2 and 'hi 12' in r.stdout
    r = subprocess.run([sys.executable, 'sample.py', f'--ckpt={tmp_path}/none.pt'], cwd=ROOT,
                       capture_output=True, text=True, env=ENV)
    assert r.returncode == 2 and r.stderr.strip().startswith(
        f'error: no checkpoint at {tmp_path}/none.pt')


def test_bench_sampler_smoke(tmp_path):
    r = subprocess.run([sys.executable, 'bench.py', 'sampler', '--tiny', f'--out_dir={tmp_path}'],
                       cwd=ROOT, capture_output=True, text=True, timeout=120, env=ENV)
    assert r.returncode == 0, r.stderr
    data = json.loads((tmp_path / 'sampler.json').read_text())
    assert data['greedy_identical'] is True
    assert data['cache_tok_s'] > 0 and data['no_cache_tok_s'] > 0
    assert set(data['batch_tok_s']) == {'1', '4', '16', '64'}
