"""Evaluation as the paper does it (R1 section 3).

For each held-out problem we sample k responses under the R1-Zero template and report, per
task family:

  pass@1   mean correctness over the k samples (temperature 0.6, top-p 0.95 by default)
  pass@k   share of problems with at least one correct sample
  maj@k    correctness of the majority answer (the paper's cons@k)
  format   share of wholly well-formed responses that ended with the end token
  lang_consistency, lang_mixed   language-consistency reward (section 2.3.2), share mixed
  mean_len, reflection_rate, direct_rate   tokens, share with a reflection marker, share with
           no reasoning step
  misread_rate, slip_rate, cut_rate   math: share of samples wrong because a step took a number
           or an operation the problem does not have, because a step's arithmetic is wrong, or
           because the response hit the token limit before it was done
  check_catch_rate, check_false_alarm_rate, checks_due, checks_clean   math: share of checks
           that say "not ..." after a step with wrong arithmetic, and after none (equal rates:
           the checks check nothing), and how many checks each rate rests on
  greedy   pass@1 of the greedy response, so sharpening alone cannot pass for reasoning

Usage:
  python eval.py --run=out/zero                  # evaluate out/zero/ckpt.pt, write its eval.json
  python eval.py --compare=out/base,out/zero     # table of the models in those eval.json files
  python eval.py --plot=out/zero                 # curves from metrics.jsonl, as PNG
  python eval.py --run=out/base --opener=careful --temperature=1.0 --top_p=1.0
                                                 # accuracy when every response opens in one style
"""
import os
import re
import sys
import time
from collections import Counter

import rewards
import tasks
from checkpoint import read_jsonl, write_json
from sample import rollout_texts

FAMILIES = tuple(tasks.GENERATORS)  # the toy world's families, for --families


def openers(family, lang):
    """The first words of each of a family's corpus styles, as tasks.py writes them (math:
    solve_math, findx: solve_findx); {} for a family without styles."""
    w = tasks.WORDS[lang]
    if family == 'math':
        return {'plain': w['first'], 'careful': w['careful'], 'direct': w['direct']}
    if family == 'findx':
        f = tasks.FINDX[lang]
        return {'search': w['trying'], 'one_try': f['let'], 'direct': f['guess']}
    return {}


STYLES = ('plain', 'careful', 'direct', 'search', 'one_try')  # every family's, for --opener


def forced_families(opener, families):
    """The families among `families` that have the style `opener` (none when opener is ''); an
    opener that none of them has is an error, not a silently unforced evaluation."""
    if not opener:
        return set()
    forced = {fam for fam in families if opener in openers(fam, 'en')}
    if not forced:
        raise ValueError(f'no family here has a {opener!r} style: ' + '; '.join(
            f'{fam}: {sorted(openers(fam, "en"))}' for fam in families))
    return forced


def style_opener(style, lang, family='math'):
    """The first words of a response in one of the family's corpus styles. --opener forces
    them, to measure how accurate each style is for a model: RL can only move probability
    toward a style that pays in the model's own hands (corpus.py)."""
    styles = openers(family, lang)
    if style not in styles:
        raise ValueError(f'unknown style {style!r} for {family}; expected one of {sorted(styles)}')
    return f' <think> {styles[style]}'


# A step as the corpus writes it ("Then 13 + 3 = 16."), or the redo after a caught slip.
_STEP_WORDS = {w[key].rstrip(',，') for w in tasks.WORDS.values() for key in ('first', 'then', 'wait')}
_STEP_FORM = r'(%s)[,，]?\s*({n}) ([-+*]) (\d+) = ({n})' % '|'.join(map(re.escape, _STEP_WORDS))
_STEP = re.compile(_STEP_FORM.format(n=r'\d+'))
# A model may write a negative value ("2 - 5 = -3"); math_error needs no such step (every running
# value of a problem is >= 0, so the response is already wrong), but a check after it is due.
_SIGNED_STEP = re.compile(_STEP_FORM.format(n=r'-?\d+'))
_REDO = {w['wait'].rstrip(',，') for w in tasks.WORDS.values()}
# A check ("check: 10 - 3 = 7, ok.") and its verdict: "not <number>" / "不是" flags an error.
_CHECK = re.compile('|'.join(re.escape(w['check']) for w in tasks.WORDS.values()))
_NOT = re.compile(r'(?<![A-Za-z])(%s)\s*-?\d' % '|'.join(re.escape(w['not_']) for w in tasks.WORDS.values()))
_END = re.compile('|'.join(re.escape(w['end']) for w in tasks.WORDS.values()))


def _value(a, op, b):
    return a + b if op == '+' else a - b if op == '-' else a * b


def check_verdicts(reasoning):
    """Does the model's checking work? For each check in a math reasoning: it is due when a step
    written since the previous check (or the start) has wrong arithmetic (a carried value is not
    looked at), and it flags an error when its sentence says "not <number>". A check whose
    sentence never ends (cut off by the token limit) has no verdict and is skipped. Returns
    (due, caught, clean, false_alarms): checks due, due checks that flagged, checks not due,
    not-due checks that flagged. A check that flags as often when nothing slipped as when
    something did checks nothing."""
    due = caught = clean = false = 0
    checks = list(_CHECK.finditer(reasoning))
    for i, m in enumerate(checks):
        start = checks[i - 1].end() if i else 0
        nxt = checks[i + 1].start() if i + 1 < len(checks) else None
        end = _END.search(reasoning, m.end(), nxt or len(reasoning))
        if end is None and nxt is None:
            continue  # cut off before its verdict
        slipped = any(int(c) != _value(int(a), op, int(b))
                      for _, a, op, b, c in _SIGNED_STEP.findall(reasoning, start, m.start()))
        flagged = bool(_NOT.search(reasoning, m.end(), end.start() if end else nxt))
        due, caught = due + slipped, caught + (slipped and flagged)
        clean, false = clean + (not slipped), false + (not slipped and flagged)
    return due, caught, clean, false


def math_error(reasoning, problem, ended=True):
    """Why a wrong math response went wrong, read from its steps: 'misread' (a step took a
    number or operation that is not the problem's, or a step is missing or extra), 'slip' (a
    step's arithmetic is wrong, or it carried the running value wrong), 'cut' (right so far,
    but it hit the token limit), else None (no steps, or right steps and a wrong answer)."""
    gold, steps = tasks.math_steps(problem.expr), []
    for opener, a, op, b, c in _STEP.findall(reasoning):
        if opener in _REDO and steps:
            steps.pop()  # a redo replaces the step it corrects
        steps.append((int(a), op, int(b), int(c)))
    for i, ((a, op, b, c), g) in enumerate(zip(steps, gold)):
        if (op, b) != g[1:3] or (i == 0 and a != g[0]):
            return 'misread'
        if c != _value(a, op, b) or (i and a != steps[i - 1][3]):
            return 'slip'  # wrong arithmetic, or a running value carried wrong
    if not ended:
        return 'cut'
    return 'misread' if steps and len(steps) != len(gold) else None


# findx: a try as tasks.solve_findx writes it, "try 5: 5 + 2 = 7, 7 + 6 = 13. need 20: 13 < 20, so
# x > 5." or "... 20 = 20, yes."; a step right after "wait," redoes the step before it. A model may
# stray from that form, so a comparison is any "a < b" not inside a step, and a yes is any "yes"/"对".
_TRY_HEAD = re.compile(r'(?<![A-Za-z])(?:%s) (-?\d+)\s*[:：]' % '|'.join(
    re.escape(word) for lang in tasks.WORDS for key, word in openers('findx', lang).items() if key != 'direct'),
    re.IGNORECASE)
_FX_STEP = re.compile(r'(?:(%s)[,，]?)?\s*(-?\d+) ?([-+]) ?(\d+) = (-?\d+)' % '|'.join(map(re.escape, _REDO)))
_FX_CMP = re.compile(r'(?<![-+*/] )(?<![-+*/\d])(-?\d+) ([<>=]) (-?\d+)(?!\d)')
_FX_YES = re.compile(r'(?<![A-Za-z])%s(?![A-Za-z])|%s' % (tasks.FINDX['en']['yes'], tasks.FINDX['zh']['yes']),
                     re.IGNORECASE)


def findx_tries(reasoning, problem):
    """The tries of a findx reasoning, each (guess, steps right, value it reached, comparison,
    said yes): steps are right when they start at the guess, apply the problem's terms in order
    and add correctly (those before the try's last comparison); comparison is that last one's
    '<', '>' or '=', or None (a guess computed and never compared)."""
    terms, rhs = tasks.findx_terms(problem.expr)
    heads = list(_TRY_HEAD.finditer(reasoning))
    tries = []
    for i, m in enumerate(heads):
        seg = reasoning[m.end():heads[i + 1].start() if i + 1 < len(heads) else len(reasoning)]
        cmps = list(_FX_CMP.finditer(seg))
        cmp_ = cmps[-1] if cmps else None
        guess, steps = int(m.group(1)), []
        for redo, a, op, c, d in _FX_STEP.findall(seg[:cmp_.start()] if cmp_ else seg):
            if redo and steps:
                steps.pop()
            steps.append((int(a), op, int(c), int(d)))
        value, right = guess, len(steps) == len(terms)
        for (a, op, c, d), (t_op, t_c) in zip(steps, terms):
            right &= a == value and (op, c) == (t_op, t_c) and d == _value(a, op, c)
            value = d
        said_yes = bool(_FX_YES.search(seg, cmp_.end() if cmp_ else 0))
        tries.append((guess, right, value, cmp_.group(2) if cmp_ else None, said_yes))
    return tries


def _findx_measures(reasoning, problem):
    """Per response: tries, comparisons, yeses, false yeses (a "yes" on a guess that is not the
    solution, whose written arithmetic is wrong, or that no "=" comparison backs: the check that
    says yes near the target)."""
    tries = findx_tries(reasoning, problem)
    gold = int(problem.answer)
    yes = [t for t in tries if t[4]]
    return {'tries': len(tries), 'compared': float(any(t[3] for t in tries)), 'yes': len(yes),
            'false_yes': sum(g != gold or not right or cmp_ != '=' for g, right, _, cmp_, _ in yes)}


def sound_search(reasoning, problem):
    """True when every try of a findx reasoning is sound: its arithmetic right, its comparison
    true of the value it reached, "yes" said exactly on equality, and the last try a yes: the
    searches R1's cold start keeps (a correct answer reached through a false check is not)."""
    _, rhs = tasks.findx_terms(problem.expr)
    tries = findx_tries(reasoning, problem)
    true_cmp = lambda v: '<' if v < rhs else '>' if v > rhs else '='
    return bool(tries) and tries[-1][4] and all(
        right and cmp_ == true_cmp(value) and yes == (cmp_ == '=') for _, right, value, cmp_, yes in tries)


def judge(text, ended, problem):
    """Everything evaluation measures about one response."""
    parsed = rewards.parse_response(text)
    reasoning = parsed.think if parsed.think is not None else text
    if problem.family == 'chat':  # the hidden rubric is the gold metric for open-ended replies
        correct = rewards.chat_score(text, problem)
    else:
        correct = rewards.accuracy_reward(text, problem)
    math = {}
    if problem.family == 'math' and problem.expr:  # toy math only: why it went wrong, and whether its checks check anything
        error = None if correct else math_error(reasoning, problem, ended)
        math = {key: float(error == key) for key in ('misread', 'slip', 'cut')}
        math['checks'] = dict(zip(('due', 'caught', 'clean', 'false'), check_verdicts(reasoning)))
    if problem.family == 'findx':
        math['findx'] = _findx_measures(reasoning, problem)
    return {
        'correct': float(correct),
        'answer': ' '.join(parsed.answer.split()) if parsed.well_formed and parsed.answer else None,
        'format': rewards.format_reward(text, ended),
        'lang': rewards.language_consistency_reward(text, problem.lang),
        'mixed': float(rewards.is_mixed(text, problem.lang)),
        'reflect': float(rewards.has_reflection(reasoning)),
        'direct': float('=' not in reasoning),  # no computation step at all
        **math,
    }


def majority_correct(judged):
    """cons@k: the most common answer among well-formed samples (ties: first seen) and its score."""
    answers = [j['answer'] for j in judged if j['answer'] is not None]
    if not answers:
        return 0.0
    top = Counter(answers).most_common(1)[0][0]
    return next(j['correct'] for j in judged if j['answer'] == top)


def summarize(judged, lens):
    """The metrics of one family from judged samples: judged[i][j] is judge() of sample j of
    problem i, lens[i][j] its length in tokens."""
    flat = [j for rows in judged for j in rows]
    flat_lens = [n for row in lens for n in row]
    mean = lambda key: sum(j[key] for j in flat) / len(flat)

    def len_where(keep):
        picked = [n for j, n in zip(flat, flat_lens) if keep(j)]
        return sum(picked) / len(picked) if picked else None
    return {
        'pass@1': mean('correct'),
        'pass@k': sum(max(j['correct'] for j in rows) for rows in judged) / len(judged),
        'maj@k': sum(majority_correct(rows) for rows in judged) / len(judged),
        'format': mean('format'), 'lang_consistency': mean('lang'), 'lang_mixed': mean('mixed'),
        'mean_len': sum(map(sum, lens)) / len(flat), 'reflection_rate': mean('reflect'),
        'direct_rate': mean('direct'),
        # math only: why samples are wrong (a misread, a slip, the token limit) and whether checking
        # works (flagged share of checks after a slip, and of the rest)
        **(_math_rates(flat, mean) if 'checks' in flat[0] else {}),
        # accuracy by style: does the model's own checking pay? (None when a style is absent)
        'acc_reflective': _mean_where(flat, lambda j: j['reflect']),
        'acc_stepwise': _mean_where(flat, lambda j: not j['reflect'] and not j['direct']),
        'acc_direct': _mean_where(flat, lambda j: j['direct']),
        # do longer answers pay? (Figure 3's length, split by outcome; for chat, correct = a full rubric score)
        'len_correct': len_where(lambda j: j['correct'] == 1), 'len_wrong': len_where(lambda j: j['correct'] != 1),
        **(_findx_rates(flat) if 'findx' in flat[0] else {}),
    }


def _findx_rates(flat):
    fx = [j['findx'] for j in flat]
    yes = sum(f['yes'] for f in fx)
    return {'tries_per_response': sum(f['tries'] for f in fx) / len(fx),
            'false_yes_rate': sum(f['false_yes'] for f in fx) / yes if yes else None, 'yeses': yes,
            # accuracy of responses that compare a guess with the right side...
            'acc_search': _mean_where(flat, lambda j: j['findx']['compared']),
            # ...and of those that compute a guess but never compare it (direct answers apart)
            'acc_unchecked': _mean_where(flat, lambda j: not j['findx']['compared'] and not j['direct'])}


def _math_rates(flat, mean):
    total = Counter()
    for j in flat:
        total.update(j['checks'])
    ratio = lambda a, b: total[a] / total[b] if total[b] else None
    return {**{f'{key}_rate': mean(key) for key in ('misread', 'slip', 'cut')},
            'check_catch_rate': ratio('caught', 'due'), 'check_false_alarm_rate': ratio('false', 'clean'),
            'checks_due': total['due'], 'checks_clean': total['clean']}  # how many checks the rates rest on


def _mean_where(judged, keep):
    picked = [j['correct'] for j in judged if keep(j)]
    return sum(picked) / len(picked) if picked else None


def evaluate(model, tok, problems, k=8, *, temperature=0.6, top_p=0.95, max_new_tokens=128,
             greedy=True, seed=0, opener=''):
    """Metrics per family for a list of problems: the block eval.json keeps per model and family.
    opener: a style (STYLES; style_opener) whose first words every response of the families
    that have it is forced to begin with; they are judged as part of the response and count
    toward max_new_tokens: every prompt samples max_new_tokens minus the longest opener's tokens
    (the English careful opener is 4 tokens longer than the Chinese one)."""
    model.eval()
    by_family = {}
    for p in problems:
        by_family.setdefault(p.family, []).append(p)
    forced = forced_families(opener, by_family)
    result = {}
    for fam, probs in by_family.items():
        t0 = time.time()
        pre = [style_opener(opener, p.lang, fam) if fam in forced else '' for p in probs]
        prompts = [tasks.render_prompt(p) + o for p, o in zip(probs, pre)]
        n_pre = [len(tok.encode(o)) for o in pre]
        budget = max_new_tokens - max(n_pre)
        if budget < 1:
            raise ValueError(f'the {opener!r} opener takes {max(n_pre)} tokens, all of max_new_tokens='
                             f'{max_new_tokens}: raise max_new_tokens')
        samples = rollout_texts(model, tok, prompts, k, temperature=temperature, top_p=top_p,
                                max_new_tokens=budget, seed=seed)
        judged = [[judge(o + t, e, p) for t, _, e in rows] for p, o, rows in zip(probs, pre, samples)]
        lens = [[n + m for _, n, _ in rows] for m, rows in zip(n_pre, samples)]
        block = {'n': len(probs), 'k': k, 'temperature': temperature, 'top_p': top_p, **summarize(judged, lens)}
        if fam in forced:
            block['opener'] = opener
        if greedy:
            g = rollout_texts(model, tok, prompts, 1, temperature=0.0, max_new_tokens=budget)
            block['greedy'] = sum(judge(o + rows[0][0], rows[0][2], p)['correct']
                                  for p, o, rows in zip(probs, pre, g)) / len(probs)
        block['seconds'] = round(time.time() - t0, 1)
        result[fam] = block
    return result


def curve_fn(tok, problems, k, max_new_tokens):
    """evaluate(model, step) for the training loops: a small held-out evaluation every few
    steps whose figures join that step's metrics row as eval_* (the curves of Figures 2, 3)."""
    family = problems[0].family

    def curve(model, step):
        b = evaluate(model, tok, problems, k=k, max_new_tokens=max_new_tokens, seed=step)[family]
        print(f"eval {step:4d} | pass@1 {b['pass@1']:.3f} | maj@{b['k']} {b['maj@k']:.3f} | greedy {b['greedy']:.3f} | "
              f"format {b['format']:.3f} | mixed {b['lang_mixed']:.3f} | len {b['mean_len']:.1f} | "
              f"reflect {b['reflection_rate']:.3f}")
        return {f'eval_{key}': v for key, v in b.items() if isinstance(v, float)}
    return curve


def format_block(name, tasks_block):
    """One line per family: the figures the README's results table shows."""
    lines = []
    for fam, b in tasks_block.items():
        lines.append(f"{name:>12} {fam:>9} | pass@1 {b['pass@1']:.3f} | pass@{b['k']} {b['pass@k']:.3f} | "
                     f"maj@{b['k']} {b['maj@k']:.3f} | greedy {b.get('greedy', float('nan')):.3f} | "
                     f"format {b['format']:.3f} | mixed {b['lang_mixed']:.3f} | len {b['mean_len']:.1f} | "
                     f"reflect {b['reflection_rate']:.3f} | direct {b['direct_rate']:.3f}"
                     + (f" | misread {b['misread_rate']:.3f} | slip {b['slip_rate']:.3f} | cut {b['cut_rate']:.3f}"
                        if 'cut_rate' in b else '')
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
    block = evaluate(model, tok, problems, k=k, max_new_tokens=max_new_tokens)
    results['models'][name] = {'step': step, 'checkpoint': checkpoint, 'tasks': block}
    results.setdefault('seconds', {})[f'eval_{name}'] = round(time.time() - t0, 1)
    write_json(eval_path, results)
    print(format_block(name, block))


def write_results(results, eval_path, t0):
    """The end of a multi-model stage: eval.json with this run's total seconds, then one line
    per model and family."""
    results.setdefault('seconds', {})['total_this_run'] = round(time.time() - t0, 1)
    write_json(eval_path, results)
    for name, m in results['models'].items():
        print(format_block(name, m['tasks']))
    print(f'done in {time.time() - t0:.0f}s; results in {eval_path}')
    return results


def plot_run(run_dir):
    """Curves of a run from metrics.jsonl: reward/accuracy, length and reflection against step
    (paper Figures 2 and 3), written to run_dir/curves.png. Needs matplotlib."""
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
    ax[0].plot([r['step'] for r in train], [r['accuracy'] for r in train], alpha=0.4, label='train accuracy')
    for key, label in (('eval_pass@1', 'held-out pass@1'), ('eval_maj@k', 'held-out maj@k'),
                       ('eval_greedy', 'held-out greedy')):
        ax[0].plot([r['step'] for r in ev], [r[key] for r in ev], marker='o', label=label)
    ax[0].set_title('accuracy (Figure 2)')
    ax[1].plot([r['step'] for r in train], [r['mean_len'] for r in train], alpha=0.4, label='train')
    ax[1].plot([r['step'] for r in ev], [r['eval_mean_len'] for r in ev], marker='o', label='held-out')
    ax[1].set_title('response length in tokens (Figure 3)')
    ax[2].plot([r['step'] for r in train], [r['reflection_rate'] for r in train], alpha=0.4, label='train')
    ax[2].plot([r['step'] for r in ev], [r['eval_reflection_rate'] for r in ev], marker='o', label='held-out')
    ax[2].set_title('share of responses that check their work')
    for a in ax:
        a.set_xlabel('GRPO step')
        a.legend()
    path = os.path.join(run_dir, 'curves.png')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print(f'wrote {path}')
    return path


# ---- command-line config: plain names, one comment each; override with --key=value ---------
run = ''                 # run folder to evaluate (its ckpt.pt and tokenizer.json), or a Hugging Face folder
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
opener = ''              # force responses to open in a style: math 'plain'/'careful'/'direct', findx 'search'/'one_try'/'direct'
# -------------------------------------------------------------------------------------------


def main(argv=None):
    import data
    from checkpoint import load_model, read_json
    from config import configure, get_device
    cfg = configure(globals(), argv, bounds={'n': (1, None), 'k': (1, None), 'temperature': (0, 10),
                                     'top_p': (0, 1), 'max_new_tokens': (1, None)},
                    choices={'preset': ('cpu', 'gpu'), 'opener': ('', *STYLES)})
    if cfg['plot']:
        plot_run(cfg['plot'])
    for run in filter(None, cfg['compare'].split(',')):
        for name, block in read_json(os.path.join(run, 'eval.json'), {'models': {}})['models'].items():
            print(format_block(name, block['tasks']))
    if cfg['run']:
        fams = [f for f in cfg['families'].split(',') if f]
        for f in fams:
            if f not in FAMILIES:
                print(f'config error: --families: unknown family {f!r}', file=sys.stderr)
                sys.exit(2)
        try:  # before the model is loaded
            forced_families(cfg['opener'], ['math'] if cfg['dataset'] else fams)
        except ValueError as e:
            print(f'config error: --opener={cfg["opener"]}: {e}', file=sys.stderr)
            sys.exit(2)
        model, tok, blob = load_model(cfg['run'], get_device())
        probs = data.problems(cfg, 'test', cfg['n']) if cfg['dataset'] else \
            [p for f in fams for p in data.problems(cfg, 'test', cfg['n'], family=f)]
        res = evaluate(model, tok, probs, cfg['k'], temperature=cfg['temperature'], top_p=cfg['top_p'],
                       max_new_tokens=cfg['max_new_tokens'], opener=cfg['opener'])
        name = cfg['name'] or os.path.basename(os.path.normpath(cfg['run']))
        name += f":{cfg['opener']}" if cfg['opener'] else ''
        path = os.path.join(cfg['run'], 'eval.json')
        out = read_json(path, {'models': {}})
        out['models'][name] = {'step': int(blob.get('step', 0)), 'checkpoint': os.path.join(cfg['run'], 'ckpt.pt'),
                               'tasks': res}
        write_json(path, out)
        print(format_block(name, res))


if __name__ == '__main__':
    from config import input_errors
    with input_errors():
        main()
