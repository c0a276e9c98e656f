"""Data parallelism (ddp.py): 2 processes under torchrun (gloo, CPU) train the same parameters as
1 process with the same global batch, for each loop, and a resumed 2-process run continues as
the uninterrupted one. About a minute: every run is a fresh pair of Python processes."""
import json
import subprocess
import sys

import pytest
import torch

from checkpoint import load_model
from test_real_inputs import hf_base, write_gsm8k  # noqa: F401 (hf_base is a fixture)
from test_scripts import ENV, ROOT, TINY_BASE, TINY_RL

pytestmark = pytest.mark.slow


def launch(nproc, *args):
    cmd = [sys.executable,
           *(['-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={nproc}']
             if nproc > 1 else []),
           *args]
    r = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r.stdout


def weights(run_dir):
    return torch.load(run_dir / 'ckpt.pt', map_location='cpu', weights_only=True)['model']


def assert_same(a, b, atol):
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst <= atol, f'largest parameter difference {worst:.2e}'


def moved(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    one, two = tmp_path_factory.mktemp('one'), tmp_path_factory.mktemp('two')
    for n, out in ((1, one), (2, two)):
        launch(n, 'pretrain.py', *TINY_BASE, '--eval_n=0', f'--out_dir={out}')
    return one, two


def test_pretraining_in_two_processes_equals_one(pretrained):
    one, two = pretrained
    assert_same(weights(one), weights(two), atol=1e-6)
    rows = [json.loads(line) for line in open(two / 'metrics.jsonl')]
    assert [r['step'] for r in rows] == [0, 1, 2]  # rank 0 alone wrote the log


def test_sft_in_two_processes_equals_one(pretrained, tmp_path):
    base = pretrained[0]
    examples = tmp_path / 'sft.jsonl'
    examples.write_text(''.join(json.dumps({'prompt': f'Compute {a} + 1',
                                            'response': f' {a + 1}'}) + '\n'
                                for a in range(9)))
    runs = {}
    for n in (1, 2):
        runs[n] = tmp_path / f'sft{n}'
        # 9 examples in batches of 4: one process gets none of the last
        launch(n, 'sft.py', f'--init={base}', f'--data={examples}', f'--out_dir={runs[n]}',
               '--batch_size=4', '--epochs=1', '--dtype=float32', '--lr=1e-3')
    assert moved(weights(base), weights(runs[1])) > 1e-4
    assert_same(weights(runs[1]), weights(runs[2]), atol=1e-6)


def test_grpo_in_two_processes_equals_one_and_resumes(hf_base, tmp_path):  # noqa: F811
    gsm = write_gsm8k(tmp_path / 'gsm8k.jsonl')
    common = [*TINY_RL, '--n_prompts=4', '--group_size=4', '--max_new_tokens=24',
              '--temperature=1.5', '--eval_interval=0', f'--base_dir={hf_base}',
              f'--dataset={gsm}', f'--eval_dataset={gsm}']
    one, two, resumed = tmp_path / 'one', tmp_path / 'two', tmp_path / 'resumed'
    launch(1, 'train_zero.py', *common, '--steps=3', f'--out_dir={one}')
    launch(2, 'train_zero.py', *common, '--steps=3', f'--out_dir={two}')
    launch(2, 'train_zero.py', *common, '--steps=2', f'--out_dir={resumed}')
    text = launch(2, 'train_zero.py', *common, '--steps=3', '--resume', f'--out_dir={resumed}')
    assert 'resumed from' in text
    rows = [json.loads(line) for line in open(one / 'metrics.jsonl')]
    assert sum(r['grad_norm'] > 0 for r in rows) >= 2  # real updates, not skipped steps
    start = load_model(str(hf_base))[0].state_dict()
    assert moved(start, weights(one)) > 1e-5
    assert_same(weights(one), weights(two), atol=1e-5)
    assert_same(weights(two), weights(resumed), atol=1e-6)


def test_torchrun_pretrains_a_missing_base_once_and_refuses_uneven_prompts(tmp_path):
    base, out = tmp_path / 'base', tmp_path / 'zero'
    text = launch(2, 'train_zero.py', *TINY_RL, '--steps=1', f'--base_dir={base}',
                  f'--out_dir={out}', '--pretrain_args=' + ' '.join(TINY_BASE))
    assert (text.count('pretraining one first') == 1 and (base / 'ckpt.pt').exists()
            and (out / 'ckpt.pt').exists())
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone',
                        '--nproc_per_node=2', 'train_zero.py', *TINY_RL, '--n_prompts=3',
                        f'--base_dir={base}', f'--out_dir={out}'],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and '--n_prompts=3 must be a multiple of the 2 processes' in r.stderr
