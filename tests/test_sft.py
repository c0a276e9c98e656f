"""SFT: the prompt is masked out of the loss, batches, data files, resume; rejection sampling's
filters one by one on hand-made samples.

Run: pytest tests/test_sft.py
"""
import json

import pytest
import torch

import sft
import tasks
from config import Config
from kernels.logprobs import IGNORE_INDEX
from model import ModelConfig, Transformer


def small_model(tok, seed=0):
    torch.manual_seed(seed)
    return Transformer(ModelConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_kv_head=1,
                                   n_embd=32, block_size=128))


def cfg(tmp_path, **over):
    c = dict(device='cpu', epochs=2.0, batch_size=2, lr=1e-3, min_lr=1e-4, warmup_steps=1,
             weight_decay=0.0, grad_clip=1.0, log_interval=1, ckpt_interval=1, seed=0,
             dtype='float32', kernels='torch', out_dir=str(tmp_path), resume=False)
    c.update(over)
    return Config(**c)


EXAMPLES = [('Compute 3 + 4.', ' <think> 3 + 4 = 7 </think> <answer> 7 </answer>'),
            ('Compute 2 + 2.', ' <think> 2 + 2 = 4 </think> <answer> 4 </answer>'),
            ('计算 5 - 1。', ' <think> 5 - 1 = 4 </think> <answer> 4 </answer>')]


def test_collate_masks_prompt_and_padding(tok):
    rows = sft.encode_examples(tok, EXAMPLES[:2], 128)
    x, y = sft.collate(rows, tok.pad_id)
    for b, (ids, n_prompt) in enumerate(rows):
        assert x[b, :len(ids) - 1].tolist() == ids[:-1]
        assert (y[b, :n_prompt - 1] == IGNORE_INDEX).all()      # predicting prompt tokens: masked
        # the response and the end token
        assert y[b, n_prompt - 1:len(ids) - 1].tolist() == ids[n_prompt:]
        assert (y[b, len(ids) - 1:] == IGNORE_INDEX).all()     # padding: masked
        assert ids[-1] == tok.eot_id


def test_loss_is_the_response_tokens_nll_only(tok):
    """Fails if the prompt is not masked: the loss must equal the mean NLL over response
    positions alone, computed by hand, and prompt logits must get no gradient."""
    model = small_model(tok)
    rows = sft.encode_examples(tok, EXAMPLES[:2], 128)
    x, y = sft.collate(rows, tok.pad_id)
    logits = model(x).detach().requires_grad_(True)
    loss = sft.sft_loss(lambda _: logits, x, y, 'torch')
    logp = torch.log_softmax(logits, -1)
    nll, n = 0.0, 0
    for b, (ids, n_prompt) in enumerate(rows):
        for t in range(n_prompt - 1, len(ids) - 1):
            nll -= logp[b, t, ids[t + 1]].item()
            n += 1
    assert loss.item() == pytest.approx(nll / n, rel=1e-5)
    loss.backward()
    n_prompt = rows[0][1]
    assert logits.grad[0, :n_prompt - 1].abs().max().item() == 0.0
    assert logits.grad[0, n_prompt - 1].abs().max().item() > 0.0


def test_too_long_and_empty_examples_are_refused(tok):
    with pytest.raises(ValueError, match='do not fit the model context'):
        sft.encode_examples(tok, [('x ' * 100, ' y' * 100)], 64)
    with pytest.raises(ValueError, match='non-empty'):
        sft.encode_examples(tok, [('prompt', '')], 64)


def test_training_lowers_the_loss_and_resumes_bit_identically(tok, tmp_path):
    data = EXAMPLES * 4  # 12 examples, 6 steps an epoch, 18 steps
    full = small_model(tok)
    sft.train(full, tok, data, cfg(tmp_path / 'full', epochs=3.0))
    rows = [json.loads(l) for l in open(tmp_path / 'full' / 'metrics.jsonl')]
    assert len(rows) == 18 and rows[-1]['loss'] < rows[0]['loss']

    def crash_at_8(model, step):  # a crash at the top of step 8, in the second epoch
        if step == 8:
            raise RuntimeError('simulated crash')
        return {}
    with pytest.raises(RuntimeError, match='simulated crash'):
        sft.train(small_model(tok), tok, data, cfg(tmp_path / 'part', epochs=3.0),
                  evaluate=crash_at_8, eval_interval=1)
    # the last completed step
    assert torch.load(tmp_path / 'part' / 'ckpt.pt', weights_only=True)['step'] == 7
    resumed = small_model(tok, seed=1)  # a different init: everything must come from the checkpoint
    sft.train(resumed, tok, data, cfg(tmp_path / 'part', epochs=3.0, resume=True))
    for a, b in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    losses = [json.loads(l)['loss'] for l in open(tmp_path / 'part' / 'metrics.jsonl')]
    assert losses == [r['loss'] for r in rows]


def test_jsonl_round_trip_and_bad_lines(tmp_path):
    path = str(tmp_path / 'd.jsonl')
    sft.write_examples(path, EXAMPLES)
    assert sft.read_examples(path) == EXAMPLES
    with open(path, 'a') as f:
        f.write('{"prompt": "only a prompt"}\n')
    with pytest.raises(ValueError, match=r'd.jsonl:4: not a'):
        sft.read_examples(path)
    with pytest.raises(FileNotFoundError, match='no SFT data'):
        sft.read_examples(str(tmp_path / 'missing.jsonl'))


# ---------------------------------------------------------------------------- rejection sampling

def math_problem(lang='en'):
    return tasks.Problem('p', 'math', lang, 2,
                         'Compute 3 + 4' if lang == 'en' else '计算 3 + 4', '7', expr='3 + 4')


def resp(think, answer='7'):
    return f'<think> {think} </think> <answer> {answer} </answer>'


@pytest.mark.parametrize('sample, dropped_by', [
    ((resp('3 + 4 = 8'), 12, True), None),                          # wrong answer below
    ((resp('3 + 4 = 7', '8'), 12, True), 'correct'),
    ((resp('3 + 4 = 7'), 12, False), 'ended'),                       # cut off, no end token
    ((resp('3 加 4 = 7, so seven'), 12, True), 'single_language'),  # reasoning mixes languages
    ((resp('3 + 4 = 7'), 500, True), 'not_overlong'),
    ((resp('3 + 4 = 7 and so on and so on and so on and so on and so on'), 30, True),
     'not_repetitive'),
])
def test_each_filter_on_hand_made_samples(sample, dropped_by):
    p = math_problem()
    kept = sft.filter_samples([p], ['PROMPT'], [[sample]], max_tokens=100)
    if dropped_by is None:  # the answer block says 7, which is right whatever the reasoning says
        assert len(kept.examples) == 1
        return
    assert kept.examples == []
    names = ['correct', 'ended', 'single_language', 'not_overlong', 'not_repetitive']
    i = names.index(dropped_by)
    # every earlier filter let it through
    assert all(kept.report[n]['kept'] == 1 for n in names[:i])
    assert kept.report[dropped_by]['kept'] == 0 and kept.report[dropped_by]['rate'] == 0.0


def test_keeps_distinct_answers_longest_first_per_prompt():
    p = math_problem()
    short, long_ = resp('3 + 4 = 7'), resp('3 + 4 = 7. Check: 7 - 4 = 3.')
    samples = [[(short, 10, True), (long_, 20, True), (short, 10, True)]]
    kept = sft.filter_samples([p], ['PROMPT'], samples, per_prompt=1)
    assert kept.examples == [('PROMPT', ' ' + long_)]
    kept = sft.filter_samples([p], ['PROMPT'], samples, per_prompt=5)
    assert len(kept.examples) == 2  # the duplicate short answer counts once
    assert kept.report['kept_examples'] == 2 and kept.report['samples'] == 3


def test_a_bf16_model_trains_float32_master_weights(tok, tmp_path):
    # a published base arrives in bf16; an AdamW step of lr 1e-6 would round away in bf16 weights
    model = small_model(tok).to(torch.bfloat16)
    before = {k: v.float().clone() for k, v in model.state_dict().items()}
    sft.train(model, tok, EXAMPLES, cfg(tmp_path, epochs=1.0, lr=1e-6, min_lr=1e-6, warmup_steps=0))
    assert all(p.dtype == torch.float32 for p in model.parameters())
    w = model.layers[0].mlp.up_proj.weight
    moved = (w != before['layers.0.mlp.up_proj.weight']).float().mean().item()
    assert moved > 0.9, f'only {moved:.0%} of the weights moved'
