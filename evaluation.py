"""Evaluation as the paper does it (R1 section 3).

For each held-out problem we sample k responses under the R1-Zero template; per task family:

  pass@1   mean correctness over the k samples (temperature 0.6, top-p 0.95 by default)
  pass@k   share of problems with at least one correct sample
  maj@k    correctness of the majority answer (the paper's cons@k)
  format   share of wholly well-formed responses that ended with the end token
  lang_consistency, lang_mixed   language-consistency reward (section 2.3.2), share mixed
  mean_len, reflection_rate, direct_rate   tokens; share with a reflection marker / no reasoning
  greedy   pass@1 of the greedy response, so sharpening alone cannot pass for reasoning

Each block also holds the toy world's research probes (probes.py): accuracy by style, why math
samples go wrong, whether checks catch slips, how findx searches; --opener forces a style.

Usage:
  python evaluation.py --run=out/zero                # evaluate out/zero/ckpt.pt into its eval.json
  python evaluation.py --compare=out/base,out/zero   # table of the models in those eval.json files
  python evaluation.py --plot=out/zero               # curves from metrics.jsonl, as PNG
  python evaluation.py --run=out/base --opener=careful --temperature=1.0 --top_p=1.0
                                                     # accuracy when every response opens in a style
"""
import os
import time
from collections import Counter

import data
import probes
import rewards
import tasks
from checkpoint import (load_model, read_json, read_jsonl, read_rows, saved_step, write_json,
                        write_jsonl)
from config import InputError, configure, fail, get_device, input_errors
from sample import rollout_texts

FAMILIES = tuple(tasks.GENERATORS)  # the toy world's families, for --families
SAMPLE_KEYS = ('correct', 'answer', 'format', 'mixed', 'reflect', 'direct')  # judged, per sample


def judge(text, ended, problem):
    """Everything evaluation measures about one response."""
    parsed = rewards.parse_response(text)
    reasoning = parsed.think if parsed.think is not None else text
    # the hidden rubric is the gold metric for open-ended replies
    correct = (rewards.chat_score(text, problem) if problem.family == 'chat'
               else rewards.accuracy_reward(text, problem))
    return {
        'correct': float(correct),
        'answer': ' '.join(parsed.answer.split()) if parsed.well_formed and parsed.answer else None,
        'format': rewards.format_reward(text, ended),
        'lang': rewards.language_consistency_reward(text, problem.lang),
        'mixed': float(rewards.is_mixed(text, problem.lang)),
        'reflect': float(rewards.has_reflection(reasoning)),
        'direct': float('=' not in reasoning),  # no computation step at all
        **probes.measures(reasoning, problem, correct, ended),  # beyond the paper: probes.py
    }


def majority_correct(judged):
    """cons@k: the most common answer among well-formed samples (ties: first seen) and its score."""
    answers = [j['answer'] for j in judged if j['answer'] is not None]
    if not answers:
        return 0.0
    top = Counter(answers).most_common(1)[0][0]
    return next(j['correct'] for j in judged if j['answer'] == top)


def summarize(judged, lens):
    """A family's metrics: judged[i][j] = judge() of problem i's sample j, lens[i][j] its tokens."""
    flat = [j for rows in judged for j in rows]
    mean = lambda key: sum(j[key] for j in flat) / len(flat)
    return {
        'pass@1': mean('correct'),
        'pass@k': sum(max(j['correct'] for j in rows) for rows in judged) / len(judged),
        'maj@k': sum(majority_correct(rows) for rows in judged) / len(judged),
        'format': mean('format'), 'lang_consistency': mean('lang'), 'lang_mixed': mean('mixed'),
        'mean_len': sum(map(sum, lens)) / len(flat), 'reflection_rate': mean('reflect'),
        'direct_rate': mean('direct'),
        **probes.rates(flat, [n for row in lens for n in row]),  # beyond the paper: probes.py
    }


def evaluate(model, tok, problems, k=8, *, temperature=0.6, top_p=0.95, max_new_tokens=128,
             greedy=True, seed=0, opener='', save_to=None):
    """Metrics per family: the block eval.json keeps per model and family. save_to: (run folder,
    model name), whose eval_samples.jsonl gets every response (report.py). opener: a style
    (probes.STYLES) whose first words begin every response of the families having it, judged as
    part of it; each prompt samples max_new_tokens minus the longest opener's tokens."""
    model.eval()
    by_family, samples = {}, []
    for p in problems:
        by_family.setdefault(p.family, []).append(p)
    forced = probes.forced_families(opener, by_family)
    result = {}
    for fam, probs in by_family.items():
        t0 = time.time()
        pre = [probes.style_opener(opener, p.lang, fam) if fam in forced else '' for p in probs]
        prompts = [tasks.render_prompt(p) + o for p, o in zip(probs, pre)]
        n_pre = [len(tok.encode(o)) for o in pre]
        budget = max_new_tokens - max(n_pre)
        if budget < 1:
            raise InputError(f'the {opener!r} opener takes {max(n_pre)} tokens, all of '
                             f'max_new_tokens={max_new_tokens}: raise max_new_tokens')
        out = rollout_texts(model, tok, prompts, k, temperature=temperature, top_p=top_p,
                            max_new_tokens=budget, seed=seed)
        judged = [[judge(o + t, e, p) for t, _, e in rows] for p, o, rows in zip(probs, pre, out)]
        lens = [[n + m for _, n, _ in rows] for m, rows in zip(n_pre, out)]
        for i, (p, o, m, rows, js) in enumerate(zip(probs, pre, n_pre, out, judged)):
            for j, ((text, n, _), jd) in enumerate(zip(rows, js)):  # one row per response
                samples.append({'id': p.id, 'index': i, 'family': fam, 'lang': p.lang,
                                'question': p.prompt,
                                'sample': j, 'text': o + text, 'tokens': n + m,
                                **{x: jd[x] for x in SAMPLE_KEYS}})
        block = {'n': len(probs), 'k': k, 'temperature': temperature, 'top_p': top_p,
                 **summarize(judged, lens)}
        if fam in forced:
            block['opener'] = opener
        if greedy:
            g = rollout_texts(model, tok, prompts, 1, temperature=0.0, max_new_tokens=budget)
            block['greedy'] = sum(judge(o + text, ended, p)['correct']
                                  for p, o, [(text, _, ended)] in zip(probs, pre, g)) / len(probs)
        block['seconds'] = round(time.time() - t0, 1)
        result[fam] = block
    if save_to:
        save_samples(*save_to, samples)
    return result


def save_samples(run_dir, name, rows):
    """eval_samples.jsonl: an evaluation's responses under model `name` (report.py's before and
    after), replacing that name's earlier rows."""
    path = os.path.join(run_dir, 'eval_samples.jsonl')
    kept, _ = read_rows(path)
    write_jsonl(path, [r for r in kept if r.get('model') != name]
                + [{'model': name, **r} for r in rows])


def curve_fn(tok, problems, k, max_new_tokens, run_dir=None):
    """evaluate(model, step) for the training loops: a small held-out evaluation every few
    steps whose figures join that step's metrics row as eval_* (the curves of Figures 2, 3);
    its responses go to run_dir's eval_samples.jsonl as model 'step N'."""
    family = problems[0].family

    def curve(model, step):
        b = evaluate(model, tok, problems, k=k, max_new_tokens=max_new_tokens, seed=step,
                     save_to=run_dir and (run_dir, f'step {step}'))[family]
        print(f"eval {step:4d} | pass@1 {b['pass@1']:.3f} | maj@{b['k']} {b['maj@k']:.3f} | "
              f"greedy {b['greedy']:.3f} | format {b['format']:.3f} | mixed {b['lang_mixed']:.3f}"
              f" | len {b['mean_len']:.1f} | reflect {b['reflection_rate']:.3f}")
        return {f'eval_{key}': v for key, v in b.items() if isinstance(v, float)}
    return curve


def format_block(name, tasks_block):
    """One line per family: the figures the README's results table shows."""
    lines = []
    for fam, b in tasks_block.items():
        lines.append(
            f"{name:>12} {fam:>9} | pass@1 {b['pass@1']:.3f} | pass@{b['k']} {b['pass@k']:.3f} | "
            f"maj@{b['k']} {b['maj@k']:.3f} | greedy {b.get('greedy', float('nan')):.3f} | "
            f"format {b['format']:.3f} | mixed {b['lang_mixed']:.3f} | len {b['mean_len']:.1f} | "
            f"reflect {b['reflection_rate']:.3f} | direct {b['direct_rate']:.3f}"
            + (f" | misread {b['misread_rate']:.3f} | slip {b['slip_rate']:.3f}"
               f" | cut {b['cut_rate']:.3f}" if 'cut_rate' in b else '')
            + ''.join(f" | {label} {b[key]:.3f}" for key, label in
                      (('check_catch_rate', 'catch'), ('check_false_alarm_rate', 'false alarm'),
                       ('tries_per_response', 'tries'), ('false_yes_rate', 'false yes'),
                       ('acc_search', 'acc search'))
                      if b.get(key) is not None))
    return '\n'.join(lines)


def record(results, eval_path, name, model, tok, problems, *, k, max_new_tokens, step, checkpoint):
    """Evaluate a stage's model once: its block goes under results['models'][name] and eval.json
    is written at once (a later crash keeps it); skipped when the block is already there."""
    if name in results['models']:
        return
    t0 = time.time()
    block = evaluate(model, tok, problems, k=k, max_new_tokens=max_new_tokens,
                     save_to=(os.path.dirname(eval_path), name))
    results['models'][name] = {'step': step, 'checkpoint': checkpoint, 'tasks': block}
    results.setdefault('seconds', {})[f'eval_{name}'] = round(time.time() - t0, 1)
    write_json(eval_path, results)
    print(format_block(name, block))


def write_results(results, eval_path, t0):
    """End of a multi-model stage: eval.json (with total seconds), a line per model and family."""
    results.setdefault('seconds', {})['total_this_run'] = round(time.time() - t0, 1)
    write_json(eval_path, results)
    for name, m in results['models'].items():
        print(format_block(name, m['tasks']))
    print(f'done in {time.time() - t0:.0f}s; results in {eval_path}')
    return results


def plot_run(run_dir):
    """Draw run_dir/curves.png from metrics.jsonl: accuracy, length, reflection (Figures 2, 3)."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print('plot skipped: matplotlib is not installed (pip install matplotlib)')
        return None
    rows = read_jsonl(os.path.join(run_dir, 'metrics.jsonl'))
    train = [r for r in rows if 'reward' in r]
    ev = [r for r in rows if 'eval_pass@1' in r]
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    ax[0].plot([r['step'] for r in train], [r['accuracy'] for r in train], alpha=0.4,
               label='train accuracy')
    for key, label in (('eval_pass@1', 'held-out pass@1'), ('eval_maj@k', 'held-out maj@k'),
                       ('eval_greedy', 'held-out greedy')):
        ax[0].plot([r['step'] for r in ev], [r[key] for r in ev], marker='o', label=label)
    ax[0].set_title('accuracy (Figure 2)')
    for a, key, title in ((ax[1], 'mean_len', 'response length in tokens (Figure 3)'),
                          (ax[2], 'reflection_rate', 'share of responses that check their work')):
        a.plot([r['step'] for r in train], [r[key] for r in train], alpha=0.4, label='train')
        a.plot([r['step'] for r in ev], [r[f'eval_{key}'] for r in ev], marker='o', label='held-out')
        a.set_title(title)
    for a in ax:
        a.set_xlabel('GRPO step')
        a.legend()
    path = os.path.join(run_dir, 'curves.png')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print(f'wrote {path}')
    return path


# ---- command-line config: plain names, one comment each; override with --key=value ---------
run = ''                 # run folder to evaluate (ckpt.pt, tokenizer.json) or a Hugging Face folder
name = ''                # model name in eval.json (default: the folder's name)
families = 'math'        # comma-separated task families of the toy world
dataset = ''             # a GSM8K / MATH / Countdown file (data.py) instead of the toy families
eval_dataset = ''        # its evaluation file; '' = the dataset's held-out 10% (as train_zero.py)
n = 200                  # held-out problems per family (or of the dataset)
k = 8                    # samples per problem
temperature = 0.6        # sampling temperature (the paper: 0.6)
top_p = 0.95             # nucleus sampling (the paper: 0.95)
max_new_tokens = 128     # longest response
preset = 'cpu'           # difficulty preset of the held-out problems
compare = ''             # comma-separated run folders: print their eval.json side by side
plot = ''                # run folder: draw curves.png from its metrics.jsonl
opener = ''              # force an opener: math sloppy/careful/direct, findx search/one_try/direct
# -------------------------------------------------------------------------------------------


def main(argv=None):
    cfg = configure(globals(), argv, bounds={'n': (1, None), 'k': (1, None), 'temperature': (0, 10),
                                     'top_p': (0, 1), 'max_new_tokens': (1, None)},
                    choices={'preset': ('cpu', 'gpu'), 'opener': ('', *probes.STYLES)})
    if cfg.plot:
        plot_run(cfg.plot)
    for run in filter(None, cfg.compare.split(',')):
        for name, block in read_json(os.path.join(run, 'eval.json'), {'models': {}})['models'].items():
            print(format_block(name, block['tasks']))
    if cfg.run:
        fams = [f for f in cfg.families.split(',') if f]
        for f in fams:
            if f not in FAMILIES:
                fail(f'--families: unknown family {f!r}')
        try:  # before the model is loaded
            probes.forced_families(cfg.opener, ['math'] if cfg.dataset else fams)
        except ValueError as e:
            fail(f'--opener={cfg.opener}: {e}')
        model, tok = load_model(cfg.run, get_device())
        probs = data.problems(cfg, 'test', cfg.n) if cfg.dataset else \
            [p for f in fams for p in data.problems(cfg, 'test', cfg.n, family=f)]
        name = cfg.name or os.path.basename(os.path.normpath(cfg.run))
        name += f":{cfg.opener}" if cfg.opener else ''
        res = evaluate(model, tok, probs, cfg.k, temperature=cfg.temperature, top_p=cfg.top_p,
                       max_new_tokens=cfg.max_new_tokens, opener=cfg.opener,
                       save_to=(cfg.run, name))
        path = os.path.join(cfg.run, 'eval.json')
        out = read_json(path, {'models': {}})
        out['models'][name] = {'step': saved_step(cfg.run),
                               'checkpoint': os.path.join(cfg.run, 'ckpt.pt'), 'tasks': res}
        write_json(path, out)
        print(format_block(name, res))


if __name__ == '__main__':
    with input_errors():
        main()
