"""The house rules a reader relies on, checked on the source (docs/design.md, Layering):
settings read by name, imports that point down (one known exception), a loop that imports no
world, and lines short enough to scan.

Run: .venv/bin/pytest tests/test_layout.py
"""
import ast
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE = sorted(glob.glob(os.path.join(ROOT, '*.py'))
              + glob.glob(os.path.join(ROOT, 'kernels', '*.py')))
TESTS = sorted(glob.glob(os.path.join(ROOT, 'tests', '*.py')))


def module(path):
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, '.')
    return 'kernels' if rel == 'kernels.__init__' else rel


def imports(path):
    """The project modules a file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ('kernels.' if node.level else '') + (node.module or '')
            found |= {base.rstrip('.')} | {f'{base}.{a.name}' for a in node.names}
    return found


def test_settings_are_read_by_name():
    for path in CODE:
        assert not re.search(r"\bcfg\[['\"]", open(path, encoding='utf-8').read()), path


def test_no_import_circle_but_checkpoint_and_hf():
    mods = {module(p): p for p in CODE}
    graph = {m: {d for d in imports(p) if d in mods and d != m} for m, p in mods.items()}
    circles = set()

    def walk(m, path):
        for d in graph[m]:
            if d in path:
                circles.add(frozenset(path[path.index(d):]))
            else:
                walk(d, path + [d])
    for m in graph:
        walk(m, [m])
    assert circles <= {frozenset({'checkpoint', 'hf'})}, sorted(map(sorted, circles))


def test_the_rl_loop_imports_no_world():
    # the caller hands grpo.train rendered prompts and a reward function (docs/design.md): neither
    # grpo.py nor anything it imports loads the world
    assert not {'tasks', 'rewards', 'data', 'traces'} & imports(os.path.join(ROOT, 'grpo.py'))
    code = ("import sys, grpo; "
            "print(sorted({'tasks', 'rewards', 'data', 'traces'} & set(sys.modules)))")
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == '[]', r.stdout + r.stderr


def test_lines_are_short():
    for path in CODE + TESTS:
        lines = open(path, encoding='utf-8').read().splitlines()
        long = [i + 1 for i, line in enumerate(lines) if len(line) > 100]
        assert len(long) < 0.03 * len(lines), f'{path}: lines {long} are over 100 characters'
