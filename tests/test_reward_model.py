"""The reward model: Bradley-Terry loss by hand, the head reads the last real token, pairs are
labelled by the rubric and split-clean, and training ranks a toy pair set.

Run: pytest tests/test_reward_model.py
"""
import math
import random

import pytest
import torch

import reward_model as R
import rewards
import tasks
from checkpoint import save_checkpoint
from model import ModelConfig, Transformer


def body(tok, seed=0):
    torch.manual_seed(seed)
    return Transformer(ModelConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_kv_head=1,
                                   n_embd=32, block_size=512))


def test_bt_loss_by_hand():
    c, r = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0])
    want = (-math.log(1 / (1 + math.exp(-2.0))) - math.log(1 / (1 + math.exp(1.0)))) / 2
    assert R.bt_loss(c, r).item() == pytest.approx(want)
    assert R.bt_loss(torch.zeros(3), torch.zeros(3)).item() == pytest.approx(math.log(2))


def test_score_reads_the_end_token_not_the_padding(tok):
    rm = R.RewardModel(body(tok))
    torch.nn.init.normal_(rm.head.weight)
    short, long_ = 'Hello Tom!', 'Hello Tom! Have a good day, and thank you.'
    alone = R.score_texts(rm, tok, [''], [short])
    padded = R.score_texts(rm, tok, ['', ''], [short, long_])  # short is right-padded in this batch
    assert padded[0] == pytest.approx(alone[0], abs=1e-5)
    assert padded[0] != pytest.approx(padded[1], abs=1e-5)
    # by hand: the head on the final hidden state at the end token, the last real position
    ids = torch.tensor([tok.encode(short) + [tok.eot_id]])
    with torch.no_grad():
        want = rm.head(rm.body(ids, return_hidden=True)[0, -1]).item()
        before_end = rm.head(rm.body(ids, return_hidden=True)[0, -2]).item()
    assert (alone[0] == pytest.approx(want, abs=1e-5)
            and alone[0] != pytest.approx(before_end, abs=1e-5))
    # a response cut off at the length limit has no end token, and scores differently
    assert (R.score_texts(rm, tok, [''], [short], ended=[False])[0]
            == pytest.approx(before_end, abs=1e-5))


def test_pairs_are_rubric_ranked_and_split_clean():
    rng = random.Random(0)
    # every chat problem there is (5 kinds x 10 names x 2 languages), by its rendered prompt
    chat = {}
    for _ in range(3000):
        p = tasks.gen_chat(rng, 1, rng.choice(['en', 'zh']))
        chat[tasks.render_prompt(p)] = p
    assert len(chat) == 100
    for split in ('train', 'test'):
        for prompt, chosen, rejected in R.chat_pairs(300, split, seed=0):
            problem = chat[prompt]
            assert tasks.split_of(problem) == split  # held-out pairs use test-split prompts only
            assert rewards.chat_score(chosen, problem) > rewards.chat_score(rejected, problem)


def test_training_ranks_a_toy_pair_set_and_round_trips(tok, tmp_path):
    """Chosen replies greet by name, rejected ones do not: a few hundred steps must rank them,
    on pairs it trained on and on fresh ones."""
    def toy(n, seed):
        rng = random.Random(seed)
        out = []
        for _ in range(n):
            name = rng.choice(['Tom', 'Anna', 'Bob', 'Lily'])
            out.append(('User: greet. Assistant:', f' <answer> Hello {name}! </answer>',
                        ' <answer> Ok. </answer>'))
        return out
    rm = R.train_reward_model(body(tok), tok, toy(64, 0), steps=60, batch_size=16, lr=3e-3,
                              log_interval=100)
    assert R.pair_accuracy(rm, tok, toy(64, 0)) == 1.0
    assert R.pair_accuracy(rm, tok, toy(32, 1)) == 1.0
    R.save_reward_model(str(tmp_path / 'rm'), rm, tok)
    again, _ = R.load_reward_model(str(tmp_path / 'rm'))
    texts = [c for _, c, _ in toy(4, 2)]
    assert R.score_texts(again, tok, [''] * 4, texts) == pytest.approx(
        R.score_texts(rm, tok, [''] * 4, texts))


def test_loading_a_policy_checkpoint_as_a_reward_model_is_refused(tok, tmp_path):
    save_checkpoint(str(tmp_path / 'ckpt.pt'), body(tok))
    tok.save(str(tmp_path / 'tokenizer.json'))
    with pytest.raises(ValueError, match='no reward head'):
        R.load_reward_model(str(tmp_path))
