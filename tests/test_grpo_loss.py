"""GRPO's arithmetic: group advantages and their guards, the per-token loss by hand and against
autograd of the naive formula, and the shared-prompt forward the update runs.

Run: .venv/bin/pytest tests/test_grpo_loss.py
"""
import pytest
import torch

import grpo
import logits
from kernels.grpo_loss import grpo_token_loss
from model import ModelConfig, Transformer
from logits import Rows, response_logits
from sample import sample


# ---------------------------------------------------------------------------- advantages

def test_advantages_by_hand():
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0])
    adv, signal = grpo.group_advantages(r, G=4, scale_std=True, eps=0.0)
    std = torch.tensor([1.0, 0.0, 0.0, 1.0]).std().item()  # sample std, as torch.std
    assert torch.allclose(adv[:4], torch.tensor([0.5, -0.5, -0.5, 0.5]) / std)
    assert signal.tolist() == [True, False]
    adv2, _ = grpo.group_advantages(r, G=4, scale_std=False)
    assert torch.allclose(adv2[:4], torch.tensor([0.5, -0.5, -0.5, 0.5]))


def test_all_equal_groups_get_exactly_zero_advantage():
    # floats whose mean differs from each element by a rounding residue
    r = torch.tensor([0.1 + 0.2, 0.3, 0.1 + 0.2, 0.3, 0.7, 0.7, 0.7, 0.7], dtype=torch.float32)
    r[:4] = 0.1 + 0.2  # all equal in float32
    adv, signal = grpo.group_advantages(r, G=4)
    assert torch.equal(adv, torch.zeros(8))
    assert not signal.any()
    assert torch.isfinite(adv).all()


def test_group_of_one_is_refused():
    with pytest.raises(ValueError, match='at least 2 samples'):
        grpo.group_advantages(torch.tensor([1.0, 0.0]), G=1)


def test_overlong_penalty():
    lens = torch.tensor([10, 80, 90, 100])
    assert grpo.overlong_penalty(lens, 100, 20).tolist() == pytest.approx([0.0, 0.0, -0.5, -1.0])
    assert grpo.overlong_penalty(lens, 100, 0).tolist() == [0.0] * 4


# ---------------------------------------------------------------------------- the loss

def _token_loss(logp, old, ref, adv, eps_low, eps_high, beta):
    """The per-token loss training runs (kernels' torch path) at chosen log-probs: logits over two
    tokens whose first has probability exp(logp)."""
    logits = torch.stack([logp, torch.log1p(-torch.exp(logp))], -1)  # (N, T, 2)
    loss, _, kl, clipped = grpo_token_loss(logits, torch.zeros(logp.shape, dtype=torch.long), old,
                                           ref, adv[:, None].expand(logp.shape).to(logp.dtype),
                                           eps_low=eps_low, eps_high=eps_high, beta=beta,
                                           backend='torch')
    return loss, kl, clipped


def test_token_loss_by_hand_clipping_both_sides_and_k3():
    old = torch.log(torch.full((1, 4), 0.4))
    logp = torch.log(torch.tensor([[0.6, 0.2, 0.44, 0.36]]))  # ratios 1.5, 0.5, 1.1, 0.9
    ref = old.clone()
    # positive advantage: the high side clips (1.5 -> 1.2); negative: the low side (0.5 -> 0.8)
    loss, kl, clipped = _token_loss(logp, old, ref, torch.tensor([2.0]), 0.2, 0.2, beta=0.0)
    assert loss.tolist()[0] == pytest.approx([-2.4, -1.0, -2.2, -1.8])
    assert clipped.tolist()[0] == [True, False, False, False]
    loss, _, clipped = _token_loss(logp, old, ref, torch.tensor([-2.0]), 0.2, 0.2, beta=0.0)
    assert loss.tolist()[0] == pytest.approx([3.0, 1.6, 2.2, 1.8])
    assert clipped.tolist()[0] == [False, True, False, False]
    # clip-higher: eps_high 0.6 lets 1.5 through
    loss, _, _ = _token_loss(logp, old, ref, torch.tensor([2.0]), 0.2, 0.6, beta=0.0)
    assert loss[0, 0].item() == pytest.approx(-3.0)
    # k3 = exp(ref - logp) - (ref - logp) - 1, added with weight beta
    loss, kl, _ = _token_loss(logp, old, ref, torch.tensor([0.0]), 0.2, 0.2, beta=0.5)
    d = (ref - logp)[0]
    # float32 log-softmax
    assert kl[0].tolist() == pytest.approx((torch.exp(d) - d - 1).tolist(), rel=1e-5)
    assert loss[0].tolist() == pytest.approx((0.5 * (torch.exp(d) - d - 1)).tolist(), rel=1e-5)
    assert (kl >= 0).all()


@pytest.mark.parametrize('agg', ['grpo', 'token', 'dr_grpo'])
def test_aggregations_by_hand(agg):
    loss_t = torch.tensor([[1.0, 2.0, 3.0, 0.0], [4.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]], dtype=torch.bool)
    want = {'grpo': (2.0 + 4.0) / 2, 'token': 10.0 / 4, 'dr_grpo': 10.0 / (2 * 5)}[agg]
    assert grpo.aggregate(loss_t, mask, agg, max_len=5).item() == pytest.approx(want)


def naive_grpo_objective(logits, targets, old, ref, adv, mask, eps_low, eps_high, beta):
    """DeepSeekMath eq. 3 written out directly, token by token, for gradient checking."""
    total = 0.0
    for i in range(logits.shape[0]):
        n = int(mask[i].sum())
        acc = 0.0
        for t in range(logits.shape[1]):
            if not mask[i, t]:
                continue
            lp = torch.log_softmax(logits[i, t], -1)[targets[i, t]]
            r = torch.exp(lp - old[i, t])
            surr = torch.min(r * adv[i], torch.clamp(r, 1 - eps_low, 1 + eps_high) * adv[i])
            k3 = torch.exp(ref[i, t] - lp) - (ref[i, t] - lp) - 1
            acc = acc + (-surr + beta * k3)
        total = total + acc / n
    return total / logits.shape[0]


def test_loss_gradient_matches_autograd_of_the_naive_formula():
    torch.manual_seed(0)
    N, T, V = 3, 5, 7
    logits = torch.randn(N, T, V, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, V, (N, T))
    old = (torch.log_softmax(torch.randn(N, T, V, dtype=torch.float64), -1)
           .gather(-1, targets[..., None])[..., 0])
    ref = old + 0.1 * torch.randn(N, T, dtype=torch.float64)
    adv = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)
    mask = torch.ones(N, T, dtype=torch.bool)
    mask[1, 3:] = False
    loss_t, _, _, _ = grpo_token_loss(logits, targets, old, ref, adv[:, None].expand(N, T), mask,
                                      eps_low=0.2, eps_high=0.3, beta=0.04, backend='torch')
    ours = grpo.aggregate(loss_t, mask, 'grpo')
    g_ours, = torch.autograd.grad(ours, logits)
    naive = naive_grpo_objective(logits, targets, old, ref, adv, mask, 0.2, 0.3, 0.04)
    g_naive, = torch.autograd.grad(naive, logits)
    # the training path computes log-probs in float32 (kernels/), the naive formula in float64
    assert ours.item() == pytest.approx(naive.item(), rel=1e-6)
    assert torch.allclose(g_ours.double(), g_naive, atol=1e-7)


def test_shared_prompt_forward_equals_the_full_rows():
    # each prompt once, its responses on top of its cached keys/values: same logits and gradients
    # as running every [prompt, response] row whole (prompts and responses of different lengths)
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=50, n_layer=2, n_head=4, n_kv_head=2, n_embd=32,
                                    block_size=64))
    prompts = [torch.randint(1, 50, (n,)) for n in (5, 9, 7)]
    lens = [3, 6, 1, 4, 6, 2]  # two responses per prompt
    responses = [torch.randint(1, 50, (n,)) for n in lens]
    group = torch.tensor([0, 0, 1, 1, 2, 2])
    Lp, Lr = 9, 6
    P = torch.zeros(3, Lp, dtype=torch.long)
    pm = torch.zeros(3, Lp, dtype=torch.bool)
    for i, p in enumerate(prompts):
        P[i, Lp - len(p):], pm[i, Lp - len(p):] = p, True
    R = torch.zeros(6, Lr, dtype=torch.long)
    mask = torch.zeros(6, Lr, dtype=torch.bool)
    for i, r in enumerate(responses):
        R[i, :len(r)], mask[i, :len(r)] = r, True
    weights = torch.randn(6, Lr, 50)

    shared = response_logits(model, Rows(P, pm, group, R))  # (6, Lr, 50)
    (shared * weights * mask[..., None]).sum().backward()
    g_shared = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    full = torch.zeros(6, Lr, 50)
    total = 0.0
    for i, r in enumerate(responses):
        p = prompts[int(group[i])]
        logits = model(torch.cat([p, r])[None])[0, len(p) - 1:len(p) - 1 + len(r)]  # predicts r
        full[i, :len(r)] = logits.detach()
        total = total + (logits * weights[i, :len(r)]).sum()
    total.backward()
    assert torch.allclose(shared.detach() * mask[..., None], full, atol=1e-5)
    for a, b in zip(g_shared, (p.grad for p in model.parameters())):
        assert torch.allclose(a, b, atol=1e-5)


def test_batch_log_probs_match_the_samplers_own():
    # sample's layout is the update's: select_rows -> response_logits scores each response token
    # exactly as the KV-cached sampler drew it (prompts of different lengths, two responses each)
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=50, n_layer=2, n_head=4, n_kv_head=2, n_embd=32,
                                    block_size=64))
    prompts = [[3, 4, 5, 6, 7], [8, 9], [10, 11, 12, 13, 14, 15, 16]]
    s = sample(model, prompts, 6, temperature=1.0, num_samples=2, seed=0, stop_ids=(1, 2, 3))
    assert len(set(s.response_lens.tolist())) > 1  # ragged: there is padding to get wrong
    with torch.no_grad():
        logp = logits.logprobs(model, logits.select_rows(s, torch.arange(6)), 1.0, 'torch')
    assert torch.allclose(logp[s.mask], s.logprobs[s.mask], atol=1e-5)
