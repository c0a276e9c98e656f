"""Every script refuses bad input the same way: exit status 2 and one line naming the key or
file, never a traceback. One process runs each script's real entry point (its __main__ block,
through runpy) once per case, so torch is imported once for the whole sweep.

Run: .venv/bin/pytest tests/test_bad_inputs.py
"""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MISSING = '/nonexistent/nano-r1'

# script -> (unknown key, wrong type, out of range, bad choice, missing file): the arguments
# and the name the message must carry. None: the script has no key of that kind.
CASES = {
    'pretrain.py': [(['--no_such_key=1'], 'no_such_key'), (['--n_layer=two'], 'n_layer'),
                    (['--n_layer=0'], 'n_layer'), (['--preset=tpu'], 'preset'),
                    # no file key: a bad corpus knob instead
                    (['--knobs=carefull=0.3'], 'carefull')],
    'train_zero.py': [(['--no_such_key=1'], 'no_such_key'), (['--steps=many'], 'steps'),
                      (['--lr=5'], 'lr'), (['--family=klingon'], 'family'),
                      ([f'--dataset={MISSING}.jsonl'], MISSING)],
    'train_r1.py': [(['--no_such_key=1'], 'no_such_key'), (['--last_stage=x'], 'last_stage'),
                    (['--last_stage=9'], 'last_stage'), (['--cold_source=human'], 'cold_source'),
                    ([f'--dataset={MISSING}.jsonl'], MISSING)],
    'distill.py': [(['--no_such_key=1'], 'no_such_key'), (['--k=x'], '--k'), (['--k=0'], '--k'),
                   (['--students=nope'], 'nope'), ([f'--teacher={MISSING}'], MISSING)],
    'evaluation.py': [(['--no_such_key=1'], 'no_such_key'), (['--n=x'], '--n'),
                      (['--top_p=2'], 'top_p'), (['--opener=shouting'], 'opener'),
                      ([f'--run={MISSING}'], MISSING)],
    'sft.py': [(['--no_such_key=1'], 'no_such_key'), (['--epochs=x'], 'epochs'),
               (['--lr=5'], 'lr'), (['--dtype=fp8'], 'dtype'),
               ([f'--data={MISSING}.jsonl'], MISSING)],
    'sample.py': [(['--no_such_key=1'], 'no_such_key'), (['--num_samples=x'], 'num_samples'),
                  (['--top_p=2'], 'top_p'), (['--dtype=fp8'], 'dtype'),
                  ([f'--ckpt={MISSING}'], MISSING)],
    'bench.py': [(['sampler', '--no_such_key=1'], 'no_such_key'),
                 (['sampler', '--threads=x'], 'threads'),
                 (['sampler', '--threads=-1'], 'threads'), (['nope'], 'sampler'), None],
    'hf.py': [(['--no_such_key=1'], 'usage'), None, None, (['convert', 'a', 'b'], 'usage'),
              (['estimate', MISSING], MISSING)],
}
# more values the bounds or the sampler refuse, checked before any model is loaded
EXTRA = [('sample.py', ['--device=tpu'], 'device'),
         ('bench.py', ['sampler', '--device=tpu'], 'device'),
         ('hf.py', ['estimate', MISSING, '8', 'many', '2'], 'ROWS TOKENS MICRO_BATCH'),
         ('report.py', [MISSING], MISSING), ('report.py', ['--no_such_key=1'], 'usage')]
ALL = [(s, c[0], c[1]) for s, kinds in CASES.items() for c in kinds if c] + EXTRA

DRIVER = r'''
import contextlib, io, json, runpy, sys, traceback
sys.path.insert(0, ROOT)
out = []
for script, args in CASES:
    err, code = io.StringIO(), None
    sys.argv = [script, *args]
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            runpy.run_path(script, run_name='__main__')
        except SystemExit as e:
            code = e.code
        except BaseException:
            traceback.print_exc(file=err)
    out.append({'code': code, 'err': err.getvalue()})
print(json.dumps(out))
'''


@pytest.fixture(scope='module')
def results():
    cases = [(s, args) for s, args, _ in ALL]
    code = f'ROOT = {ROOT!r}\nCASES = {cases!r}\n' + DRIVER
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    return {(s, tuple(args)): out for (s, args, _), out in zip(ALL, got)}


@pytest.mark.parametrize('script, args, name', ALL,
                         ids=lambda x: x if isinstance(x, str) else ' '.join(x))
def test_bad_input_exits_2_with_one_line_naming_it(results, script, args, name):
    r = results[(script, tuple(args))]
    assert r['code'] == 2, r['err'][-2000:]
    assert name in r['err'] and 'Traceback' not in r['err']
    assert r['err'].startswith(('error: ', 'config error: ')) and r['err'].count('\n') == 1
