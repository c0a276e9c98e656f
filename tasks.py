"""The toy world: synthetic reasoning problems in English and Chinese.

Five families, each with a generator `(rng, difficulty, lang) -> Problem` and an oracle that
writes solution traces in several styles (corpus.py mixes them into the pretraining corpus and
says why the styles matter):

  math       "Compute 7 + 3 - 5." or a one-line word problem; gold answer an integer.
  countdown  reach a target from given numbers; traces search, hit dead ends, backtrack.
  code       write a one-line Python function from a spec; hidden tests run in the sandbox.
  chat       short requests with no checkable answer; a hidden rubric scores replies.
  findx      "Find x: x + 7 - 3 = 12"; a guess is checked by computing the left side, and a
             miss says which way to go: the family where checking pays.

Held-out problems: a problem's split is a hash of its canonical form (the arithmetic, not its
wording or language), so a test expression never appears in the corpus or among RL prompts.
"""
import hashlib
import random
import re
from dataclasses import dataclass

SPLIT_SALT = 'nano-r1-split-v1'  # changing it reshuffles which problems are held out
TEST_PERCENT = 10                # share of canonical forms held out for evaluation

# Table 1 of the paper, verbatim. {prompt} is the user's question.
TEMPLATE = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
    "process here </think> <answer> answer here </answer>. User: {prompt}. Assistant:")


@dataclass(frozen=True)
class Problem:
    id: str              # stable hash of family + canonical form (also decides the held-out split)
    family: str          # 'math' | 'countdown' | 'code' | 'chat' | 'findx'; 'latex' for MATH files (data.py)
    lang: str            # 'en' | 'zh'
    difficulty: int      # family-specific knob: steps, numbers, list length...
    prompt: str          # the user's question; goes into the R1-Zero template
    answer: str = ''     # gold: the integer for math, the target for countdown, a reference solution for code
    numbers: tuple = ()  # countdown: the numbers the expression must use
    entry: str = ''      # code: the function name the hidden tests call
    tests: tuple = ()    # code: hidden tests, ((args_tuple, expected), ...), JSON-able values
    rubric: tuple = ()   # chat: what the hidden rubric checks, ((kind, value), ...); see chat_rubric
    expr: str = ''       # math: the canonical expression, e.g. '7+3-5'; findx: the equation, 'x+7-3=12'


def render_prompt(problem):
    """The R1-Zero training template (paper Table 1) around the problem's question."""
    return TEMPLATE.format(prompt=problem.prompt)


def _canon_id(family, canonical):
    return hashlib.sha1(f'{SPLIT_SALT}:{family}:{canonical}'.encode()).hexdigest()[:12]


def split_of(problem):
    """'test' for held-out problems, else 'train'. Decided by the id, i.e. by the canonical form."""
    return 'test' if int(problem.id, 16) % 100 < TEST_PERCENT else 'train'


# ----------------------------------------------------------------------------------------------
# Words of each language. Reasoning uses these, so the language-consistency reward (paper
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
NAMES = {'en': ['Tom', 'Anna', 'Bob', 'Lily', 'Sam', 'Mia', 'Max', 'Eva', 'Leo', 'Zoe'],
         'zh': ['小明', '小红', '小刚', '小丽', '小华', '小军', '小云', '小东', '小芳', '小龙']}
ITEMS = {'en': ['apples', 'books', 'coins', 'cards', 'pens'], 'zh': ['个苹果', '本书', '枚硬币', '张卡片', '支笔']}


def other(lang):
    return 'zh' if lang == 'en' else 'en'


# ----------------------------------------------------------------------------------------------
# math: a start value, then `difficulty` additions or subtractions of operands 1..max_operand.
# A share of problems opens with a one-digit product ("3 * 2 + 4 - 1"). Running values stay >= 0.

def gen_math(rng, difficulty, lang, max_operand=10, product_rate=0.1):
    if rng.random() < product_rate:
        a = rng.randint(2, 4)
        b = rng.randint(2, 9 // a)
        tokens, value = [f'{a} * {b}'], a * b
    else:
        value = rng.randint(1, max_operand)
        tokens = [str(value)]
    for _ in range(difficulty):
        x = rng.randint(1, max_operand)
        op = '-' if (x <= value and rng.random() < 0.5) else '+'
        value = value + x if op == '+' else value - x
        tokens += [op, str(x)]
    expr = ' '.join(tokens)
    words = WORDS[lang]
    if rng.random() < 0.5 or tokens[0].count('*'):
        prompt = f"{words['compute']} {expr}"
    else:  # a one-line word problem over the same arithmetic
        name, item = rng.choice(NAMES[lang]), rng.choice(ITEMS[lang])
        prompt = _word_problem(lang, name, item, tokens)
    canonical = expr.replace(' ', '')
    return Problem(_canon_id('math', canonical), 'math', lang, difficulty, prompt, str(value), expr=canonical)


def _word_problem(lang, name, item, tokens):
    parts = []
    for op, x in zip(tokens[1::2], tokens[2::2]):
        if lang == 'en':
            parts.append(f'gets {x} more' if op == '+' else f'gives away {x}')
        else:
            parts.append(f'又得到 {x} {item[0]}' if op == '+' else f'送出 {x} {item[0]}')
    if lang == 'en':
        return f"{name} has {tokens[0]} {item}, then {', then '.join(parts)}. How many {item} does {name} have now?"
    return f"{name}有 {tokens[0]} {item}，然后{'，然后'.join(parts)}。{name}现在有多少{item}？"


def math_steps(expr):
    """The steps of a canonical expression: [(a, op, b, result), ...], products first."""
    toks = expr.replace('+', ' + ').replace('-', ' - ').replace('*', ' * ').split()
    steps = []
    if len(toks) > 1 and toks[1] == '*':
        a, b = int(toks[0]), int(toks[2])
        steps.append((a, '*', b, a * b))
        toks = [str(a * b)] + toks[3:]
    value = int(toks[0])
    for op, x in zip(toks[1::2], toks[2::2]):
        x = int(x)
        new = value + x if op == '+' else value - x
        steps.append((value, op, x, new))
        value = new
    return steps


def _slip(rng, value):
    """A plausible arithmetic slip: off by one or two, or by ten."""
    return max(0, value + rng.choice([-2, -1, 1, 2, 10, -10] if value >= 10 else [-2, -1, 1, 2]))


def _inverse(a, op, b, c):
    """Recompute a step another way: c - b should give back a for '+', c + b for '-', c / b for '*'."""
    if op == '+':
        return f'{c} - {b}', c - b
    if op == '-':
        return f'{c} + {b}', c + b
    return (f'{c} / {b}', c // b) if b and c % b == 0 else (f'{b} * {a}', b * a)


@dataclass
class Trace:
    text: str          # the reasoning (what goes inside <think>)
    answer: str        # the final answer the trace commits to
    correct: bool      # answer == gold
    style: str         # 'careful' | 'sloppy' | 'direct' | 'search' | 'one_try' | 'chat' | 'code'
    reflective: bool = False  # contains a verification or correction
    mixed: bool = False       # reasoning switches language part-way


def solve_math(problem, rng, style, error_rate, catch_rate=0.9, switch_at=None, skip_rate=0.0):
    """Write a trace for a math problem in one style. `error_rate` is the author's per-step slip
    rate (for 'direct', the chance the one guess is wrong). A careful author checks each step by
    its inverse and catches a slip with probability catch_rate ("wait, ..." and redo); a slip it
    misses comes with a check that slipped too. A sloppy author skips a step with probability
    skip_rate. switch_at: the step from which the reasoning's words are in the other language
    (None = never): the language mixing of paper section 2.3.2."""
    steps, gold, lang = math_steps(problem.expr), int(problem.answer), problem.lang
    if style == 'direct':
        guess = _slip(rng, gold) if rng.random() < error_rate else gold
        w = WORDS[lang]
        return Trace(f"{w['direct']} {guess}{w['end']}", str(guess), guess == gold, 'direct')
    out, value = [], None
    if style == 'careful':  # announce the habit (the style is fixed from the first token) and
        w = WORDS[lang]     # write the problem down as one expression, so no step misreads it
        spaced = problem.expr.replace('+', ' + ').replace('-', ' - ').replace('*', ' * ')
        out.append(f"{w['careful']} {w['restate']} {spaced}{w['end']}")
    elif len(steps) > 1 and rng.random() < skip_rate:  # a sloppy author may skip a step
        del steps[rng.randrange(1, len(steps))]
    for i, (a, op, b, _) in enumerate(steps):
        if value is not None:
            a = value  # carry our own running value, wrong or not
        c = a + b if op == '+' else a - b if op == '-' else a * b
        w = WORDS[other(lang) if switch_at is not None and i >= switch_at else lang]
        got = _slip(rng, c) if rng.random() < error_rate else c
        line = f"{w['first'] if i == 0 else w['then']} {a} {op} {b} = {got}{w['end']}"
        if style == 'careful':
            if got != c and rng.random() < catch_rate:  # the check disagrees: say so and redo
                inv, back = _inverse(a, op, b, got)
                line += f" {w['check']} {inv} = {back}{w['comma']}{w['not_']} {a}{w['end']} {w['wait']} {a} {op} {b} = {c}{w['end']}"
                got = c
            line += f" {w['check']} {_inverse(a, op, b, got)[0]} = {a}{w['comma']}{w['ok']}{w['end']}"
        out.append(line)
        value = got
    w = WORDS[other(lang) if switch_at is not None else lang]  # switch_at == len(steps): only this line
    out.append(f"{w['so']} {value}{w['end']}")
    return Trace(' '.join(out), str(value), value == gold, style, style == 'careful', switch_at is not None)


# ----------------------------------------------------------------------------------------------
# countdown: combine the given numbers (each exactly once) with + - * into the target. The
# oracle searches depth-first, writing its dead ends and backtracking (Stream of Search, 2024).

def _reachable(nums):
    """Every (value, expression) reachable left-to-right from some ordering of a subset of nums."""
    out = []
    def go(value, text, rest):
        out.append((value, text))
        for i, x in enumerate(rest):
            nxt = rest[:i] + rest[i + 1:]
            for op in '+-*':
                v = value + x if op == '+' else value - x if op == '-' else value * x
                if v >= 0:
                    go(v, f'({text}) * {x}' if op == '*' and ' ' in text else f'{text} {op} {x}', nxt)
    for i, x in enumerate(nums):
        go(x, str(x), nums[:i] + nums[i + 1:])
    return out


def gen_countdown(rng, difficulty, lang, max_number=10):
    """difficulty = how many numbers are given (3 on the cpu preset, 4 on gpu)."""
    while True:
        nums = [rng.randint(1, max_number) for _ in range(difficulty)]
        full = [(v, e) for v, e in _reachable(nums) if e.count(' ') // 2 == difficulty - 1 and 10 <= v <= 99]
        if full:
            target, _ = rng.choice(full)
            break
    nums_txt = ', '.join(map(str, nums)) if lang == 'en' else '、'.join(map(str, nums))
    prompt = (f'Using the numbers {nums_txt} once each, with + - *, make {target}' if lang == 'en'
              else f'用数字 {nums_txt} 各一次，用 + - *，得到 {target}')
    canonical = f"{sorted(nums)}->{target}"
    return Problem(_canon_id('countdown', canonical), 'countdown', lang, difficulty, prompt, str(target),
                   numbers=tuple(nums))


def solve_countdown(problem, rng, max_dead_ends=2):
    """A search trace: a few failed attempts ending in 'no, back up', then one that works."""
    w, target = WORDS[problem.lang], int(problem.answer)
    cands = [(v, e) for v, e in _reachable(list(problem.numbers)) if e.count(' ') // 2 == len(problem.numbers) - 1]
    wins = [e for v, e in cands if v == target]
    misses = [(v, e) for v, e in cands if v != target]
    lines = []
    for v, e in rng.sample(misses, min(len(misses), rng.randint(0, max_dead_ends))):
        lines.append(f"{w['trying']} {e} = {v}{w['comma']}{w['not_']} {target}{w['end']} {w['dead']}")
    win = rng.choice(wins)
    lines.append(f"{w['trying']} {win} = {target}{w['comma']}{w['found']}")
    return Trace(' '.join(lines), win, True, 'search', reflective=False)


# ----------------------------------------------------------------------------------------------
# findx: "Find x: x + 7 - 3 = 12", x in 1..12. A guess is easy to check (compute the left side,
# compare it with the right) and hard to produce in one step: the world where checking pays
# (e3, Setlur et al. 2025). The left side grows with x, so a comparison says which way to go.

FINDX = {'en': dict(find='Find x:', yes='yes', so_x='so', guess='The answer is', let='let x be', need='need', colon=':'),
         'zh': dict(find='求 x：', yes='对', so_x='所以', guess='答案是', let='设 x 为', need='需要', colon='：')}
FINDX_MAX = 12


def gen_findx(rng, difficulty, lang):
    """difficulty = how many constants follow x (1 or 2). Every guess 1..FINDX_MAX computes
    through non-negative values, so a search never meets a negative number."""
    while True:
        x, terms, low = rng.randint(1, FINDX_MAX), [], 1  # low: the left side's value at x = 1
        for _ in range(difficulty):
            c = rng.randint(1, 9)
            op = '-' if c <= low and rng.random() < 0.5 else '+'
            low = low + c if op == '+' else low - c
            terms.append((op, c))
        rhs = x + sum(c if op == '+' else -c for op, c in terms)
        if rhs >= 0:
            break
    left = 'x' + ''.join(f' {op} {c}' for op, c in terms)
    canonical = f"{left.replace(' ', '')}={rhs}"
    return Problem(_canon_id('findx', canonical), 'findx', lang, difficulty,
                   f"{FINDX[lang]['find']}{WORDS[lang]['sep']}{left} = {rhs}", str(x), expr=canonical)


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
    'one_try' computes one guess and answers it without comparing; 'search' guesses, computes,
    compares with the right side, narrows the interval and guesses again near its middle until
    the values are equal ("yes"). A search author's guess lands next to the answer with
    probability near_miss (so traces are full of near misses rejected), and after a miss gives
    up with probability give_up, answering the last guess."""
    terms, rhs = findx_terms(problem.expr)
    gold, lang = int(problem.answer), problem.lang
    w, f = WORDS[lang], FINDX[lang]
    if style == 'direct':
        guess = gold if rng.random() >= direct_error else rng.choice([g for g in range(1, FINDX_MAX + 1) if g != gold])
        return Trace(f"{f['guess']} {guess}{w['end']}", str(guess), guess == gold, 'direct')
    lo, hi, lines, guess = 0, FINDX_MAX + 1, [], None  # x lies strictly between lo and hi
    while True:
        near = [g for g in (gold - 1, gold + 1) if lo < g < hi]
        inside = list(range(lo + 1, hi))
        if not inside:  # an uncaught slip narrowed past the answer: commit to the last guess
            break
        biased = style == 'search' and near and rng.random() < near_miss  # a one-try author just guesses
        middle = [g for g in inside if abs(g - (lo + hi) / 2) <= 1.5]  # a searcher halves the interval
        guess = rng.choice(near) if biased else rng.choice(middle if style == 'search' and lines else inside)
        text, value = _evaluate(guess, terms, lang, rng, error_rate, catch_rate)
        if style == 'one_try':  # its own first words, so evaluation.py --opener can force the style
            lines.append(f"{f['let']} {guess}: {text}{w['end']}")
            break
        # the target is restated before the comparison, so the model compares two numbers that are
        # both on the last line, not one it must recall from the prompt while writing the sign
        line = f"{w['wait'] + ' ' if lines else ''}{w['trying']} {guess}: {text}{w['end']} {f['need']} {rhs}{f['colon']}"
        if value == rhs:
            lines.append(f"{line} {value} = {rhs}{w['comma']}{f['yes']}{w['end']}")
            break
        sign = '<' if value < rhs else '>'
        lo, hi = (guess, hi) if sign == '<' else (lo, guess)
        # a miss narrows the interval and sends the search back ("wait, try 9: ..."), the
        # re-evaluation that Table 3's reflection marker counts. The interval is written out once
        # both ends are known ("so 4 < x < 6"): a small model keeps the last line, not the whole
        # search (without it R1-Zero looped "try 6, x < 6; try 4, x > 4; try 6 ..." to the token limit)
        bound = f'{lo} < x < {hi}' if 0 < lo and hi <= FINDX_MAX else f'x > {lo}' if sign == '<' else f'x < {hi}'
        lines.append(f"{line} {value} {sign} {rhs}{w['comma']}{f['so_x']} {bound}{w['end']}")
        if rng.random() < give_up:
            break
    lines.append(f"{w['so']} {guess}{w['end']}")
    return Trace(' '.join(lines), str(guess), guess == gold, 'search' if style == 'search' else 'one_try',
                 reflective=style == 'search' and len(lines) > 2)


# ----------------------------------------------------------------------------------------------
# code: a one-line function from a spec. Difficulty 1 is one operation, 2 composes two.

CODE_OPS = [  # (English spec, Chinese spec, body, argument kind)
    ('returns x plus {k}', '返回 x 加 {k}', 'x + {k}', 'int'),
    ('returns x times {k}', '返回 x 乘以 {k}', 'x * {k}', 'int'),
    ('returns x minus {k}', '返回 x 减 {k}', 'x - {k}', 'int'),
    ('returns the sum of the list xs', '返回列表 xs 的和', 'sum(xs)', 'list'),
    ('returns the largest number in the list xs', '返回列表 xs 中最大的数', 'max(xs)', 'list'),
    ('returns how many even numbers the list xs has', '返回列表 xs 中偶数的个数', 'len([v for v in xs if v % 2 == 0])', 'list'),
    ('returns the list xs reversed', '返回反转后的列表 xs', 'xs[::-1]', 'list'),
]
CODE_THEN = [  # a second operation for difficulty 2, applied to an integer result
    (', then adds {k}', '，再加 {k}', '{inner} + {k}'),
    (', then multiplies by {k}', '，再乘以 {k}', '({inner}) * {k}'),
    (', then subtracts {k}', '，再减 {k}', '{inner} - {k}'),
]


def gen_code(rng, difficulty, lang):
    en, zh, body, kind = rng.choice(CODE_OPS[:3] if difficulty >= 2 else CODE_OPS)
    k = rng.randint(2, 9)
    en, zh, body = en.format(k=k), zh.format(k=k), body.format(k=k)
    if difficulty >= 2:
        en2, zh2, body2 = rng.choice(CODE_THEN)
        k2 = rng.randint(2, 9)
        en, zh, body = en + en2.format(k=k2), zh + zh2.format(k=k2), body2.format(inner=body, k=k2)
    arg, entry = ('x' if kind == 'int' else 'xs'), 'f'
    solution = f'def {entry}({arg}): return {body}'
    scope = {}
    exec(solution, scope)  # our own reference solution, never model output
    if kind == 'int':
        inputs = [(rng.randint(-20, 20),) for _ in range(4)]
    else:
        inputs = [([rng.randint(0, 20) for _ in range(rng.randint(1, 5))],) for _ in range(4)]
    tests = tuple((args, scope[entry](*args)) for args in inputs)
    prompt = (f'Write a Python function {entry}({arg}) that {en}' if lang == 'en'
              else f'写一个 Python 函数 {entry}({arg})，{zh}')
    return Problem(_canon_id('code', solution), 'code', lang, difficulty, prompt, solution,
                   entry=entry, tests=tests)


def solve_code(problem, rng, error_rate):
    """A short plan, then the one-line solution; a sloppy author gets the constant wrong."""
    code = problem.answer
    if rng.random() < error_rate:
        digits = [c for c in code if c.isdigit()]
        if digits:
            d = rng.choice(digits)
            code = code.replace(d, str((int(d) + 1) % 10), 1)
    plan = 'I write the function in one line.' if problem.lang == 'en' else '我用一行写出这个函数。'
    return Trace(plan, code, code == problem.answer, 'code')


# ----------------------------------------------------------------------------------------------
# chat: open-ended requests. The hidden rubric is the gold metric (never the RL reward): the
# reward model learns it from preference pairs (paper section 2.3.4).

CHAT_KINDS = [  # (English request, Chinese request, what a good reply must contain)
    ('Write a short greeting to {name}', '给{name}写一句简短的问候', ('hello', '你好')),
    ('Say thank you to {name} for the gift', '感谢{name}送的礼物', ('thank', '谢谢')),
    ('Wish {name} a good day', '祝{name}今天愉快', ('good day', '愉快')),
    ('Say sorry to {name} for being late', '向{name}为迟到道歉', ('sorry', '对不起')),
    ('Congratulate {name} on the new job', '祝贺{name}找到新工作', ('congratulations', '恭喜')),
]


def gen_chat(rng, difficulty, lang):
    i = rng.randrange(len(CHAT_KINDS))
    en, zh, kw = CHAT_KINDS[i]
    name = rng.choice(NAMES[lang])
    prompt = (en if lang == 'en' else zh).format(name=name)
    rubric = (('name', name), ('keyword', kw[0] if lang == 'en' else kw[1]), ('lang', lang),
              ('max_words', 12))
    return Problem(_canon_id('chat', f'{i}:{name}:{lang}'), 'chat', lang, difficulty, prompt, rubric=rubric)


def chat_rubric(problem, reply):
    """Hidden rubric: the share of its checks a reply meets (name, keyword, language, brevity)."""
    import rewards  # the language measure lives with the rewards (docs/design.md, Layering)
    checks = []
    for kind, value in problem.rubric:
        if kind in ('name', 'keyword'):
            checks.append(value.lower() in reply.lower())
        elif kind == 'lang':
            checks.append(bool(reply.strip()) and rewards.language_consistency_reward(reply, value) == 1.0)
        elif kind == 'max_words':
            checks.append(0 < len(reply.split()) <= value and len(reply) <= 8 * value)
    return sum(checks) / max(1, len(checks))


def solve_chat(problem, rng, quality):
    """A reply that meets each rubric check with probability `quality` (mixed-quality chat)."""
    r = dict(problem.rubric)
    lang, name, kw = problem.lang, r['name'], r['keyword']
    parts = []
    if rng.random() < quality:
        parts.append(kw.capitalize() if lang == 'en' else kw)
    if rng.random() < quality:
        parts.append(name)
    reply = (' '.join(parts) + ('!' if lang == 'en' else '！')) if parts else ('Ok.' if lang == 'en' else '好的。')
    if rng.random() > quality:  # wrong language or rambling
        reply += ' ' + ('这是我的回答。' if lang == 'en' else 'This is my reply, I hope it is what you wanted.')
    if rng.random() > quality:
        reply += ' ' + ' '.join(['and so on'] * rng.randint(4, 8) if lang == 'en' else ['还有还有'] * rng.randint(4, 8))
    return Trace('', reply, chat_rubric(problem, reply) == 1.0, 'chat')


# ----------------------------------------------------------------------------------------------
# Problem sets. Every set is drawn from one side of the split, so held-out problems never reach
# the corpus or the RL prompts, whatever the seed.

GENERATORS = {'math': gen_math, 'countdown': gen_countdown, 'code': gen_code, 'chat': gen_chat,
              'findx': gen_findx}
DIFFICULTY = {  # (lowest, highest) difficulty per family and preset
    'cpu': {'math': (2, 3), 'countdown': (3, 3), 'code': (1, 2), 'chat': (1, 1), 'findx': (1, 2)},
    'gpu': {'math': (3, 5), 'countdown': (3, 4), 'code': (1, 2), 'chat': (1, 1), 'findx': (1, 2)},
}


def draw_problem(family, rng, split='train', preset='cpu', lang=None, zh_share=0.3):
    """One problem of `family` from the given side of the split ('train' or 'test')."""
    if family not in GENERATORS:
        raise ValueError(f'unknown task family {family!r}; expected one of {sorted(GENERATORS)}')
    if split not in ('train', 'test'):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    lo, hi = DIFFICULTY[preset][family]
    for _ in range(10_000):
        lng = lang or ('zh' if rng.random() < zh_share else 'en')
        p = GENERATORS[family](rng, rng.randint(lo, hi), lng)
        if split_of(p) == split:
            return p
    raise RuntimeError(f'could not draw a {split} problem for {family}: the space is too small')


def eval_set(family, n, seed=0, preset='cpu'):
    """The fixed held-out evaluation set: n test-split problems, the same for a given seed."""
    rng = random.Random(f'eval:{family}:{seed}:{preset}')
    return [draw_problem(family, rng, 'test', preset) for _ in range(n)]
