"""Solution traces (the oracle) of tasks.py's problems, in each family's styles (corpus.py mixes
them, says why; chat: tasks.solve_chat). They read only Problem fields, so tasks.py imports them."""
import re
from dataclasses import dataclass

from countdown import reachable

# ---- Words of each language. Reasoning uses these, so the language-consistency reward (paper
# section 2.3.2) has words to count, and a trace that switches language half-way is visible.

WORDS = {
    'en': dict(first='First,', then='Then', so='So the answer is', check='check:', ok='ok',
               not_='not', wait='wait,', sep=' ', end='.', comma=', ', direct='The answer is',
               compute='Compute', trying='try', dead='no, back up.', found='yes, it works.',
               careful='I will check every step.', restate='The sum is'),
    'zh': dict(first='首先，', then='然后', so='所以答案是', check='检查：', ok='对', not_='不是',
               wait='等等，', sep='', end='。', comma='，', direct='答案是', compute='计算',
               trying='试试', dead='不行，退回。', found='对，成立。', careful='我会检查每一步。', restate='算式是'),
}


@dataclass
class Trace:
    text: str          # the reasoning (what goes inside <think>)
    answer: str        # the final answer the trace commits to
    correct: bool      # answer == gold
    reflective: bool = False  # contains a verification or correction


def _slip(rng, value):
    """A plausible arithmetic slip: off by one or two, or by ten."""
    return max(0, value + rng.choice([-2, -1, 1, 2, 10, -10] if value >= 10 else [-2, -1, 1, 2]))


# ---- math: the sloppy, careful and direct styles (corpus.py's docstring shows each) ----------

def math_steps(expr):
    """The steps of a canonical expression: [(a, op, b, result), ...], products first."""
    toks, steps = expr.replace('+', ' + ').replace('-', ' - ').replace('*', ' * ').split(), []
    if len(toks) > 1 and toks[1] == '*':
        a, b = int(toks[0]), int(toks[2])
        steps.append((a, '*', b, a * b))
        toks = [str(a * b)] + toks[3:]
    value = int(toks[0])
    for op, x in zip(toks[1::2], map(int, toks[2::2])):
        new = value + x if op == '+' else value - x
        steps.append((value, op, x, new))
        value = new
    return steps


def _inverse(a, op, b, c):
    """Recompute a step another way: c - b gives back a for '+', c + b for '-', c / b for '*'."""
    if op == '+':
        return f'{c} - {b}', c - b
    if op == '-':
        return f'{c} + {b}', c + b
    return (f'{c} / {b}', c // b) if b and c % b == 0 else (f'{b} * {a}', b * a)


def solve_math(problem, rng, style, error_rate, catch_rate=0.9, switch_at=None, skip_rate=0.0):
    """A trace for a math problem in one style. `error_rate` is the author's per-step slip rate (for
    'direct', the chance the one guess is wrong). A careful author checks each step by its inverse
    and catches a slip with probability catch_rate ("wait, ..." and redo); a missed slip comes with
    a check that slipped too. A sloppy author skips a step with probability skip_rate. switch_at:
    the step from which words are in the other language (None = never), paper 2.3.2's mixing."""
    steps, gold, lang = math_steps(problem.expr), int(problem.answer), problem.lang
    w, switched = WORDS[lang], WORDS['zh' if lang == 'en' else 'en']
    if style == 'direct':
        guess = _slip(rng, gold) if rng.random() < error_rate else gold
        return Trace(f"{w['direct']} {guess}{w['end']}", str(guess), guess == gold)
    out, value = [], None
    if style == 'careful':  # announce the habit (the style is fixed from the first token) and write
        # the problem down as one expression, so no step misreads it
        spaced = problem.expr.replace('+', ' + ').replace('-', ' - ').replace('*', ' * ')
        out.append(f"{w['careful']} {w['restate']} {spaced}{w['end']}")
    elif len(steps) > 1 and rng.random() < skip_rate:  # a sloppy author may skip a step
        del steps[rng.randrange(1, len(steps))]
    for i, (a, op, b, _) in enumerate(steps):
        if value is not None:
            a = value  # carry our own running value, wrong or not
        c = a + b if op == '+' else a - b if op == '-' else a * b
        w = switched if switch_at is not None and i >= switch_at else WORDS[lang]
        got = _slip(rng, c) if rng.random() < error_rate else c
        line = f"{w['first'] if i == 0 else w['then']} {a} {op} {b} = {got}{w['end']}"
        if style == 'careful':
            if got != c and rng.random() < catch_rate:  # the check disagrees: say so and redo
                inv, back = _inverse(a, op, b, got)
                line += (f" {w['check']} {inv} = {back}{w['comma']}{w['not_']} {a}{w['end']}"
                         f" {w['wait']} {a} {op} {b} = {c}{w['end']}")
                got = c
            line += f" {w['check']} {_inverse(a, op, b, got)[0]} = {a}{w['comma']}{w['ok']}{w['end']}"
        out.append(line)
        value = got
    w = switched if switch_at is not None else WORDS[lang]  # switch_at == len(steps): only here
    out.append(f"{w['so']} {value}{w['end']}")
    return Trace(' '.join(out), str(value), value == gold, style == 'careful')


# ---- countdown: the oracle searches depth-first, writing its dead ends and backtracking (Stream of
# Search, 2024).

def solve_countdown(problem, rng, max_dead_ends=2):
    """A search trace: a few failed attempts ending in 'no, back up', then one that works."""
    w, target = WORDS[problem.lang], int(problem.answer)
    cands = reachable(list(problem.numbers))
    wins = [e for v, e in cands if v == target]
    misses = [(v, e) for v, e in cands if v != target]
    lines = [f"{w['trying']} {e} = {v}{w['comma']}{w['not_']} {target}{w['end']} {w['dead']}"
             for v, e in rng.sample(misses, min(len(misses), rng.randint(0, max_dead_ends)))]
    win = rng.choice(wins)
    lines.append(f"{w['trying']} {win} = {target}{w['comma']}{w['found']}")
    return Trace(' '.join(lines), win, True)


# ---- findx: a guess is checked by computing the left side; a miss says which way to go (tasks.py)

FINDX = {'en': dict(find='Find x:', yes='yes', so_x='so', guess='The answer is', let='let x be',
                    need='need', colon=':'),
         'zh': dict(find='求 x：', yes='对', so_x='所以', guess='答案是', let='设 x 为',
                    need='需要', colon='：')}
FINDX_MAX = 12  # x lies in 1..FINDX_MAX


def findx_terms(expr):
    """'x+7-3=12' -> ([('+', 7), ('-', 3)], 12)."""
    left, rhs = expr.split('=')
    return [(op, int(c)) for op, c in re.findall(r'([+-])(\d+)', left)], int(rhs)


def _evaluate(guess, terms, lang, rng, error_rate, catch_rate):
    """The steps that compute the left side at `guess`: (text, the value they reach). A slip is
    redone at once ("wait, 7 + 6 = 13") with probability catch_rate, else carried on."""
    w, steps, value = WORDS[lang], [], guess
    for op, c in terms:
        right = value + c if op == '+' else value - c
        got = _slip(rng, right) if rng.random() < error_rate else right
        step = f'{value} {op} {c} = {got}'
        if got != right and rng.random() < catch_rate:
            step += f"{w['comma']}{w['wait']} {value} {op} {c} = {right}"
            got = right
        steps.append(step)
        value = got
    return w['comma'].join(steps), value


def solve_findx(problem, rng, style, error_rate=0.05, catch_rate=0.5, near_miss=0.5, give_up=0.05,
                direct_error=0.7):
    """A trace in one style. 'direct' states a guess (wrong with probability direct_error);
    'one_try' computes one guess and answers it uncompared; 'search' guesses, computes, compares
    with the right side, narrows the interval and guesses again near its middle until the values
    are equal ("yes"). A searcher's guess lands next to the answer with probability near_miss
    (traces full of rejected near misses); after a miss it gives up with probability give_up."""
    terms, rhs = findx_terms(problem.expr)
    gold, lang = int(problem.answer), problem.lang
    w, f = WORDS[lang], FINDX[lang]
    if style == 'direct':
        guess = (gold if rng.random() >= direct_error
                 else rng.choice([g for g in range(1, FINDX_MAX + 1) if g != gold]))
        return Trace(f"{f['guess']} {guess}{w['end']}", str(guess), guess == gold)
    lo, hi, lines, guess = 0, FINDX_MAX + 1, [], None  # x lies strictly between lo and hi
    while True:
        near = [g for g in (gold - 1, gold + 1) if lo < g < hi]
        inside = list(range(lo + 1, hi))
        if not inside:  # an uncaught slip narrowed past the answer: commit to the last guess
            break
        biased = style == 'search' and near and rng.random() < near_miss  # one_try just guesses
        middle = [g for g in inside if abs(g - (lo + hi) / 2) <= 1.5]  # a searcher halves it
        guess = (rng.choice(near) if biased
                 else rng.choice(middle if style == 'search' and lines else inside))
        text, value = _evaluate(guess, terms, lang, rng, error_rate, catch_rate)
        if style == 'one_try':  # its own first words, so evaluation.py --opener can force the style
            lines.append(f"{f['let']} {guess}: {text}{w['end']}")
            break
        # the target is restated before the comparison, so the model compares two numbers that are
        # both on the last line, not one it must recall from the prompt while writing the sign
        line = (f"{w['wait'] + ' ' if lines else ''}{w['trying']} {guess}: {text}{w['end']} "
                f"{f['need']} {rhs}{f['colon']}")
        if value == rhs:
            lines.append(f"{line} {value} = {rhs}{w['comma']}{f['yes']}{w['end']}")
            break
        sign = '<' if value < rhs else '>'
        lo, hi = (guess, hi) if sign == '<' else (lo, guess)
        # a miss narrows the interval and sends the search back ("wait, try 9: ..."), the
        # re-evaluation Table 3 counts. Once both ends are known it is written out ("so 4 < x < 6"):
        # a small model keeps the last line (else R1-Zero looped "try 6, x < 6; try 4, x > 4; ...")
        bound = (f'{lo} < x < {hi}' if 0 < lo and hi <= FINDX_MAX
                 else f'x > {lo}' if sign == '<' else f'x < {hi}')
        lines.append(f"{line} {value} {sign} {rhs}{w['comma']}{f['so_x']} {bound}{w['end']}")
        if rng.random() < give_up:
            break
    lines.append(f"{w['so']} {guess}{w['end']}")
    return Trace(' '.join(lines), str(guess), guess == gold, style == 'search' and len(lines) > 2)


# ---- code ------------------------------------------------------------------------------------

def solve_code(problem, rng, error_rate):
    """A short plan, then the one-line solution; a sloppy author gets the constant wrong."""
    code, digits = problem.answer, [c for c in problem.answer if c.isdigit()]
    if rng.random() < error_rate and digits:
        d = rng.choice(digits)
        code = code.replace(d, str((int(d) + 1) % 10), 1)
    plan = 'I write the function in one line.' if problem.lang == 'en' else '我用一行写出这个函数。'
    return Trace(plan, code, code == problem.answer)
