"""GRPO's loop on a tiny model: every option runs and does what it says, its guards, resume, and
the compiled and kernel paths against the torch path (the arithmetic: tests/test_grpo_loss.py).

Run: .venv/bin/pytest tests/test_grpo.py
"""
import json
import os
import random

os.environ.setdefault('TRITON_INTERPRET', '1')  # before anything imports triton: kernels run on CPU

import pytest
import torch

import bench
import data
import grpo
import logits
import tasks
from config import Config
from model import ModelConfig, Transformer
from sample import response_texts


# ---------------------------------------------------------------------------- the loop

def tiny_policy(tok, seed=0):
    torch.manual_seed(seed)
    return Transformer(ModelConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_kv_head=1,
                                   n_embd=32, block_size=512))


def rl_cfg(tmp_path, **over):
    """A few tiny steps: grpo.OPTIONS' defaults with the sizes, intervals and paths a test wants."""
    return grpo.OPTIONS.settings(**{**dict(
        steps=3, n_prompts=2, group_size=3, max_new_tokens=6, lr=1e-3, warmup_steps=1,
        micro_batch=4, max_refill=1, ref_reset=0, eval_interval=0, ckpt_interval=1,
        dtype='float32', kernels='torch', out_dir=str(tmp_path), resume=False, device='cpu'),
        **over})


def draw(step, round_):
    rng = random.Random(f'{step}:{round_}')
    return data.rendered([tasks.draw_problem('math', rng) for _ in range(2)])


def length_reward(problems, texts, ended):
    """A reward with signal even for an untrained model: shorter responses score higher."""
    return [{'reward': -float(len(t)), 'accuracy': 0.0, 'format': 0.0} for t in texts]


@pytest.mark.parametrize('over', [
    {}, {'loss_agg': 'grpo'}, {'loss_agg': 'dr_grpo', 'scale_std': False}, {'beta': 0.05},
    {'beta': 0.05, 'ref_reset': 2}, {'mu': 2, 'minibatches': 2}, {'dynamic_sampling': True},
    {'overlong_buffer': 3}, {'eps_high': 0.28}, {'lr_decay': True}, {'micro_batch': 1},
])
def test_every_option_runs_a_few_steps(tmp_path, tok, over):
    policy = tiny_policy(tok)
    before = [p.detach().clone() for p in policy.parameters()]
    grpo.train(policy, tok, rl_cfg(tmp_path, **over), draw_prompts=draw, reward_fn=length_reward,
               name='t')
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters()))
    rows = [l for l in open(tmp_path / 'metrics.jsonl')]
    assert len(rows) == 3
    for key in ('step', 'reward', 'accuracy', 'format', 'mean_len', 'reflection_rate', 'kl',
                'clip_frac', 'entropy', 'lr', 'gen_s', 'train_s', 'tok_s', 'signal'):
        assert key in rows[0]


def test_dynamic_sampling_draws_again_when_no_group_carries_signal(tmp_path, tok):
    """DAPO's dynamic sampling: a round whose groups all scored alike is dropped and refilled."""
    tok, calls = tok, []

    def draw_logged(step, round_):
        calls.append(round_)
        return draw(step, round_)

    # the first round teaches nothing, the second does
    def flat_then_length(problems, texts, ended):
        return ([{'reward': 1.0} for _ in texts] if len(calls) == 1
                else length_reward(problems, texts, ended))

    for dynamic, rounds in ((False, [0]), (True, [0, 1])):
        calls.clear()
        cfg = rl_cfg(tmp_path, dynamic_sampling=dynamic, max_refill=1)
        batch = next(grpo.rollouts(tiny_policy(tok), tok, draw_logged, flat_then_length, cfg, 0))
        assert calls == rounds
        assert bool((batch.advantages != 0).any()) == dynamic  # without it the step has no signal


def test_dynamic_sampling_keeps_the_groups_with_signal_in_the_rounds_order(tmp_path, tok):
    """Round 0: group 0 scores alike, group 1 does not; round 1: both carry signal. The batch is
    round 0's group 1 then round 1's group 0, laid out as one round (the texts decode from its
    responses)."""
    tok, seen = tok, []

    def reward(problems, texts, ended):
        seen.append((problems, texts))
        flat = len(seen) == 1
        return [{'reward': 1.0 if flat and i < 3 else -float(len(t))} for i, t in enumerate(texts)]

    cfg = rl_cfg(tmp_path, dynamic_sampling=True, max_refill=2)
    batch = next(grpo.rollouts(tiny_policy(tok), tok, draw, reward, cfg, 0))
    assert len(seen) == 2 and batch.signal.tolist() == [False, True, True, True]
    assert batch.texts == seen[0][1][3:] + seen[1][1][:3] == response_texts(batch, tok)
    assert batch.group.tolist() == [0, 0, 0, 1, 1, 1]
    for g, problem in enumerate([seen[0][0][3], seen[1][0][0]]):
        assert (tok.decode(batch.prompts[g][batch.prompt_mask[g]].tolist())
                == tasks.render_prompt(problem))
    assert (batch.responses.shape[1] == int(batch.response_lens.max())
            and batch.prompt_mask[:, 0].any())
    assert torch.equal(batch.mask,
                       torch.arange(batch.responses.shape[1]) < batch.response_lens[:, None])


def test_overlong_penalty_lowers_the_rewards_of_long_responses_only(tmp_path, tok):

    # ends some responses early: the end token's logit follows one hidden feature
    def stopping_policy():
        torch.manual_seed(0)
        policy = Transformer(ModelConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2,
                                         n_kv_head=1, n_embd=32, block_size=512,
                                         tie_embeddings=False))
        with torch.no_grad():
            policy.norm.weight.zero_()[0] = 1.0
            policy.lm_head.weight.zero_()[tok.eot_id, 0] = 8.0
        return policy

    plain = next(grpo.rollouts(stopping_policy(), tok, draw, length_reward, rl_cfg(tmp_path), 0))
    pen = next(grpo.rollouts(stopping_policy(), tok, draw, length_reward,
                             rl_cfg(tmp_path, overlong_buffer=3), 0))
    assert torch.equal(plain.responses, pen.responses)  # same seed, same samples
    lens, gap = plain.mask.sum(1), pen.rewards - plain.rewards
    # both kinds occur in this batch (max_new_tokens 6)
    assert (lens > 3).any() and (lens <= 3).any()
    assert torch.all(gap[lens <= 3] == 0) and torch.all(gap[lens > 3] < 0)
    assert torch.allclose(gap, -(lens - 3).clamp(min=0).float() / 3)


def test_clip_higher_lets_more_ratios_through(tmp_path, tok):
    """With mu = 2 the second pass sees ratios away from 1; a wider upper clip binds on fewer
    tokens."""
    cfg = rl_cfg(tmp_path, mu=2, lr=3e-2, eps_low=0.01, eps_high=0.01)
    batch = next(grpo.rollouts(tiny_policy(tok), tok, draw, length_reward, cfg, 0))
    share = {}
    for eps_high in (0.01, 10.0):
        policy = tiny_policy(tok)
        opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr)
        share[eps_high] = grpo.optimize(policy, None, opt, batch,
                                        Config(**{**vars(cfg), 'eps_high': eps_high}),
                                        0)['clip_frac']
    assert share[0.01] > share[10.0] > 0  # the lower clip still binds on negative advantages


def test_reference_reset_copies_the_policy(tmp_path, tok):
    """ref_reset=2: at step 2 the reference becomes the policy of that moment (the policy after
    step 1)."""
    ref_of = lambda d: torch.load(d / 'ckpt.pt', weights_only=True)['ref_model']
    two = tiny_policy(tok)
    grpo.train(two, tok, rl_cfg(tmp_path / 'two', steps=2, beta=0.05), draw_prompts=draw,
               reward_fn=length_reward, name='t')
    start = tiny_policy(tok).state_dict()
    for reset, expected in ((0, start), (2, two.state_dict())):
        policy = tiny_policy(tok)
        grpo.train(policy, tok, rl_cfg(tmp_path / str(reset), steps=3, beta=0.05, ref_reset=reset),
                   draw_prompts=draw, reward_fn=length_reward, name='t')
        ref = ref_of(tmp_path / str(reset))
        assert all(torch.equal(ref[k], expected[k]) for k in expected)
        # the policy moved on
        assert not all(torch.equal(ref[k], v) for k, v in policy.state_dict().items())


def test_no_signal_step_skips_the_optimizer(tmp_path, tok):
    policy = tiny_policy(tok)
    before = [p.detach().clone() for p in policy.parameters()]
    flat = lambda problems, texts, ended: [{'reward': 1.0} for _ in texts]
    grpo.train(policy, tok, rl_cfg(tmp_path, steps=2), draw_prompts=draw, reward_fn=flat, name='t')
    assert all(torch.equal(a, b) for a, b in zip(before, policy.parameters()))


def test_nonfinite_loss_leaves_weights_bit_equal(tmp_path, tok):
    policy = tiny_policy(tok)
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-2)
    cfg = rl_cfg(tmp_path)
    batch = next(grpo.rollouts(policy, tok, draw, length_reward, cfg, 0))
    batch.advantages[0] = float('nan')
    before = [p.detach().clone() for p in policy.parameters()]
    stats = grpo.optimize(policy, None, opt, batch, cfg, 0)
    assert stats['skipped'] == 'nonfinite'
    assert all(torch.equal(a, b) for a, b in zip(before, policy.parameters()))
    assert not opt.state  # AdamW's moments were never touched either


@pytest.mark.slow  # compiles the decode step: tens of seconds
def test_compiled_rollouts_give_the_same_run(tmp_path, tok):
    runs = {}
    for compile in (False, True):
        grpo.train(tiny_policy(tok), tok, rl_cfg(tmp_path / str(compile), compile=compile),
                   draw_prompts=draw, reward_fn=length_reward, name='t')
        runs[compile] = [json.loads(l) for l in open(tmp_path / str(compile) / 'metrics.jsonl')]
    # same samples and rewards; the log-probs the sampler reports round apart in the last bits
    for a, b in zip(runs[False], runs[True]):
        assert a['reward'] == b['reward'] and a['mean_len'] == b['mean_len']
        assert (a['entropy'] == pytest.approx(b['entropy'], rel=1e-6)
                and a['grad_norm'] == pytest.approx(b['grad_norm'], rel=1e-5))


def test_resume_continues_bit_identically(tmp_path, tok):
    full = tiny_policy(tok)
    grpo.train(full, tok, rl_cfg(tmp_path / 'a', steps=4, beta=0.05), draw_prompts=draw,
               reward_fn=length_reward, name='t')
    part = tiny_policy(tok)
    grpo.train(part, tok, rl_cfg(tmp_path / 'b', steps=2, beta=0.05), draw_prompts=draw,
               reward_fn=length_reward, name='t')
    resumed = tiny_policy(tok, seed=99)  # different init: everything must come from the checkpoint
    grpo.train(resumed, tok, rl_cfg(tmp_path / 'b', steps=4, beta=0.05, resume=True),
               draw_prompts=draw, reward_fn=length_reward, name='t')
    for a, b in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    a = torch.load(tmp_path / 'a' / 'ckpt.pt', weights_only=True)
    b = torch.load(tmp_path / 'b' / 'ckpt.pt', weights_only=True)
    for k in a['optimizer']['state']:
        for name in ('exp_avg', 'exp_avg_sq'):
            assert torch.equal(a['optimizer']['state'][k][name], b['optimizer']['state'][k][name])
    rows_a = [l.split('"gen_s"')[0] for l in open(tmp_path / 'a' / 'metrics.jsonl')]
    rows_b = [l.split('"gen_s"')[0] for l in open(tmp_path / 'b' / 'metrics.jsonl')]
    assert rows_a == rows_b  # same prompts, samples, rewards and losses, step by step
    # the rollouts kept for report.py: log_samples prompts' groups a step, the same after a resume
    kept = open(tmp_path / 'a' / 'samples.jsonl').read()
    assert kept == open(tmp_path / 'b' / 'samples.jsonl').read()
    kept = [json.loads(line) for line in kept.splitlines()]
    cfg = rl_cfg(tmp_path)
    per_step = cfg.log_samples * cfg.group_size
    assert [r['step'] for r in kept] == [s for s in range(4) for _ in range(per_step)]
    assert {'prompt', 'response', 'reward', 'parts', 'correct', 'length', 'stopped', 'reflective',
            'family', 'lang', 'id'} <= set(kept[0])
    assert kept[0]['parts'] == {'accuracy': 0.0, 'format': 0.0} and kept[0]['family'] == 'math'


@pytest.mark.parametrize('agg, over', [('grpo', {}), ('token', {}), ('dr_grpo', {}),
                                       ('token', {'beta': 0.05, 'mu': 2})])
def test_micro_batches_add_up_to_the_full_batch_update(tmp_path, tok, agg, over):
    # micro-batches are sorted by length and cut to their longest response (select_rows); with
    # beta > 0 and mu = 2 the reference and old log-probs come from length-sorted chunks too
    cfg = rl_cfg(tmp_path, loss_agg=agg, grad_clip=0.0, max_new_tokens=12, **over)
    batch = next(grpo.rollouts(tiny_policy(tok), tok, draw, length_reward, cfg, 0))
    # ragged (an untrained policy rarely stops): padding to cut
    for i, n in enumerate([12, 3, 7, 1, 9, 5]):
        batch.mask[i, n:], batch.responses[i, n:] = False, tok.pad_id
    after = []
    for micro in (64, 1, 4):
        policy = tiny_policy(tok)
        opt = torch.optim.SGD(policy.parameters(), lr=1.0)  # the update is the gradient itself
        ref = tiny_policy(tok, seed=1) if cfg.beta > 0 else None
        grpo.optimize(policy, ref, opt, batch, Config(**{**vars(cfg), 'micro_batch': micro}), 0)
        after.append([p.detach().clone() for p in policy.parameters()])
    for other in after[1:]:
        for a, b in zip(after[0], other):
            assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize('agg', ['grpo', 'token'])
def test_update_equals_one_plain_backward_over_the_whole_batch(tmp_path, tok, agg):
    # optimize's prompt-once trick (detached keys/values, one backward through the prompt pass at
    # the end) against the plain path: response_logits runs the prompts itself, one micro-batch
    cfg = rl_cfg(tmp_path, loss_agg=agg, grad_clip=0.0, max_new_tokens=12, micro_batch=2)
    batch = next(grpo.rollouts(tiny_policy(tok), tok, draw, length_reward, cfg, 0))
    # width 2 runs a one-token decode step under autograd
    for i, n in enumerate([12, 2, 7, 1, 9, 5]):
        batch.mask[i, n:], batch.responses[i, n:] = False, tok.pad_id
    policy = tiny_policy(tok)
    grpo.optimize(policy, None, torch.optim.SGD(policy.parameters(), lr=1.0), batch, cfg, 0)
    ref = tiny_policy(tok)
    N = batch.responses.shape[0]
    loss_t, _, _ = grpo.per_token_loss(ref, logits.select_rows(batch, torch.arange(N)), batch.mask,
                                       None, None, batch.advantages, cfg)
    grpo.aggregate(loss_t, batch.mask.float(), agg, cfg.max_new_tokens).backward()
    torch.optim.SGD(ref.parameters(), lr=1.0).step()
    moved = False
    for a, b, p0 in zip(policy.parameters(), ref.parameters(), tiny_policy(tok).parameters()):
        assert torch.allclose(a, b, atol=1e-6)
        moved |= not torch.equal(a, p0)
    assert moved


def test_train_refuses_a_config_missing_keys(tmp_path, tok):
    cfg = rl_cfg(tmp_path)
    del cfg.beta
    with pytest.raises(ValueError, match='lacks beta'):
        grpo.train(tiny_policy(tok), tok, cfg, draw_prompts=draw, reward_fn=length_reward)


@pytest.mark.slow
def test_kernels_path_gives_the_same_run_as_the_torch_path(tmp_path):
    """The fused Triton kernels (through the CPU interpreter) drop in behind the same loss:
    same seed, same rollouts, same rewards step by step, and the same weights at the end.
    `python bench.py curve` runs the same comparison for a few dozen steps (docs/benchmarks.md)."""
    res = bench.bench_curve(Config(tiny=False, steps=6, seed=0, device='cpu'))
    d = res['max_abs_diff']
    assert d['reward'] == 0.0 and d['clip_frac'] <= 1e-6
    assert d['kl'] <= 1e-5 and d['weights'] <= 1e-5
