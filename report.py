"""See the model learn to think: one self-contained HTML page per run, report.html.

    python report.py out/zero                  # out/zero/report.html
    python report.py out/zero out/zero_seed1   # several runs (seeds, an ablation): curves overlaid

The page (its template is report_page.html, beside this file) shows the run's config and
timing, the held-out table of every model in eval.json, the curves of metrics.jsonl (for
train_r1.py, of each stage) with values on hover and the step where reflective answers first
pass half marked, a browser of the rollouts the RL loop kept (samples.jsonl: a step slider,
filters, reflection words highlighted, reward parts), and the same held-out problem answered
before and after training (eval_samples.jsonl). Everything it needs is inlined: it opens from
disk with no network. train_zero.py, train_r1.py and distill.py write it at the end and at each
evaluation while they train; refresh the page to follow a run.

What we chose: the data goes into the page as one JSON object and the page draws it with what a
browser has (SVG, no framework). Of the held-out responses only the first sample of each
problem is inlined (the before/after pane shows one response a side; eval.json has the
figures), so a default R1-Zero run's page stays near 2 MB.
"""
import html
import json
import math
import os
import re
import sys
import time

from checkpoint import read_json, read_rows
from config import InputError, input_errors
from rewards import REFLECTION_MARKERS

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'report_page.html')
TIMING = ('gen_s', 'train_s', 'tok_s', 'elapsed', 'lr')  # metrics kept out of the curves' data
RUN_FILES = ('config.json', 'eval.json', 'metrics.jsonl')
MAX_POINTS = 1000  # a curve longer than this is thinned (a gpu-preset pretraining logs 6,000 rows)
# the fields the page reads from each row: a row without them is skipped and counted
NEEDS = {'samples.jsonl': {'step': int, 'prompt': str, 'response': str},
         'eval_samples.jsonl': {'model': str, 'family': str, 'index': int, 'question': str,
                                'text': str}}


def usable(rows, file):
    """The rows that have every field the page reads for `file`, and how many did not."""
    ok = [r for r in rows if all(isinstance(r.get(k), t) for k, t in NEEDS[file].items())]
    return ok, len(rows) - len(ok)


def is_run(path):
    return os.path.isdir(path) and any(os.path.exists(os.path.join(path, f)) for f in RUN_FILES)


def stage_dirs(run):
    """The folders whose metrics.jsonl and samples.jsonl the page shows: the run itself, then each
    subfolder that is a training run of its own (train_r1.py's stages, distill.py's students)."""
    subs = sorted(d for d in os.listdir(run) if '.stale-' not in d
                  and os.path.exists(os.path.join(run, d, 'metrics.jsonl')))
    order = read_json(os.path.join(run, 'eval.json'), {}).get('models', {})
    subs.sort(key=lambda d: list(order).index(d) if d in order else len(order))
    return [('', run)] + [(d, os.path.join(run, d)) for d in subs]


def load_run(run):
    """Everything the page shows of one run folder, as plain JSON-able data."""
    if not is_run(run):
        raise InputError(f'{run} is not a run folder (it has none of {", ".join(RUN_FILES)})')
    skipped, stages, samples = {}, [], []
    for stage, folder in stage_dirs(run):
        metrics, bad = read_rows(os.path.join(folder, 'metrics.jsonl'))
        skipped[os.path.join(stage, 'metrics.jsonl')] = bad
        rows, bad = read_rows(os.path.join(folder, 'samples.jsonl'))
        rows, missing = usable(rows, 'samples.jsonl')
        skipped[os.path.join(stage, 'samples.jsonl')] = bad + missing
        samples += [{'stage': stage, **r} for r in rows]
        metrics = [r for r in metrics if isinstance(r.get('step'), int)]
        if metrics:
            rl = any('gen_s' in r for r in metrics)  # the RL loop times sampling and updates
            timing = {k: round(sum(r.get(k) or 0 for r in metrics), 1)
                      for k in ('gen_s', 'train_s')}
            every = math.ceil(len(metrics) / MAX_POINTS)
            curves = [{k: v for k, v in r.items() if k not in TIMING
                       and (k == 'step' or isinstance(v, (int, float)) and not isinstance(v, bool))}
                      for i, r in enumerate(metrics) if i % every == 0 or i == len(metrics) - 1]
            stages.append({'name': stage, 'metrics': curves, 'timing': timing if rl else None})
    evals, bad = read_rows(os.path.join(run, 'eval_samples.jsonl'))
    evals, missing = usable(evals, 'eval_samples.jsonl')
    skipped['eval_samples.jsonl'] = bad + missing
    results = read_json(os.path.join(run, 'eval.json'), {}) or {}
    return {'name': os.path.basename(os.path.normpath(run)), 'path': os.path.abspath(run),
            'config': read_json(os.path.join(run, 'config.json'), {}) or {},
            'models': results.get('models', {}), 'seconds': results.get('seconds', {}),
            'stages': stages, 'samples': samples,
            'eval_samples': [r for r in evals if r.get('sample') == 0],
            'skipped': {k: v for k, v in skipped.items() if v}}


def render(runs):
    """The page: the template with the runs' data inlined (safe inside a <script> element)."""
    data = json.dumps({'runs': runs, 'markers': REFLECTION_MARKERS, 'made': time.strftime('%F %T')},
                      ensure_ascii=False, separators=(',', ':'))
    data = data.replace('<', '\\u003c')  # model text may hold </script> or <!--: keep it inert
    title = html.escape(' + '.join(r['name'] for r in runs))
    fill = {'title': title, 'data': data}
    with open(PAGE, encoding='utf-8') as f:  # one pass: inserted text is never scanned again
        return re.sub(r'\{\{(title|data)\}\}', lambda m: fill[m[1]], f.read())


def write_report(run_dirs, out=None, quiet=False):
    """Write report.html for run_dirs (into the first run, or `out`); return its path."""
    t0 = time.time()
    runs = [load_run(r) for r in run_dirs]
    path = out or os.path.join(run_dirs[0], 'report.html')
    with open(path + '.tmp', 'w', encoding='utf-8') as f:
        f.write(render(runs))
    os.replace(path + '.tmp', path)
    if not quiet:
        print(f'wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB in {time.time() - t0:.2f}s)')
    return path


def main(argv):
    """python report.py RUN [RUN ...] [--out=FILE]"""
    out = next((a.split('=', 1)[1] for a in argv if a.startswith('--out=')), None)
    runs = [a for a in argv if not a.startswith('--')]
    if not runs or len(runs) + (out is not None) != len(argv):
        raise InputError('usage: python report.py RUN [RUN ...] [--out=FILE]')
    write_report(runs, out)


if __name__ == '__main__':
    with input_errors():
        main(sys.argv[1:])
