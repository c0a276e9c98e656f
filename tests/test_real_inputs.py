"""Scripts on real inputs: a tiny random Hugging Face folder (transformers + tokenizers, both
test-time only) and an 8-line GSM8K file. Bad inputs exit with status 2 naming the file or
key."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

import data
import tasks
from checkpoint import load_model

from test_scripts import ENV, ROOT, TINY_RL, run

transformers = pytest.importorskip('transformers')
tokenizers = pytest.importorskip('tokenizers')
# after the skip above: tokenizers is a test-time dependency
from tokenizers import decoders, models, pre_tokenizers, trainers  # noqa: E402

GSM8K = [{'question': f'Tom has {a} apples and gets {b} more. How many apples does Tom have?',
          'answer': f'Tom has {a} + {b} = <<{a}+{b}={a + b}>>{a + b} apples.\n#### {a + b}'}
         for a, b in ((3, 4), (10, 5), (7, 7), (12, 30), (1, 1), (9, 2), (40, 2), (6, 8))]


@pytest.fixture(scope='module')
def hf_base(tmp_path_factory):
    """A Qwen2 folder as a hub download looks: config.json, model.safetensors, tokenizer.json."""
    folder = tmp_path_factory.mktemp('qwen2-tiny')
    tk = tokenizers.Tokenizer(models.BPE())
    # GPT-2's regex inside ByteLevel
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    texts = ([r['question'] + ' ' + r['answer'] for r in GSM8K] * 20
             + ['<think> </think> <answer> </answer>'] * 20
             + [tasks.TEMPLATE] * 20)
    tk.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=400, special_tokens=['<|endoftext|>'],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tk.save(str(folder / 'tokenizer.json'))
    (folder / 'tokenizer_config.json').write_text(json.dumps({'eos_token': '<|endoftext|>'}))
    cfg = transformers.Qwen2Config(vocab_size=tk.get_vocab_size(), hidden_size=64,
                                   intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=2, num_key_value_heads=1,
                                   max_position_embeddings=512, tie_word_embeddings=True,
                                   eos_token_id=0)
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(cfg)
    # a few steps of supervised training on answers in the R1-Zero format, so that its samples are
    # sometimes right: rewards then differ within a group and GRPO really updates the weights
    ids = [tk.encode(tasks.render_prompt(p)
                     + f' <think> so </think> <answer> {p.answer} </answer>').ids + [0]
           for p in data.load(write_gsm8k(folder / 'gsm8k.jsonl'))]
    batch = torch.tensor([x + [0] * (max(map(len, ids)) - len(x)) for x in ids])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(160):
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.save_pretrained(folder)
    return folder


def write_gsm8k(path, rows=GSM8K):
    path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return str(path)


@pytest.mark.slow  # starts the scripts as processes
def test_train_zero_and_eval_on_a_hf_folder_and_gsm8k(hf_base, tmp_path):
    gsm = write_gsm8k(tmp_path / 'gsm8k.jsonl')
    out = tmp_path / 'zero'
    text = run('train_zero.py', *TINY_RL, '--steps=3', '--group_size=4', '--max_new_tokens=24',
               '--temperature=1.5', f'--base_dir={hf_base}', f'--dataset={gsm}',
               f'--eval_dataset={gsm}', f'--out_dir={out}')
    assert 'pretraining' not in text  # a Hugging Face folder is a base as it stands
    rows = [json.loads(line) for line in open(out / 'metrics.jsonl')]
    assert [r['step'] for r in rows] == [0, 1, 2, 3]  # three steps, then the curves' last point
    # an update, not three skips
    assert any(r['grad_norm'] > 0 and not r['skipped'] for r in rows[:3])
    results = json.load(open(out / 'eval.json'))['models']
    assert set(results) == {'base', 'zero'} and results['zero']['tasks']['math']['n'] == 2
    # the run folder keeps the Hugging Face tokenizer, and evaluation.py evaluates the run from it
    assert json.load(open(out / 'tokenizer.json'))['model']['type'] == 'BPE'
    run('evaluation.py', f'--run={out}', f'--eval_dataset={gsm}', f'--dataset={gsm}', '--n=3',
        '--k=2', '--max_new_tokens=8', '--name=again')
    again = json.load(open(out / 'eval.json'))['models']['again']['tasks']['math']
    assert again['n'] == 3 and again['k'] == 2
    # and back out: the trained run as a Hugging Face folder, read by transformers with our logits
    run('hf.py', 'export', str(out), str(tmp_path / 'exported'))
    ours, tok = load_model(str(out))
    theirs = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / 'exported')).eval()
    idx = torch.tensor([tok.encode(tasks.render_prompt(data.load(gsm)[0]))])
    with torch.no_grad():
        assert torch.allclose(ours(idx), theirs(input_ids=idx).logits, atol=1e-5, rtol=0)
    # (transformers 5's AutoTokenizer rebuilds a qwen2 folder's pre-tokenizer with Qwen2's own
    # regex; this fixture's tokenizer uses GPT-2's, so the file is read as it is, as
    # docs/real-inputs.md says)
    assert transformers.PreTrainedTokenizerFast.from_pretrained(str(tmp_path / 'exported'))(
        'Tom has 3 apples', add_special_tokens=False)['input_ids'] == tok.encode('Tom has 3 apples')


def exit_2(*args):
    r = subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stdout[-1500:] + r.stderr[-1500:]
    return r.stderr


def copy_of(hf_base, tmp_path):
    return shutil.copytree(hf_base, tmp_path / 'copy')


def test_bad_model_folders_exit_2_naming_the_problem(hf_base, tmp_path):
    gsm = write_gsm8k(tmp_path / 'gsm8k.jsonl')
    common = [*TINY_RL, f'--dataset={gsm}', f'--eval_dataset={gsm}',
              f'--out_dir={tmp_path / "out"}']
    folder = copy_of(hf_base, tmp_path)
    cfg = json.load(open(folder / 'config.json'))
    json.dump({**cfg, 'model_type': 'gpt_neox'}, open(folder / 'config.json', 'w'))
    assert "model_type 'gpt_neox' is not supported" in exit_2('train_zero.py',
                                                              f'--base_dir={folder}', *common)
    json.dump({**cfg, 'hidden_size': 96}, open(folder / 'config.json', 'w'))
    assert "weight 'embed_tokens.weight' has shape" in exit_2('train_zero.py',
                                                              f'--base_dir={folder}', *common)
    os.remove(folder / 'config.json')
    err = exit_2('evaluation.py', f'--run={folder}', f'--eval_dataset={gsm}', f'--dataset={gsm}')
    assert f'{folder / "config.json"} not found' in err
    assert not os.path.exists(folder / 'ckpt.pt')  # nothing was pretrained into the user's folder


def test_missing_shard_and_bad_datasets_exit_2(hf_base, tmp_path):
    sharded = tmp_path / 'sharded'
    model = transformers.AutoModelForCausalLM.from_pretrained(str(hf_base))
    model.save_pretrained(sharded, max_shard_size='20KB')
    for name in ('tokenizer.json', 'tokenizer_config.json'):
        (sharded / name).write_bytes((hf_base / name).read_bytes())
    shard = sorted(sharded.glob('*-of-*.safetensors'))[0]
    shard.unlink()
    assert f'{shard.name}: shard named by' in exit_2('sample.py', f'--ckpt={sharded}',
                                                     '--max_new_tokens=2')
    empty = tmp_path / 'empty.jsonl'
    empty.write_text('\n')
    out = f'--out_dir={tmp_path / "out"}'
    assert f'dataset {empty} is empty' in exit_2('train_zero.py', f'--base_dir={hf_base}',
                                                 f'--dataset={empty}', out)
    bad = write_gsm8k(tmp_path / 'bad.jsonl', GSM8K[:3] + [{'question': 'q', 'answer': 'seven'}])
    assert f'{bad}:4: a GSM8K answer must end' in exit_2('train_zero.py', f'--base_dir={hf_base}',
                                                        f'--dataset={bad}', out)
    assert 'side problem of the held-out split' in exit_2(
        'train_zero.py', f'--base_dir={hf_base}',
        f'--dataset={write_gsm8k(tmp_path / "g1.jsonl", GSM8K[:1])}', out)


@pytest.mark.slow  # starts the scripts as processes
def test_train_r1_and_distill_take_a_hf_base_and_a_dataset(hf_base, tmp_path):
    gsm = write_gsm8k(tmp_path / 'gsm8k.jsonl')
    files = [f'--dataset={gsm}', f'--eval_dataset={gsm}', '--max_new_tokens=48', '--eval_n=2',
             '--eval_n_other=2', '--eval_k=2', '--dtype=float32']
    zero = tmp_path / 'zero'
    run('train_zero.py', *TINY_RL, '--group_size=4', '--temperature=1.5', f'--base_dir={hf_base}',
        f'--out_dir={zero}', *files[:2], '--max_new_tokens=48')
    run('train_r1.py', f'--base_dir={hf_base}', f'--zero_dir={zero}',
        f'--out_dir={tmp_path / "r1"}', *files, '--last_stage=2', '--cold_prompts=8', '--cold_k=2',
        '--steps=2', '--n_prompts=2', '--group_size=2', '--eval_interval=0')
    r1 = json.load(open(tmp_path / 'r1' / 'eval.json'))
    assert {'base', 'cold_start', 'reasoning_rl'} <= set(r1['models'])
    # R1-Zero's samples of the dataset's prompts
    assert r1['stages']['cold_start_data']['source'] == 'zero'
    run('distill.py', f'--teacher={tmp_path / "r1" / "reasoning_rl"}', f'--students={hf_base}',
        f'--rl_student={hf_base}', f'--out_dir={tmp_path / "distill"}', *files, '--math_prompts=8',
        '--findx_prompts=1', '--other_prompts=1', '--k=2', '--rl_steps=1', '--rl_max_steps=1')
    names = set(json.load(open(tmp_path / 'distill' / 'eval.json'))['models'])
    assert names == {'teacher', f'base_{hf_base.name}', f'distill_{hf_base.name}',
                     f'rl_{hf_base.name}'}
