"""Smoke tests: every script runs a few steps of a tiny config on CPU, end to end, and writes
its run folder in the shape docs/design.md (Contracts) gives. Also the gpu presets start.

Run: .venv/bin/pytest tests/test_scripts.py   (a few minutes: each test starts the scripts as
processes, so the module is marked slow; -m "not slow" skips it)
"""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys

import pytest
import torch

import corpus
import distill
import sft
import tasks
import traces
import train_r1
from pretrain import parse_knobs
from tasks import Problem

pytestmark = pytest.mark.slow  # every test here starts scripts as subprocesses
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONUNBUFFERED': '1'}
TINY_BASE = ['--n_docs=300', '--tok_docs=200', '--vocab_size=300', '--n_layer=1', '--n_embd=32',
             '--n_head=2', '--n_kv_head=1', '--block_size=512', '--batch_size=4', '--max_iters=3',
             '--eval_n=2', '--eval_k=2', '--max_new_tokens=8', '--dtype=float32']
TINY_RL = ['--steps=2', '--n_prompts=2', '--group_size=2', '--max_new_tokens=8',
           '--eval_interval=1', '--curve_n=2', '--curve_k=2', '--eval_n=2', '--eval_k=2',
           '--ckpt_interval=1', '--dtype=float32']


def run(*args, timeout=300):
    r = subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r.stdout


def check_eval_json(path, models, family='math'):
    data = json.load(open(path))
    assert set(data['models']) == set(models)
    for block in data['models'].values():
        assert isinstance(block['step'], int) and block['checkpoint'].endswith('ckpt.pt')
        m = block['tasks'][family]
        for key in ('n', 'k', 'pass@1', 'pass@k', 'maj@k', 'format', 'lang_consistency',
                    'lang_mixed', 'mean_len', 'reflection_rate', 'direct_rate'):
            assert key in m
        for key in ('pass@1', 'pass@k', 'maj@k', 'format', 'lang_consistency', 'lang_mixed',
                    'reflection_rate', 'direct_rate'):
            assert 0.0 <= m[key] <= 1.0


@pytest.fixture(scope='module')
def base_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp('base')
    text = run('pretrain.py', *TINY_BASE, f'--out_dir={out}', '--knobs=careful=0.3,dead_ends=1')
    assert 'corpus knobs:' in text and 'careful=0.3,' in text and re.search(r'dead_ends=1\b', text)
    assert 'behaviour of the base' in text
    return out


def test_pretrain_writes_its_run_folder(base_dir):
    for name in ('ckpt.pt', 'tokenizer.json', 'config.json', 'metrics.jsonl', 'eval.json'):
        assert (base_dir / name).exists(), name
    check_eval_json(base_dir / 'eval.json', ['base'])
    rows = [json.loads(l) for l in open(base_dir / 'metrics.jsonl')]
    assert [r['step'] for r in rows] == [0, 1, 2]


def test_train_zero_runs_and_resumes(base_dir, tmp_path):
    out = tmp_path / 'zero'
    text = run('train_zero.py', *TINY_RL, f'--base_dir={base_dir}', f'--out_dir={out}')
    assert 'zero    1 |' in text and 'evaluating R1-Zero' in text
    check_eval_json(out / 'eval.json', ['base', 'zero'], 'findx')  # the default family
    rows = [json.loads(l) for l in open(out / 'metrics.jsonl')]
    assert [r['step'] for r in rows] == [0, 1, 2]  # two steps, then the curves' last point
    # what report.py shows: rollouts of every step, every evaluation's responses, the page
    kept = [json.loads(l) for l in open(out / 'samples.jsonl')]
    assert [r['step'] for r in kept] == [0, 0, 0, 0, 1, 1, 1, 1]  # 2 prompts x G=2 a step
    evals = [json.loads(l) for l in open(out / 'eval_samples.jsonl')]
    assert {r['model'] for r in evals} == {'base', 'step 0', 'step 1', 'step 2', 'zero'}
    assert sum(r['model'] == 'zero' for r in evals) == 2 * 2  # eval_n x eval_k
    assert 'report.html (' in text and (out / 'report.html').stat().st_size > 0
    text = run('train_zero.py', *TINY_RL, '--steps=3', '--resume', f'--base_dir={base_dir}',
               f'--out_dir={out}')
    assert 'resumed from' in text and 'at step 2' in text
    assert [json.loads(l)['step'] for l in open(out / 'samples.jsonl')][-4:] == [2] * 4
    assert 'report.html' in run('report.py', str(out), str(base_dir))  # two runs, overlaid


def test_train_zero_pretrains_a_base_when_none_exists(tmp_path):
    # the gpu presets, sizes shrunk: they must start and run on CPU
    text = run('train_zero.py', '--preset=gpu', *TINY_RL, f'--base_dir={tmp_path / "base"}',
               f'--out_dir={tmp_path / "zero"}', '--micro_batch=2',
               '--pretrain_args=' + ' '.join(TINY_BASE))
    assert 'no base model in' in text and 'pretraining one first' in text
    assert "preset           = 'gpu'" in text and 'zero    1 |' in text
    check_eval_json(tmp_path / 'zero' / 'eval.json', ['base', 'zero'], 'findx')


def test_the_default_findx_world_from_the_command_line(tmp_path):
    """The default: a base whose corpus is half findx, R1-Zero on findx alone (and no other
    family in its eval.json), its styles forced by evaluation.py --opener; --family=math still
    runs."""
    base, zero = tmp_path / 'base', tmp_path / 'zero'
    text = run('train_zero.py', *TINY_RL, f'--base_dir={base}', f'--out_dir={zero}',
               '--pretrain_args=' + ' '.join(TINY_BASE))
    assert re.search(r'findx=0\.5\b', text)  # the corpus knobs the base was pretrained with
    assert json.load(open(zero / 'config.json'))['family'] == 'findx'
    data = json.load(open(zero / 'eval.json'))
    assert all(set(data['models'][name]['tasks']) == {'findx'} for name in ('base', 'zero'))
    for name in ('base', 'zero'):
        fx = data['models'][name]['tasks']['findx']
        assert {'tries_per_response', 'false_yes_rate', 'yeses', 'acc_search', 'acc_unchecked',
                'len_correct', 'len_wrong'} <= set(fx) and 0 <= fx['pass@1'] <= 1
    text = run('evaluation.py', f'--run={zero}', '--families=findx', '--opener=search', '--n=2',
               '--k=2', '--max_new_tokens=24')
    assert 'zero:search' in text
    assert (json.load(open(zero / 'eval.json'))['models']['zero:search']['tasks']['findx']['opener']
            == 'search')
    run('train_zero.py', *TINY_RL, '--family=math', f'--base_dir={base}',
        f'--out_dir={tmp_path / "math"}')
    assert (set(json.load(open(tmp_path / 'math' / 'eval.json'))['models']['zero']['tasks'])
            == {'math'})


def test_eval_cli_and_compare(base_dir, tmp_path):
    text = run('evaluation.py', f'--run={base_dir}', '--name=again', '--n=2', '--k=2',
               '--max_new_tokens=8')
    assert 'again' in text
    data = json.load(open(base_dir / 'eval.json'))
    assert {'base', 'again'} <= set(data['models'])
    assert 'pass@1' in run('evaluation.py', f'--compare={base_dir}')
    text = run('evaluation.py', f'--run={base_dir}', '--name=again', '--opener=careful', '--n=2',
               '--k=2', '--max_new_tokens=48')
    assert ('again:careful' in text
            and json.load(open(base_dir / 'eval.json'))['models']['again:careful'])


def test_bad_config_exits_2_naming_the_key():
    for script in ('pretrain.py', 'train_zero.py', 'evaluation.py', 'train_r1.py', 'sft.py',
                   'distill.py', 'bench.py'):
        r = subprocess.run([sys.executable, script, '--no_such_key=1'], cwd=ROOT, env=ENV,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and 'no_such_key' in r.stderr
    r = subprocess.run([sys.executable, 'pretrain.py', '--knobs=carefull=0.3'], cwd=ROOT, env=ENV,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and 'carefull' in r.stderr and 'corpus knobs' not in r.stdout
    r = subprocess.run([sys.executable, 'pretrain.py',
                        '--knobs=findx_direct=0.7,findx_one_try=0.4'],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and 'no share for the search style' in r.stderr
    # checked before the model is loaded
    r = subprocess.run([sys.executable, 'evaluation.py', '--run=no/such/run', '--opener=search'],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and '--opener=search' in r.stderr and 'Traceback' not in r.stderr


def test_ctrl_c_saves_a_checkpoint_and_resume_picks_it_up(base_dir, tmp_path):
    out = tmp_path / 'zero'
    proc = subprocess.Popen([sys.executable, 'train_zero.py', *TINY_RL, '--steps=500',
                             '--eval_interval=0', '--ckpt_interval=0', f'--base_dir={base_dir}',
                             f'--out_dir={out}'],
                            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        for line in proc.stdout:  # wait until RL is really stepping
            if line.startswith('zero    2 |'):
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1 and 'stopped by Ctrl-C' in err
    step = torch.load(out / 'ckpt.pt', weights_only=True)['step']
    assert 2 <= step < 499
    text = run('train_zero.py', *TINY_RL, f'--steps={step + 2}', '--resume',
               f'--base_dir={base_dir}', f'--out_dir={out}')
    assert f'at step {step + 1}' in text


@pytest.mark.parametrize('name', ['grpo', 'logprobs'])
def test_bench_smoke(name, tmp_path):
    run('bench.py', name, '--tiny', f'--out_dir={tmp_path}')
    data = json.load(open(tmp_path / f'{name}.json'))
    if name == 'grpo':
        # every phase of the step was timed (shares of a sum would add to 1 whatever was
        # measured)
        assert set(data['seconds']) == {'generation', 'logprobs_nograd', 'loss_fwd_bwd',
                                        'optimizer'}
        assert (all(v > 0 for v in data['seconds'].values()) and data['prompts'] == 2
                and data['group_size'] == 2)
    else:
        assert data['ours']['fwd_s'] > 0 and data['naive']['fwd_s'] > 0


def test_bench_step_runs_here_and_in_an_earlier_commit(tmp_path):
    run('bench.py', 'step', '--tiny', f'--out_dir={tmp_path}')
    data = json.load(open(tmp_path / 'step.json'))
    ours = data['ours']
    assert ours['step_s'] == pytest.approx(ours['generation_s'] + ours['update_s'])
    assert 0 < ours['response_tokens'] <= ours['padded_tokens']
    have_rev = subprocess.run(['git', 'cat-file', '-e', data['baseline_rev']],
                              cwd=ROOT).returncode == 0
    # a shallow clone may lack the commit; the bench then says so and compares nothing
    if have_rev:
        assert set(data['baseline']) == {'float32', 'bfloat16'}
        assert all(b['update_s'] > 0 and b['speedup']['step_s'] > 0
                   for b in data['baseline'].values())


TINY_R1 = ['--cold_prompts=16', '--sft_epochs=1', '--sft_batch=4', '--steps=2', '--final_steps=2',
           '--rs_prompts=4', '--rs_family=2', '--rs_other=2', '--rs_k=2', '--rs_chat=4',
           '--rm_pairs=16', '--rm_eval_pairs=8', '--rm_steps=3', '--n_prompts=2', '--group_size=2',
           '--max_new_tokens=150', '--eval_interval=1', '--curve_n=2', '--curve_k=2', '--eval_n=2',
           '--eval_n_other=2', '--eval_k=2', '--dtype=float32']


def test_train_r1_runs_all_four_stages_and_skips_them_when_done(base_dir, tmp_path):
    out = tmp_path / 'r1'
    text = run('train_r1.py', *TINY_R1, f'--base_dir={base_dir}', f'--zero_dir={tmp_path / "none"}',
               f'--out_dir={out}')
    assert 'the cold start uses oracle traces' in text  # no R1-Zero run: it says so
    assert 'reward model: held-out pair accuracy' in text
    data = json.load(open(out / 'eval.json'))
    assert list(data['models']) == ['base', 'cold_start', 'reasoning_rl', 'rejection_sft', 'r1']
    assert (out / 'report.html').exists() and (out / 'reasoning_rl' / 'samples.jsonl').exists()
    for block in data['models'].values():
        assert set(block['tasks']) == {'math', 'findx', 'countdown', 'code', 'chat'}
    check_eval_json(out / 'eval.json', data['models'])
    check_eval_json(out / 'eval.json', data['models'], 'findx')
    # no R1-Zero run: the default family
    assert json.load(open(out / 'config.json'))['family'] == 'findx'
    # oracle searches, one per prompt
    cold = [json.loads(l) for l in open(out / 'cold_start' / 'data.jsonl')]
    assert cold and all('Find x' in r['prompt'] or '求 x' in r['prompt'] for r in cold)
    for stage in ('cold_start', 'reasoning_rl', 'rejection_sft', 'r1', 'reward_model'):
        assert (out / stage / 'ckpt.pt').exists(), stage
    assert ('correct' in data['stages']['rejection_sft_data']
            and data['stages']['rejection_sft_data']['chat_examples'] == 4)
    rows = [json.loads(l) for l in open(out / 'r1' / 'metrics.jsonl')]
    assert 'rm_score' in rows[0] and 'rubric' in rows[0]  # the reward-hacking gap is logged
    again = run('train_r1.py', *TINY_R1, f'--base_dir={base_dir}',
                f'--zero_dir={tmp_path / "none"}', f'--out_dir={out}')
    # a training step line
    stepped = lambda text, loop: re.search(rf'^{loop} +\d+ \|', text, re.M) is not None
    assert 'evaluating' not in again and 'resumed from' not in again  # every stage skipped
    assert not any(stepped(again, loop) for loop in ('cold start', 'reasoning', 'rejection sft',
                                                      'all-scenario', 'reward model'))
    # redo stage 3: it runs again, and stage 4, built on the old stage 3, is moved aside and redone
    shutil.rmtree(out / 'rejection_sft')
    third = run('train_r1.py', *TINY_R1, f'--base_dir={base_dir}',
                f'--zero_dir={tmp_path / "none"}', f'--out_dir={out}')
    assert (stepped(third, 'rejection sft') and stepped(third, 'all-scenario')
            and not stepped(third, 'reasoning'))
    assert list(out.glob('r1.stale-*')) and (out / 'r1' / 'ckpt.pt').exists()
    # redo the reward model: stage 4, trained against the old one, is moved aside and redone; the
    # rest stays
    shutil.rmtree(out / 'reward_model')
    fourth = run('train_r1.py', *TINY_R1, f'--base_dir={base_dir}',
                 f'--zero_dir={tmp_path / "none"}', f'--out_dir={out}')
    assert (stepped(fourth, 'reward model') and stepped(fourth, 'all-scenario')
            and not stepped(fourth, 'rejection sft'))
    assert len(list(out.glob('r1.stale-*'))) == 2 and (out / 'r1' / 'ckpt.pt').exists()


def test_train_r1_cold_start_drops_searches_whose_checks_lie():
    """R1-Zero's correct samples reach the cold start only when their searches are sound
    (filter_samples' extra filter): a right answer after a false "yes" or an uncaught slip is
    dropped; other families pass."""
    fx = Problem('f', 'findx', 'en', 1, 'Find x: x + 4 = 9', '5', expr='x+4=9')
    sound = (' <think> try 3: 3 + 4 = 7. need 9: 7 < 9, so x > 3. wait, try 5: 5 + 4 = 9. '
             'need 9: 9 = 9, yes. </think> <answer> 5 </answer>')
    lying = ' <think> try 5: 5 + 4 = 10. need 9: 10 = 9, yes. </think> <answer> 5 </answer>'
    math = Problem('m', 'math', 'en', 1, 'Compute 2 + 3', '5', expr='2+3')
    samples = [[(sound, 30, True)], [(lying, 12, True)],
               [(' <think> 2 + 3 = 5 </think> <answer> 5 </answer>', 12, True)]]
    kept = sft.filter_samples([fx, fx, math], ['a', 'b', 'c'], samples,
                              extra=('sound', train_r1.sound))
    assert ([ex[0] for ex in kept.examples] == ['a', 'c']
            and kept.report['sound'] == {'in': 3, 'kept': 2, 'rate': 2 / 3})
    assert train_r1.readable(fx, sound).endswith('yes. So the answer is 5. </think> '
                                                 '<answer> 5 </answer>')


def test_train_r1_cold_start_from_a_weak_r1_zero_says_it_kept_nothing(base_dir, tmp_path):
    """The default path (cold start from R1-Zero's samples) with a 'zero' that cannot solve
    anything: a clear error naming the filters, not a traceback, and the report kept."""
    r = subprocess.run([sys.executable, 'train_r1.py', *TINY_R1, f'--base_dir={base_dir}',
                        f'--zero_dir={base_dir}', '--cold_source=zero',
                        f'--out_dir={tmp_path / "r1"}', '--last_stage=1'],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert (r.returncode != 0 and 'the cold start kept no examples' in r.stderr
            and 'correct' in r.stderr)
    assert 'cold_start_data' in json.load(open(tmp_path / 'r1' / 'eval.json'))['stages']


def test_train_r1_redoes_a_cold_start_whose_r1_zero_changed(base_dir, tmp_path):
    """train_zero.py run again after train_r1.py: the cold start sampled from the old R1-Zero is
    moved aside and redone, never silently reused. (A tiny 'zero' keeps no examples, so each
    run ends at the cold start; what matters is which checkpoint it sampled.)"""
    zero = tmp_path / 'zero'
    shutil.copytree(base_dir, zero)
    args = [sys.executable, 'train_r1.py', *TINY_R1, f'--base_dir={base_dir}', f'--zero_dir={zero}',
            '--cold_source=zero', f'--out_dir={tmp_path / "r1"}', '--last_stage=1']
    first = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    made_from = (json.load(open(tmp_path / 'r1' / 'eval.json'))
                 ['stages']['made_from']['cold_start'])
    again = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert 'input changed' not in first.stdout + again.stdout  # same R1-Zero: nothing stale
    blob = torch.load(zero / 'ckpt.pt', weights_only=False)
    # "R1-Zero trained some more"
    blob['model'] = {k: v + 1e-3 for k, v in blob['model'].items()}
    torch.save(blob, zero / 'ckpt.pt')
    third = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert 'cold_start: its input changed since it was made' in third.stdout
    assert list((tmp_path / 'r1').glob('cold_start.stale-*'))
    now = json.load(open(tmp_path / 'r1' / 'eval.json'))['stages']['made_from']['cold_start']
    assert now != made_from


def test_sft_cli_fine_tunes_from_a_data_file(base_dir, tmp_path):
    data = tmp_path / 'd.jsonl'
    data.write_text(json.dumps({'prompt': 'Compute 3 + 4.',
                                'response': ' <think> 3 + 4 = 7 </think> <answer> 7 '
                                            '</answer>'}) + '\n')
    out = tmp_path / 'sft'
    run('sft.py', f'--data={data}', f'--init={base_dir}', f'--out_dir={out}', '--epochs=3',
        '--dtype=float32')
    for name in ('ckpt.pt', 'tokenizer.json', 'config.json', 'metrics.jsonl'):
        assert (out / name).exists(), name
    r = subprocess.run([sys.executable, 'sft.py', f'--init={base_dir}'], cwd=ROOT, env=ENV,
                       capture_output=True, text=True)
    assert r.returncode != 0 and '--data=' in r.stderr


def test_distill_smoke_keeps_only_verified_teacher_samples(base_dir, tmp_path, monkeypatch):
    """distill.py end to end with a tiny config, in-process so the teacher's sampler can be
    replaced: it answers every other sample correctly, and only those may reach the data."""

    def fake_rollouts(model, tok, prompts, k, **_):
        gold = {tasks.render_prompt(p): p for p in fake_rollouts.problems}
        out = []
        for prompt in prompts:
            p = gold[prompt]
            gold_answer = (traces.solve_countdown(p, random.Random(0)).answer
                           if p.family == 'countdown' else p.answer)
            right = f'<think> ok </think> <answer> {gold_answer} </answer>'
            # never correct: an extra number
            wrong = f'<think> no </think> <answer> {gold_answer} + 1 </answer>'
            out.append([(right, 12, True) if j % 2 == 0 else (wrong, 12, True) for j in range(k)])
        return out
    real_draw = tasks.draw_problem
    fake_rollouts.problems = []
    def recording_draw(*a, **kw):
        p = real_draw(*a, **kw)
        fake_rollouts.problems.append(p)
        return p
    monkeypatch.setattr(tasks, 'draw_problem', recording_draw)
    monkeypatch.setattr(sft, 'rollout_texts', fake_rollouts)
    out = tmp_path / 'distill'
    tiny = ('--n_docs=300 --tok_docs=200 --vocab_size=300 --block_size=1024 --batch_size=4 '
            '--max_iters=3 --n_embd=32 --n_head=2 --n_kv_head=1 --dtype=float32')
    res = distill.main([f'--teacher={base_dir}', f'--out_dir={out}', '--math_prompts=6',
                        '--findx_prompts=2', '--other_prompts=2', '--k=2',
                        '--sft_epochs=1', '--rl_steps=2', '--rl_max_steps=4',
                        '--max_new_tokens=150', '--eval_n=2', '--eval_n_other=1',
                        '--eval_k=2', '--dtype=float32', '--students=qwen_s,llama_m',
                        '--rl_student=qwen_s', f'--pretrain_args={tiny}'])
    kept = sft.read_examples(str(out / 'data.jsonl'))
    # the wrong half never kept
    assert kept and all(r.startswith(' <think> ok </think>') for _, r in kept)
    assert res['teacher_data']['correct']['rate'] == pytest.approx(0.5, abs=0.01)
    assert set(res['models']) == {'teacher', 'base_qwen_s', 'distill_qwen_s', 'base_llama_m',
                                  'distill_llama_m', 'rl_qwen_s'}
    # the RL baseline runs at least rl_steps, then on until it has spent the distillation's time
    b = res['budget']
    assert 2 <= b['rl_steps'] <= 4 and (b['rl_seconds'] >= b['distill_seconds']
                                        or b['rl_steps'] == 4)
    check_eval_json(out / 'eval.json', res['models'])
    assert (out / 'report.html').exists() and (out / 'rl_qwen_s' / 'samples.jsonl').exists()


def test_parse_knobs_overrides_by_name_with_the_knobs_type_and_refuses_the_rest():
    k = parse_knobs('careful=0.3, dead_ends=4')
    assert k.careful == 0.3 and k.dead_ends == 4 and isinstance(k.dead_ends, int)
    assert k.direct == corpus.CorpusKnobs().direct and parse_knobs('') == corpus.CorpusKnobs()
    for bad, says in [('carefull=0.3', 'carefull'), ('careful', 'careful'),
                      ('family_mix=1', 'family_mix'),
                      ('dead_ends=2.5', 'needs an integer'), ('careful=lots', 'needs a number'),
                      ('careful=1.5', 'out of range'), ('dead_ends=-1', 'out of range'),
                      ('catch_rate=nan', 'out of range'),
                      ('direct=0.95', 'no share for the sloppy style')]:
        with pytest.raises(ValueError, match=says):
            parse_knobs(bad)
