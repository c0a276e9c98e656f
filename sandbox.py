"""The code sandbox: runs model-written Python against hidden tests, for the code family's accuracy
reward (R1 2.2.2: the code is compiled and run against test cases; docs/design.md, Reliability).

    from sandbox import run_code, run_code_batch
    r = run_code('def add(a, b): return a + b', [((1, 2), 3), ((5, 7), 12)], 'add')
    r  # SandboxResult(status='passed', n_passed=2, n_tests=2, output='')
    run_code_batch([(code, tests, entry), ...])  # CODE_WORKERS sandboxes at a time, in order

A test is (args, expected): a list of JSON arguments for `entry` and the JSON value it must return.
Only status 'passed' earns reward (rewards.py); n_passed and output are for logs.

The grader is the parent, never the model's code; the child runs in its own session under a
deadline and resource limits, in an isolated interpreter behind an audit hook. What each layer
stops, and what it does not (it is not a jail): docs/design.md, Reliability.

Run the tests: .venv/bin/pytest tests/test_sandbox.py -s   (-s prints the measured speed)"""
import json
import math
import os
import re
import secrets
import shutil
import signal
import selectors
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

CODE_TIMEOUT_S = 2.0        # wall clock for all tests of one response
CODE_MEMORY_MB = 256        # address space of the child
CODE_MAX_CHARS = 20_000     # longer code is not run
CODE_WORKERS = 2            # parallel sandboxes in run_code_batch / score
OUTPUT_KEEP = 2048          # bytes of the child's stdout+stderr kept in SandboxResult.output
OUTPUT_LIMIT = 1 << 20      # bytes on either pipe after which the child is killed (flood)
FILE_LIMIT = 1 << 20        # largest file the child may write, should the hook let it
# Importable by model code: loaded BEFORE the audit hook, after which only loaded modules import.
PRELOAD = ('json', 'math', 'cmath', 'random', 're', 'string', 'collections', 'itertools',
           'functools', 'heapq', 'bisect', 'operator', 'copy', 'fractions', 'decimal',
           'typing', 'array')
# Audit events refused once model code runs: with imports refused, all loaded modules can reach
# (layer 5, docs/design.md); gc.* finds the harness's objects, resource.* could raise root's
# limits again.
DENY_EVENTS = ('os.', 'signal.', 'gc.', 'resource.', 'sys.addaudithook', 'import')

# The child (layer 1, docs/design.md). Records go to a private pipe, tagged with a nonce read from
# a file it deletes before model code runs; a record with a wrong nonce spoils the run.
HARNESS = r'''
import sys, os, json, resource
job = json.load(open('job.json', encoding='utf-8'))
os.remove('job.json')
for name, value in job['limits']:
    resource.setrlimit(getattr(resource, name), (value, value))
for name in PRELOAD:
    __import__(name)
here, fd = os.getcwd(), int(sys.argv[1])
write, dumps, loads, exit, realpath = os.write, json.dumps, json.loads, os._exit, os.path.realpath
WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
def audit(event, args):
    if event == 'open':
        path, flags = args[0], args[2] if len(args) > 2 and isinstance(args[2], int) else -1
        if flags & WRITING:
            raise PermissionError('sandbox: files are read-only')
        if not isinstance(path, int):
            path = realpath(os.fsdecode(path))
            if path == here or path.startswith(here + os.sep):
                return
        raise PermissionError(f'sandbox: cannot open {path!r} (outside the scratch folder)')
    if event.startswith(DENY_EVENTS):
        raise PermissionError(f'sandbox: {event} {args[0] if args else ""} is not allowed')
def report(kind, i, payload='""'):
    write(fd, f'{job["nonce"]} {kind} {i} {payload}\n'.encode('utf-8', 'replace'))
sys.addaudithook(audit)
space = {'__name__': '__solution__'}  # so `if __name__ == "__main__":` demos do not run
try:
    exec(compile(job['code'], 'solution.py', 'exec'), space)
    fn = space[job['entry']]
except BaseException as e:  # SyntaxError, sys.exit() at import, MemoryError, no entry...
    report('load', -1, dumps(f'{type(e).__name__}: {e}'[:300]))
    exit(0)
for i, args in enumerate(job['args']):
    try:
        out = dumps(fn(*loads(args)), allow_nan=False)
    except BaseException as e:  # includes SystemExit raised by sys.exit() inside fn
        report('raise', i, dumps(type(e).__name__))
    else:
        report('ok', i, out)
report('done', -1)
exit(0)
'''


class SandboxResult(NamedTuple):
    status: str    # 'passed' | 'failed' | 'timeout' | 'memory' | 'error' | 'crashed'
    n_passed: int
    n_tests: int
    output: str    # first OUTPUT_KEEP bytes of stdout+stderr, then the sandbox's notes


def _same(got, want):
    # Strict: True is not 1, 3.0 is not 3; a float accepts a close int (JSON may write 2.0 as 2).
    if isinstance(want, float):
        return type(got) in (int, float) and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    if type(got) is not type(want):
        return False
    if isinstance(want, list):
        return len(got) == len(want) and all(map(_same, got, want))
    if isinstance(want, dict):
        return got.keys() == want.keys() and all(_same(got[k], want[k]) for k in want)
    return got == want


def _collect(proc, results_fd, timeout_s):
    """Read stdout and the results pipe until both close, the deadline passes or a pipe
    floods; then kill the whole process group. Returns (output, results, why stopped)."""
    deadline = time.monotonic() + timeout_s
    buffers = {proc.stdout.fileno(): bytearray(), results_fd: bytearray()}
    sizes = dict.fromkeys(buffers, 0)
    why = None
    with selectors.DefaultSelector() as sel:
        for fd in buffers:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map() and why is None:
            left = deadline - time.monotonic()
            if left <= 0:
                why = 'timeout'
                break
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                sizes[key.fd] += len(chunk)
                keep = OUTPUT_LIMIT if key.fd == results_fd else OUTPUT_KEEP
                buffers[key.fd] += chunk[:max(0, keep - len(buffers[key.fd]))]
                if sizes[key.fd] > OUTPUT_LIMIT:
                    why = 'flood'
    # Before reaping the leader, whose pid (the group id) is still ours: kills all left, always.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    return bytes(buffers[proc.stdout.fileno()]), bytes(buffers[results_fd]), why


def check_tests(tests):
    """(args as JSON strings, expected values as JSON would return them) or an error
    message. rewards.py calls it too, to reject a malformed code problem up front."""
    if not isinstance(tests, (list, tuple)) or not tests:
        return 'no tests: nothing can pass'
    args, expected = [], []
    for i, test in enumerate(tests):
        if (not isinstance(test, (list, tuple)) or len(test) != 2
                or not isinstance(test[0], (list, tuple))):
            return f'test {i} is not (args, expected)'
        try:
            args.append(json.dumps(test[0], allow_nan=False))
            expected.append(json.loads(json.dumps(test[1], allow_nan=False)))
        except (TypeError, ValueError) as e:
            return f'test {i} is not JSON: {e}'
    return args, expected


def run_code(code, tests, entry, timeout_s=CODE_TIMEOUT_S, memory_mb=CODE_MEMORY_MB):
    """Run `code` in a fresh sandboxed interpreter, calling `entry(*args)` for each (args, expected)
    in `tests`. Raises only for bad arguments or when no process starts, never for any code."""
    for what, value in (('code', code), ('entry', entry)):
        if not isinstance(value, str):
            raise TypeError(f'{what} must be a str, got {type(value).__name__}')
    if not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
        raise ValueError(f'timeout_s must be a positive number of seconds, got {timeout_s!r}')
    if not (isinstance(memory_mb, int) and memory_mb >= 64):
        raise ValueError(f'memory_mb must be an int of at least 64, got {memory_mb!r}')
    checked = check_tests(tests)
    n_tests = len(tests) if isinstance(tests, (list, tuple)) else 0
    if isinstance(checked, str):
        return SandboxResult('error', 0, n_tests, checked)
    args, expected = checked
    if not entry.isidentifier():
        return SandboxResult('error', 0, n_tests, f'entry {entry!r} is not a name')
    if len(code) > CODE_MAX_CHARS:
        return SandboxResult('error', 0, n_tests, f'code longer than {CODE_MAX_CHARS} chars')
    nonce = secrets.token_hex(16)
    scratch = tempfile.mkdtemp(prefix='nano-r1-sandbox-')
    try:
        harness = f'PRELOAD = {PRELOAD!r}\nDENY_EVENTS = {DENY_EVENTS!r}\n{HARNESS}'
        with open(os.path.join(scratch, 'harness.py'), 'w', encoding='utf-8') as f:
            f.write(harness)
        # RLIMIT_CPU never beats our deadline; it ends a busy child orphaned before killpg.
        limits = [('RLIMIT_AS', memory_mb << 20), ('RLIMIT_CPU', math.ceil(timeout_s) + 1),
                  ('RLIMIT_FSIZE', FILE_LIMIT), ('RLIMIT_CORE', 0), ('RLIMIT_NPROC', 0)]
        with open(os.path.join(scratch, 'job.json'), 'w', encoding='ascii') as f:
            json.dump({'nonce': nonce, 'code': code, 'entry': entry, 'args': args,
                       'limits': limits}, f)
        read_end, write_end = os.pipe()
        try:
            # -I: no PYTHON* vars or user site; -S: no site; -B: no .pyc; -u: prints survive
            # os._exit. New session: one killpg reaches all it starts; empty env: no secret leaks.
            proc = subprocess.Popen(
                [sys.executable, '-I', '-S', '-B', '-u', '-X', 'utf8', 'harness.py', str(write_end)],
                cwd=scratch, env={}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, pass_fds=(write_end,), start_new_session=True)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)  # the child's copy is now the only one: EOF when it exits
        try:
            output, results, why = _collect(proc, read_end, timeout_s)
        finally:
            os.close(read_end)
            proc.stdout.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return _judge(results, nonce, expected, proc.returncode, output, why, timeout_s)


def _judge(results, nonce, expected, returncode, output, why, timeout_s):
    """The parent's verdict, from the records the child wrote and how it ended."""
    n_tests, passed, raised, done, load_error = len(expected), set(), set(), False, ''
    for line in results.decode('utf-8', 'replace').split('\n')[:-1]:  # drop a cut-off last line
        parts = line.split(' ', 3)
        if len(parts) != 4 or parts[0] != nonce or not re.fullmatch(r'-?[0-9]{1,6}', parts[2]):
            why, passed = why or 'forged', set()  # a spoiled channel can only hurt
            break
        kind, i, payload = parts[1], int(parts[2]), parts[3]
        if kind == 'ok' and 0 <= i < n_tests:
            try:
                if _same(json.loads(payload), expected[i]):
                    passed.add(i)
            except (ValueError, RecursionError):
                pass  # unreadable result: the test fails
        elif kind == 'raise':
            raised.add(_unquote(payload))
        elif kind == 'load':
            load_error = _unquote(payload)
        elif kind == 'done':
            done = True
    notes = {'timeout': f'timeout after {timeout_s:g} s', 'flood': f'output over {OUTPUT_LIMIT} bytes',
             'forged': 'forged or garbled result record', None: ''}[why]
    notes = [notes] if notes else []
    notes += [f'could not load the code: {load_error}'] if load_error else []
    notes += [f'raised: {", ".join(sorted(raised))}'] if raised else []
    if why == 'timeout':
        status = 'timeout'
    elif load_error.startswith('MemoryError') or 'MemoryError' in raised:
        status = 'memory'
    elif why or load_error:
        status = 'error'
    elif not done or returncode != 0:
        status = 'crashed'
        notes.append(f'exit status {returncode}, finished: {done}')
    else:
        status = 'passed' if len(passed) == n_tests else 'failed'
    text = output.decode('utf-8', 'replace')
    if notes:
        text += '\n[sandbox] ' + '; '.join(notes)
    return SandboxResult(status, len(passed), n_tests, text)


def _unquote(payload):
    try:
        return str(json.loads(payload))
    except (ValueError, RecursionError):
        return payload


def run_code_batch(items, workers=CODE_WORKERS, **limits):
    """run_code over (code, tests, entry) items, `workers` sandboxes at a time, in order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda item: run_code(*item, **limits), items))
