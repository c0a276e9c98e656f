"""Research probes of the toy world: what evaluation.py measures beyond the paper's protocol.

They read responses in the grammar traces.py writes them in. judge() adds measures() of each
response and summarize() adds rates() to each family's block in eval.json: accuracy by style and
length by outcome (does checking pay? does length?); for math, why samples are wrong (a misread, a
slip, the token limit) and whether checks catch slips; for findx, tries per response and how often a
"yes" is false. Also here: the corpus styles' first words, which evaluation.py --opener forces, and
sound_search, the filter of R1's cold start (train_r1.py)."""
import re
from collections import Counter, namedtuple

import traces


def openers(family, lang):
    """First words of a family's corpus styles, as traces.py writes them ({} for none)."""
    w = traces.WORDS[lang]
    if family == 'math':
        return {'sloppy': w['first'], 'careful': w['careful'], 'direct': w['direct']}
    if family == 'findx':
        f = traces.FINDX[lang]
        return {'search': w['trying'], 'one_try': f['let'], 'direct': f['guess']}
    return {}


STYLES = ('sloppy', 'careful', 'direct', 'search', 'one_try')  # every family's, for --opener


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
    """The first words of a response in a family's corpus style; --opener forces them to measure a
    style's accuracy: RL can only favour a style that pays in the model's own hands (corpus.py)."""
    styles = openers(family, lang)
    if style not in styles:
        raise ValueError(f'unknown style {style!r} for {family}; expected one of {sorted(styles)}')
    return f' <think> {styles[style]}'


# A step as the corpus writes it ("Then 13 + 3 = 16."), or the redo after a caught slip.
_STEP_WORDS = {w[key].rstrip(',，') for w in traces.WORDS.values() for key in ('first', 'then', 'wait')}
_STEP_FORM = r'(%s)[,，]?\s*({n}) ([-+*]) (\d+) = ({n})' % '|'.join(map(re.escape, _STEP_WORDS))
_STEP = re.compile(_STEP_FORM.format(n=r'\d+'))
# A model may write a negative value ("2 - 5 = -3"); math_error needs no such step (every running
# value of a problem is >= 0, so the response is already wrong), but a check after it is due.
_SIGNED_STEP = re.compile(_STEP_FORM.format(n=r'-?\d+'))
_REDO = {w['wait'].rstrip(',，') for w in traces.WORDS.values()}
# A check ("check: 10 - 3 = 7, ok.") and its verdict: "not <number>" / "不是" flags an error.
_CHECK = re.compile('|'.join(re.escape(w['check']) for w in traces.WORDS.values()))
_NOT = re.compile(r'(?<![A-Za-z])(%s)\s*-?\d'
                  % '|'.join(re.escape(w['not_']) for w in traces.WORDS.values()))
_END = re.compile('|'.join(re.escape(w['end']) for w in traces.WORDS.values()))


def _value(a, op, b):
    return a + b if op == '+' else a - b if op == '-' else a * b


def check_verdicts(reasoning):
    """Does the model's checking work? A check in a math reasoning is due when a step written since
    the previous check (or the start) has wrong arithmetic (carried values aside), and it flags when
    its sentence says "not <number>"; one cut off before its sentence ends is skipped. Returns (due,
    caught, clean, false_alarms): due checks, those that flagged, checks not due, those that
    flagged. A check flagging as often when nothing slipped as when something did checks nothing."""
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
    """Why a wrong math response went wrong, from its steps: 'misread' (a number or operation not
    the problem's, a step missing or extra), 'slip' (wrong arithmetic or a running value carried
    wrong), 'cut' (right so far, then the token limit), else None (no steps, or right ones)."""
    gold, steps = traces.math_steps(problem.expr), []
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


# findx: a try as traces.solve_findx writes it ("try 5: 5 + 2 = 7. need 9: 7 < 9, so x > 5."); a
# step after "wait," redoes the one before. Models stray, so a comparison is any "a < b" outside a
# step, and a yes any "yes"/"对".
_TRY_HEAD = re.compile(r'(?<![A-Za-z])(?:%s) (-?\d+)\s*[:：]' % '|'.join(
    re.escape(word) for lang in traces.WORDS
    for key, word in openers('findx', lang).items() if key != 'direct'), re.IGNORECASE)
_FX_STEP = re.compile(r'(?:(%s)[,，]?)?\s*(-?\d+) ?([-+]) ?(\d+) = (-?\d+)'
                      % '|'.join(map(re.escape, _REDO)))
_FX_CMP = re.compile(r'(?<![-+*/] )(?<![-+*/\d])(-?\d+) ([<>=]) (-?\d+)(?!\d)')
_FX_YES = re.compile(r'(?<![A-Za-z])%s(?![A-Za-z])|%s'
                     % (traces.FINDX['en']['yes'], traces.FINDX['zh']['yes']), re.IGNORECASE)


# a findx try: its guess, steps all right, value reached, comparison ('<', '>', '=', None), said yes
Try = namedtuple('Try', 'guess right value cmp yes')


def findx_tries(reasoning, problem):
    """A findx reasoning's tries, each (guess, steps right, value reached, comparison, said yes):
    the steps before the try's last comparison are right when they start at the guess and apply the
    problem's terms in order, correctly; comparison is that last '<', '>', '=', or None."""
    terms, rhs = traces.findx_terms(problem.expr)
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
        tries.append(Try(guess, right, value, cmp_.group(2) if cmp_ else None, said_yes))
    return tries


def _findx_measures(reasoning, problem):
    """Per response: tries, comparisons, yeses, false yeses (a "yes" on a guess that is not the
    solution, whose written arithmetic is wrong, or that no "=" comparison backs)."""
    tries = findx_tries(reasoning, problem)
    gold = int(problem.answer)
    yes = [t for t in tries if t.yes]
    return {'tries': len(tries), 'compared': float(any(t.cmp for t in tries)), 'yes': len(yes),
            'false_yes': sum(g != gold or not right or cmp_ != '=' for g, right, _, cmp_, _ in yes)}


def sound_search(reasoning, problem):
    """True when every findx try is sound (right arithmetic, a comparison true of the value reached,
    "yes" exactly on equality) and the last says yes: the searches R1's cold start keeps (not a
    right answer reached through a false check)."""
    _, rhs = traces.findx_terms(problem.expr)
    tries = findx_tries(reasoning, problem)
    true_cmp = lambda v: '<' if v < rhs else '>' if v > rhs else '='
    return bool(tries) and tries[-1].yes and all(
        right and cmp_ == true_cmp(value) and yes == (cmp_ == '=')
        for _, right, value, cmp_, yes in tries)


def measures(reasoning, problem, correct, ended):
    """What the probes read in one response, for judge(): toy math (with an expression) why a
    wrong response went wrong and what its checks said; findx its tries and yeses."""
    if problem.family == 'math' and problem.expr:
        error = None if correct else math_error(reasoning, problem, ended)
        return {**{key: float(error == key) for key in ('misread', 'slip', 'cut')},
                'checks': dict(zip(('due', 'caught', 'clean', 'false'), check_verdicts(reasoning)))}
    if problem.family == 'findx':
        return {'findx': _findx_measures(reasoning, problem)}
    return {}


def rates(flat, lens):
    """One family's probe figures (summarize()): judge() of each sample in flat, tokens in lens."""
    def len_where(keep):
        picked = [n for j, n in zip(flat, lens) if keep(j)]
        return sum(picked) / len(picked) if picked else None
    return {
        # math only: why samples are wrong, and whether checking works (catch, false-alarm rates)
        **(_math_rates(flat) if 'checks' in flat[0] else {}),
        # accuracy by style: does the model's own checking pay? (None when a style is absent)
        'acc_reflective': _mean_where(flat, lambda j: j['reflect']),
        'acc_stepwise': _mean_where(flat, lambda j: not j['reflect'] and not j['direct']),
        'acc_direct': _mean_where(flat, lambda j: j['direct']),
        # do longer answers pay? (Figure 3's length by outcome; chat: correct = a full rubric score)
        'len_correct': len_where(lambda j: j['correct'] == 1),
        'len_wrong': len_where(lambda j: j['correct'] != 1),
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


def _math_rates(flat):
    total = Counter()
    for j in flat:
        total.update(j['checks'])
    ratio = lambda a, b: total[a] / total[b] if total[b] else None
    return {**{f'{key}_rate': sum(j[key] for j in flat) / len(flat)
               for key in ('misread', 'slip', 'cut')},
            'check_catch_rate': ratio('caught', 'due'),
            'check_false_alarm_rate': ratio('false', 'clean'),
            'checks_due': total['due'], 'checks_clean': total['clean']}  # checks the rates rest on


def _mean_where(judged, keep):
    picked = [j['correct'] for j in judged if keep(j)]
    return sum(picked) / len(picked) if picked else None
