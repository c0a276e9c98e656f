"""Hugging Face interop (hf.py, tokenizer.HFTokenizer) against transformers and tokenizers
themselves.

transformers and tokenizers are test-time dependencies (requirements-test.txt): they are the
reference we are checked against, never used by a run."""
import json
import os
import random

import pytest
import torch

import hf
from model import ModelConfig, Transformer
from sample import generate
from tokenizer import HFTokenizer, Tokenizer, train_tokenizer

transformers = pytest.importorskip('transformers')
tokenizers = pytest.importorskip('tokenizers')
# after the skip above: tokenizers is a test-time dependency
from tokenizers import Regex, decoders, models, normalizers, pre_tokenizers, trainers  # noqa: E402

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def tiny_hf(tmp_path, kind, tied=False, **over):
    """A random transformers model of `kind`, saved with save_pretrained (safetensors)."""
    torch.manual_seed(0)
    common = dict(vocab_size=320, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                  tie_word_embeddings=tied, rms_norm_eps=1e-6, **over)
    if kind == 'qwen2':
        ref = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(rope_theta=50000.0, **common))
        with torch.no_grad():  # transformers initialises the q/k/v biases to zero; make them count
            for layer in ref.model.layers:
                for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj,
                             layer.self_attn.v_proj):
                    proj.bias.normal_(0, 0.5)
    else:
        ref = transformers.LlamaForCausalLM(transformers.LlamaConfig(**common))
    folder = tmp_path / f'{kind}-{"tied" if tied else "untied"}'
    ref.save_pretrained(folder)
    return ref.eval(), str(folder)


def hf_logits(ref, idx, mask=None):
    with torch.no_grad():
        if mask is None:
            return ref(input_ids=idx).logits
        pos = (mask.long().cumsum(1) - 1).clamp(min=0)
        return ref(input_ids=idx, attention_mask=mask.long(), position_ids=pos).logits


@pytest.mark.parametrize('kind,tied', [('qwen2', False), ('qwen2', True), ('llama', False)])
def test_logits_and_greedy_match_transformers(tmp_path, kind, tied):
    ref, folder = tiny_hf(tmp_path, kind, tied)
    ours = hf.load_hf(folder)
    assert ours.config.qkv_bias == (kind == 'qwen2') and ours.config.tie_embeddings == tied
    # the memory estimate's count
    assert hf.n_params(ours.config) == ours.num_params() == ref.num_parameters()
    if tied:
        assert ours.lm_head.weight is ours.embed_tokens.weight
    g = torch.Generator().manual_seed(1)
    idx = torch.randint(0, 320, (3, 17), generator=g)
    with torch.no_grad():
        assert torch.allclose(ours(idx), hf_logits(ref, idx), atol=1e-5, rtol=0)
        mask = torch.ones_like(idx, dtype=torch.bool)
        mask[1, :5], mask[2, :11] = False, False  # left padding
        a, b = ours(idx, pad_mask=mask), hf_logits(ref, idx, mask)
        assert torch.allclose(a[mask], b[mask], atol=1e-5, rtol=0)
    prompt = idx[0, :9]
    want = ref.generate(prompt[None], attention_mask=torch.ones(1, 9, dtype=torch.long),
                        max_new_tokens=20, do_sample=False, pad_token_id=0,
                        eos_token_id=None)[0, 9:].tolist()
    got = generate(ours, [prompt.tolist()], 20, temperature=0.0)[0]
    assert got == want and len(got) == 20


def test_sharded_folder_and_dtype_kept(tmp_path):
    ref, folder = tiny_hf(tmp_path, 'llama')
    sharded = tmp_path / 'sharded'
    ref.to(torch.bfloat16).save_pretrained(sharded, max_shard_size='40KB')
    assert os.path.exists(sharded / hf.INDEX) and len(list(sharded.glob('*.safetensors'))) > 1
    ours = hf.load_hf(str(sharded))
    assert next(ours.parameters()).dtype == torch.bfloat16
    idx = torch.randint(0, 320, (2, 9))
    with torch.no_grad():
        assert torch.allclose(ours(idx), hf_logits(ref, idx).float(), atol=3e-2)


@pytest.mark.parametrize('qkv_bias,tied', [(False, True), (True, False)])
def test_export_loads_in_transformers(tmp_path, qkv_bias, tied):
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=300, n_layer=2, n_head=4, n_kv_head=2, n_embd=32,
                                    block_size=64, qkv_bias=qkv_bias,
                                    tie_embeddings=tied)).eval()
    if qkv_bias:
        with torch.no_grad():
            model.layers[0].self_attn.q_proj.bias.normal_()
    tok = train_tokenizer(['Compute 7 + 3 - 5', '求 x：x + 7 = 12'] * 5, vocab_size=300)
    hf.export_hf(model, tok, str(tmp_path / 'export'))
    ref = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / 'export')).eval()
    assert type(ref).__name__ == ('Qwen2ForCausalLM' if qkv_bias else 'LlamaForCausalLM')
    idx = torch.randint(0, 300, (2, 13))
    with torch.no_grad():
        assert torch.allclose(model(idx), hf_logits(ref, idx), atol=1e-5, rtol=0)
    # and back: our loader reads our own export
    again = hf.load_hf(str(tmp_path / 'export'))
    with torch.no_grad():
        assert torch.equal(again(idx), model(idx))


def varied_strings(n, seed=0):
    rng = random.Random(seed)
    words = ['the', 'Answer', "don't", "I'LL", 'x', 'café', 'naïve', 'Ünïcode', 'tokenizer',
             'GRPO']
    han = '小明有个苹果然后又得到送出现在多少求答案是'
    code = ['def f(x):\n    return x + 3\n', 'for i in range(10):\n\tprint(i)', '{"a": [1, 2]}',
            'a<=b && c!=d;']
    emoji = ['😀', '🚀', '👍🏽', '🇯🇵', '∑', '→']
    parts = [lambda: rng.choice(words),
             lambda: ''.join(rng.choice(han) for _ in range(rng.randint(1, 6))),
             lambda: str(rng.randint(0, 10 ** rng.randint(1, 9))),
             lambda: rng.choice([' ', '  ', '\n', '\n\n', '\t', '   \n ']),
             lambda: rng.choice(code), lambda: rng.choice(emoji),
             lambda: rng.choice('.,!?;:()[]-+*/=<>'),
             lambda: '<think>',
             lambda: 'e\u0301']  # a combining accent: NFC changes it
    return [''.join(rng.choice(parts)() + rng.choice(['', ' ']) for _ in range(rng.randint(1, 12)))
            for _ in range(n)]


def test_hf_tokenizer_matches_tokenizers(tmp_path):
    ref = tokenizers.Tokenizer(models.BPE())
    ref.normalizer = normalizers.NFC()
    ref.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior='isolated'),
         pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    ref.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=['<|endoftext|>', '<|pad|>'],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    ref.train_from_iterator(varied_strings(3000, seed=1), trainer)
    ref.add_tokens(['<think>'])  # a non-special added token: matched in text, as tokenizers does
    ref.save(str(tmp_path / 'tokenizer.json'))
    (tmp_path / 'tokenizer_config.json').write_text(json.dumps({'eos_token': '<|endoftext|>',
                                                                'pad_token': '<|pad|>'}))
    ours = Tokenizer.load(str(tmp_path / 'tokenizer.json'))
    assert isinstance(ours, HFTokenizer)
    assert (ours.eot_id, ours.pad_id) == (ref.token_to_id('<|endoftext|>'),
                                          ref.token_to_id('<|pad|>'))
    texts = varied_strings(1000, seed=2)
    for text in texts:
        ids = ours.encode(text)
        assert ids == ref.encode(text, add_special_tokens=False).ids, text
        assert ours.decode(ids) == ref.decode(ids, skip_special_tokens=False)
    assert ours.encode_batch(texts[:50]) == [ours.encode(t) for t in texts[:50]]
    # special tokens are never made from text (ours), unlike tokenizers' default
    assert ours.eot_id not in ours.encode('a <|endoftext|> b')
    # a run folder keeps the file, and it loads back the same
    ours.save(str(tmp_path / 'run' / 'tokenizer.json'))
    again = Tokenizer.load(str(tmp_path / 'run' / 'tokenizer.json'))
    assert again.encode(texts[0]) == ours.encode(texts[0]) and again.eot_id == ours.eot_id


def test_our_tokenizer_exports_to_tokenizers(tmp_path):
    tok = train_tokenizer(varied_strings(2000, seed=3), vocab_size=700)
    tok.save_hf(str(tmp_path))
    ref = tokenizers.Tokenizer.from_file(str(tmp_path / 'tokenizer.json'))
    fast = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    assert fast.eos_token_id == tok.eot_id and fast.pad_token_id == tok.pad_id
    for text in varied_strings(300, seed=4):
        assert ref.encode(text).ids == tok.encode(text), text
    assert (Tokenizer.load(str(tmp_path / 'tokenizer.json')).encode('12 + 30 = 42')
            == tok.encode('12 + 30 = 42'))


@pytest.mark.parametrize('model_type', ['wordpiece', 'unigram'])
def test_other_tokenizer_models_refused(tmp_path, model_type):
    if model_type == 'wordpiece':
        ref, trainer = (tokenizers.Tokenizer(models.WordPiece(unk_token='[UNK]')),
                        trainers.WordPieceTrainer(vocab_size=100, special_tokens=['[UNK]'],
                                                  show_progress=False))
    else:
        ref, trainer = (tokenizers.Tokenizer(models.Unigram()),
                        trainers.UnigramTrainer(vocab_size=50, show_progress=False))
    ref.train_from_iterator(['hello world', 'tokenizers are fun'] * 20, trainer)
    ref.save(str(tmp_path / 'tokenizer.json'))
    with pytest.raises(ValueError, match='model.type .* is not supported'):
        Tokenizer.load(str(tmp_path / 'tokenizer.json'))


def _edit_config(folder, **changes):
    path = os.path.join(folder, 'config.json')
    cfg = json.load(open(path))
    cfg.update(changes)
    json.dump(cfg, open(path, 'w'))


@pytest.mark.parametrize('changes,match', [
    ({'model_type': 'mistral'}, "model_type 'mistral' is not supported"),
    ({'rope_scaling': {'rope_type': 'llama3', 'factor': 8.0}}, 'rope_scaling'),
    ({'use_sliding_window': True}, 'use_sliding_window'),
    ({'attention_bias': True}, 'attention_bias'),
    ({'hidden_act': 'gelu'}, 'hidden_act'),
    ({'head_dim': 32}, 'head_dim'),
    ({'num_local_experts': 8}, 'num_local_experts'),
])
def test_unsupported_configs_refused(tmp_path, changes, match):
    _, folder = tiny_hf(tmp_path, 'llama')
    _edit_config(folder, **changes)
    with pytest.raises(hf.HFError, match=match):
        hf.load_hf(folder)


def test_bad_folders_name_the_problem(tmp_path):
    with pytest.raises(hf.HFError, match='config.json not found'):
        hf.load_hf(str(tmp_path))
    ref, folder = tiny_hf(tmp_path, 'llama')
    _edit_config(folder, intermediate_size=128)
    with pytest.raises(hf.HFError, match=r"'layers.0.mlp.down_proj.weight' has shape \(64, 96\), "
                                         r"config.json implies \(64, 128\)"):
        hf.load_hf(folder)
    ref.save_pretrained(tmp_path / 'sharded', max_shard_size='40KB')
    shard = sorted((tmp_path / 'sharded').glob('*-of-*.safetensors'))[-1]
    shard.unlink()
    with pytest.raises(hf.HFError, match=f'{shard.name}: shard named by'):
        hf.load_hf(str(tmp_path / 'sharded'))
    os.remove(os.path.join(folder, 'model.safetensors'))
    with pytest.raises(hf.HFError, match='no model.safetensors'):
        hf.load_hf(folder)


def test_our_run_folder_is_not_mistaken_for_a_hf_folder(tmp_path):
    # written before ckpt.pt
    (tmp_path / 'config.json').write_text(json.dumps({'preset': 'cpu', 'steps': 100}))
    assert not hf.is_hf_folder(str(tmp_path))
    (tmp_path / 'config.json').write_text(json.dumps({'model_type': 'qwen2'}))
    assert hf.is_hf_folder(str(tmp_path))


def test_ids_the_tokenizer_lacks_decode_to_nothing_and_bad_files_are_named(tmp_path):
    tok = train_tokenizer(varied_strings(200, seed=5), vocab_size=400)
    tok.save_hf(str(tmp_path))
    ours = Tokenizer.load(str(tmp_path / 'tokenizer.json'))
    ids = ours.encode('hello 12')
    # a model row past the tokenizer's ids
    assert ours.decode(ids + [ours.vocab_size + 7]) == 'hello 12'
    (tmp_path / 'tokenizer_config.json').write_text('{"eos_token": ')
    with pytest.raises(ValueError, match='tokenizer_config.json is not valid JSON'):
        Tokenizer.load(str(tmp_path / 'tokenizer.json'))
    data = json.load(open(tmp_path / 'tokenizer.json'))
    data['added_tokens'] = [{'id': 5}]
    (tmp_path / 'tokenizer.json').write_text(json.dumps(data))
    with pytest.raises(ValueError, match='malformed tokenizer.json'):
        Tokenizer.load(str(tmp_path / 'tokenizer.json'))
