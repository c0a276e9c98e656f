"""The code sandbox (docs/design.md, Reliability): correct code passes, wrong code fails, and none
of the tricks below counts as a pass or leaves anything behind: early exits, forged records,
redefined harness helpers, printed claims, infinite loops, fork bombs, memory bombs, output
floods, os.system, reading outside the scratch folder, secrets in our environment, and
children that would outlive the run. The last tests go through rewards.py (accuracy_reward,
score), which calls the sandbox for code answers. Linux only (resource limits, /proc).

Run: .venv/bin/pytest tests/test_sandbox.py -s   (-s prints the measured speed)
"""
import os
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

import rewards
import sandbox
from sandbox import run_code
from tasks import Problem

pytestmark = pytest.mark.skipif(not sys.platform.startswith('linux'),
                                reason='the sandbox needs Linux')

ADD_TESTS = (((1, 2), 3), ((5, 7), 12), ((-1, 1), 0))
GOOD = 'def add(a, b):\n    return a + b\n'


def add(code, timeout_s=1.0, **kw):
    return run_code(code, ADD_TESTS, 'add', timeout_s=timeout_s, **kw)


def processes_with(tag):
    """Pids of live processes whose command line holds `tag`."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                if tag.encode() in f.read() and int(pid) != os.getpid():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_correct_code_passes_and_wrong_code_fails():
    assert add(GOOD) == sandbox.SandboxResult('passed', 3, 3, '')
    wrong = add('def add(a, b):\n    return a * b + 1\n')
    assert (wrong.status, wrong.n_passed) == ('failed', 2)  # right for (1, 2) and (-1, 1)
    assert add('def add(a, b): return b + a').status == 'passed'
    # preloaded standard modules work
    assert add('from collections import Counter\nimport math\ndef add(a, b):\n'
               '    return math.prod([1]) * sum(Counter({a: 1, b: 1}).keys())'
               ' if a != b else 2 * a\n'
               ).status == 'passed'


@pytest.mark.parametrize('code,status', [
    ('import sys\nsys.exit(0)\n' + GOOD, 'error'),                 # exit before the tests
    ('import os\nos._exit(0)\n' + GOOD, 'crashed'),
    ('import sys\ndef add(a, b):\n    sys.exit(0)\n', 'failed'),  # exit inside each test
    ('import os\ndef add(a, b):\n    os._exit(0)\n', 'crashed'),
    ('print("all tests passed")\nprint("3/3 passed")\ndef add(a, b): return 0\n', 'failed'),
    ('def add(a, b):\n    return True\n', 'failed'),               # True is not 3
    ('def add(a, b):\n    return float(a + b)\n', 'failed'),       # 3.0 is not 3
    ('def add(a, b):\n    return {a + b}\n', 'failed'),            # not JSON
    ('def ad(a, b): return a + b\n', 'error'),                     # no entry function
    ('def add(a, b) return a + b\n', 'error'),                     # syntax error
    ('import subprocess\n' + GOOD, 'error'),                       # imports outside the list
    ('import ctypes\n' + GOOD, 'error'),
    ('import _posixsubprocess\n' + GOOD, 'error'),               # built in on some Pythons
    ('import gc\n' + GOOD, 'error'),                              # built in: no file to open
    ('def add(a, b):\n    return "\\ud800"\n', 'failed'),
    ('x = "\ud800"\n' + GOOD, 'error'),                            # broken code text
    ('\x00' + GOOD, 'error'),
])
def test_tricks_and_broken_code_never_pass(code, status):
    result = add(code)
    assert result.status == status, result


def test_printed_output_is_kept_but_cannot_pass():
    result = add('print("all tests passed")\ndef add(a, b): return 0\n')
    assert result.output.startswith('all tests passed') and result.n_passed == 1


def test_redefined_harness_helpers_and_forged_records_do_not_pass():
    # The harness is __main__ in the child; model code can reach it. Everything it can
    # forge still needs the expected values, which only the parent holds.
    redefine = ('import sys, json\nh = sys.modules["__main__"]\n'
                'h.dumps = lambda *a, **k: "true"\nh.report = lambda *a, **k: None\n'
                'h.report("done", -1)\n' + 'def add(a, b): return 0\n')
    assert add(redefine).status != 'passed'
    forge = ('import sys, os\nh = sys.modules["__main__"]\n'
             'for i in range(3):\n    h.report("ok", i, "true")\n'
             'h.report("done", -1)\nos._exit(0)\n')
    result = add(forge)
    assert result.status == 'failed' and result.n_passed == 0
    # Writing a record to every possible descriptor, without the nonce, spoils the run.
    blind = ('import os\nfor fd in range(3, 1024):\n    try: os.write(fd, b"x ok 0 3\\n")\n'
             '    except OSError: pass\n' + GOOD)
    result = add(blind)
    assert (result.status, result.n_passed) == ('error', 0) and 'forged' in result.output


def test_zero_tests_or_missing_expected_values_never_pass():
    assert run_code(GOOD, (), 'add').status == 'error'
    assert run_code(GOOD, [((1, 2),)], 'add').status == 'error'            # no expected value
    assert run_code(GOOD, [((1, 2), 3, 4)], 'add').status == 'error'
    assert run_code(GOOD, [((1, 2), {1, 2})], 'add').status == 'error'     # not JSON
    assert run_code(GOOD, [((1, 2), 3)], 'not a name').status == 'error'


def test_results_compare_as_json():
    tests = [((2,), [0.30000000000000004, [1, 2], {'a': None}])]
    code = 'def f(n):\n    return (0.1 + 0.2, (1, n), {"a": None})\n'  # tuples arrive as lists
    assert run_code(code, tests, 'f').status == 'passed'
    assert run_code('def f(n): return 1', [((2,), True)], 'f').status == 'failed'
    assert run_code('def f(n): return True', [((2,), 1.0)], 'f').status == 'failed'
    assert run_code('def f(n): return "1.0"', [((2,), 1.0)], 'f').status == 'failed'
    assert run_code('def f(n): return 2', [((2,), 2.0)], 'f').status == 'passed'


def test_the_job_file_with_the_nonce_is_gone_before_model_code_runs():
    code = ('import os\ndef f():\n'
            '    return sorted(os.path.exists(p) for p in ("job.json", "harness.py"))\n')
    assert run_code(code, [((), [False, True])], 'f').status == 'passed'


def test_main_guard_does_not_run():
    assert add(GOOD + 'if __name__ == "__main__":\n    while True: pass\n').status == 'passed'


def test_infinite_loops_time_out():
    for code in ('def add(a, b):\n    while True: pass\n', 'while True: pass\n' + GOOD):
        t = time.perf_counter()
        result = add(code, timeout_s=1.0)
        assert result.status == 'timeout' and time.perf_counter() - t < 3.0


def test_memory_bombs_are_stopped():
    for code in ('def add(a, b):\n    x = bytearray(8 << 30)\n    return a + b\n',
                 'x = [0] * (1 << 31)\n' + GOOD,
                 'def add(a, b):\n    x = []\n    while True: x.append(" " * 4096)\n'):
        t = time.perf_counter()
        assert add(code, timeout_s=10.0, memory_mb=128).status == 'memory'
        assert time.perf_counter() - t < 5.0


def test_output_floods_are_capped_and_killed():
    t = time.perf_counter()
    result = add('def add(a, b):\n    while True: print("x" * 10000)\n', timeout_s=30)
    assert result.status == 'error' and time.perf_counter() - t < 10
    assert len(result.output) < sandbox.OUTPUT_KEEP + 200 and 'output over' in result.output


def test_processes_signals_and_exec_are_refused():
    # Refused by the harness's audit hook. RLIMIT_NPROC alone would not stop them as root.
    code = """import os
def f():
    out = []
    for attempt in (lambda: os.system('true'), lambda: os.posix_spawn('/bin/true', ['true'], {}),
                    lambda: os.fork(), lambda: os.kill(os.getpid(), 0),
                    lambda: os.execv('/bin/true', ['true'])):
        try:
            attempt()
            out.append('ran')
        except PermissionError:
            out.append('refused')
    return out
"""
    result = run_code(code, [((), ['refused'] * 5)], 'f')
    assert result.status == 'passed', result


def test_fork_bombs_and_spawns_leave_nothing_behind(tmp_path):
    tag = f'nanor1tag{uuid.uuid4().hex}'
    marker = tmp_path / 'marker'
    shell = f'sleep 1.5; echo escaped > {marker} # {tag}'
    code = f'''import os
def add(a, b):
    for attempt in (lambda: os.system({shell!r}),
                    lambda: os.posix_spawn('/bin/sh', ['sh', '-c', {shell!r}], {{}})):
        try:
            attempt()
        except PermissionError:
            pass
    while True:
        try:
            os.fork()
        except OSError:
            pass
'''
    result = add(code, timeout_s=1.0)
    assert result.status == 'timeout'
    time.sleep(1.0)  # past the shell's sleep: it would have written the marker by now
    assert not marker.exists() and processes_with(tag) == []


def test_the_whole_process_group_is_killed_after_a_run(tmp_path):
    # A tree the audit hook would refuse, started directly: a shell with a background
    # child that would write a marker after the deadline. _collect must kill them all.
    tag = f'nanor1tag{uuid.uuid4().hex}'
    marker = tmp_path / 'marker'
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(['sh', '-c', f'(sleep 1.5; echo x > {marker}) & sleep 30 # {tag}'],
                            stdout=subprocess.PIPE, start_new_session=True)
    os.close(write_end)
    try:
        _, _, why = sandbox._collect(proc, read_end, timeout_s=0.5)
    finally:
        os.close(read_end)
        proc.stdout.close()
    assert why == 'timeout'
    time.sleep(1.5)
    assert not marker.exists() and processes_with(tag) == []


def test_files_outside_the_scratch_folder_cannot_be_read(tmp_path):
    secret = tmp_path / 'secret.txt'
    secret.write_text('hunter2')
    tests = [((), 'hunter2')]
    for read in (f'open({str(secret)!r}).read()',
                 f'os.read(os.open({str(secret)!r}, os.O_RDONLY), 100).decode()',
                 f'open("/proc/self/root" + {str(secret)!r}).read()',
                 f'open("../" * 20 + {str(secret)!r}.lstrip("/")).read()'):
        result = run_code(f'import os\ndef f():\n    print({read})\n    return {read}\n', tests,
                          'f')
        assert result.status == 'failed' and 'hunter2' not in result.output, (read, result)
    # Inside the scratch folder, files can be read (the hook is not refusing everything)
    # but nothing can be written anywhere.
    own = '''def f():
    try:
        open("x.txt", "w")
    except PermissionError:
        return open("harness.py").read(7)
'''
    assert run_code(own, [((), 'PRELOAD')], 'f').status == 'passed'


def test_our_environment_is_not_visible(monkeypatch):
    monkeypatch.setenv('NANO_R1_TEST_SECRET', 'hunter2')
    code = ('import os\ndef f():\n    print(dict(os.environ))\n'
            '    return os.environ.get("NANO_R1_TEST_SECRET")\n')
    result = run_code(code, [((), 'hunter2')], 'f')
    assert result.status == 'failed' and 'hunter2' not in result.output


def test_accuracy_reward_runs_the_answer_block():
    assert rewards.run_code is run_code  # tasks.py's tests call it as rewards.run_code
    problem = Problem('k1', 'code', 'en', 1, 'Write add(a, b)', GOOD, entry='add', tests=ADD_TESTS)
    fenced = f'<think>easy</think><answer>\n```python\n{GOOD}```\n</answer>'
    assert rewards.accuracy_reward(fenced, problem) == 1.0
    assert rewards.accuracy_reward(f'<think>easy</think><answer>{GOOD}</answer>', problem) == 1.0
    assert rewards.accuracy_reward(f'<think><answer>{GOOD}</answer></think>', problem) == 0.0
    assert rewards.accuracy_reward('<think>x</think><answer>def add(a, b): return 0</answer>',
                                   problem) == 0.0


def test_batch_keeps_order_and_measures_speed():
    problem = Problem('k1', 'code', 'en', 1, 'Write add(a, b)', GOOD, entry='add', tests=ADD_TESTS)
    bad = 'def add(a, b): return a - b\n'
    responses = [f'<think>x</think><answer>{GOOD if i % 3 else bad}</answer>' for i in range(24)]
    t = time.perf_counter()
    rows = rewards.score(responses, [problem] * len(responses), 'zero')
    rate = len(responses) / (time.perf_counter() - t)
    print(f'\ncode rewards, {sandbox.CODE_WORKERS} workers: {rate:.1f} responses/s')
    assert [r['accuracy'] for r in rows] == [float(i % 3 != 0) for i in range(24)]
    items = [(GOOD, ADD_TESTS, 'add'), ('while True: pass', ADD_TESTS, 'add'),
             (bad, ADD_TESTS, 'add')]
    assert ([r.status for r in sandbox.run_code_batch(items, timeout_s=1.0)]
            == ['passed', 'timeout', 'failed'])


def test_the_scratch_folders_are_removed():
    before = {p for p in os.listdir(tempfile.gettempdir()) if p.startswith('nano-r1-sandbox-')}
    add(GOOD)
    add('while True: pass', timeout_s=0.5)
    after = {p for p in os.listdir(tempfile.gettempdir()) if p.startswith('nano-r1-sandbox-')}
    assert after <= before


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError):
        run_code(b'def add(a, b): return a + b', ADD_TESTS, 'add')
    with pytest.raises(ValueError, match='timeout_s'):
        run_code(GOOD, ADD_TESTS, 'add', timeout_s=0)
    with pytest.raises(ValueError, match='memory_mb'):
        run_code(GOOD, ADD_TESTS, 'add', memory_mb=8)
