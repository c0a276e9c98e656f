"""The toy world: synthetic reasoning problems in English and Chinese.

Five families, each with a generator `(rng, difficulty, lang) -> Problem` here and an oracle in
traces.py writing solution traces in several styles (corpus.py mixes them and says why they matter):

  math       "Compute 7 + 3 - 5." or a one-line word problem; gold answer an integer.
  countdown  reach a target from given numbers; traces search, hit dead ends, backtrack.
  code       write a one-line Python function from a spec; hidden tests run in the sandbox.
  chat       short requests with no checkable answer; a hidden rubric scores replies.
  findx      "Find x: x + 7 - 3 = 12"; a guess is checked by computing the left side, and a
             miss says which way to go: the family where checking pays.

Held-out problems: a problem's split is a hash of its canonical form (the arithmetic, not its
wording or language), so a test expression never appears in the corpus or among RL prompts."""
import hashlib
import random
from dataclasses import dataclass

from countdown import reachable
from language import word_share
from traces import FINDX, FINDX_MAX, WORDS, Trace

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
    family: str          # 'math' | 'countdown' | 'code' | 'chat' | 'findx'; MATH files: 'latex'
    lang: str            # 'en' | 'zh'
    difficulty: int      # family-specific knob: steps, numbers, list length...
    prompt: str          # the user's question; goes into the R1-Zero template
    answer: str = ''     # gold: math's integer, countdown's target, code's reference solution
    numbers: tuple = ()  # countdown: the numbers the expression must use
    entry: str = ''      # code: the function name the hidden tests call
    tests: tuple = ()    # code: hidden tests, ((args_tuple, expected), ...), JSON-able values
    rubric: tuple = ()   # chat: the hidden rubric's checks, ((kind, value), ...); see chat_rubric
    expr: str = ''       # math: canonical expression, e.g. '7+3-5'; findx: the equation, 'x+7-3=12'


def render_prompt(problem):
    """The R1-Zero training template (paper Table 1) around the problem's question."""
    return TEMPLATE.format(prompt=problem.prompt)


def _canon_id(family, canonical):
    return hashlib.sha1(f'{SPLIT_SALT}:{family}:{canonical}'.encode()).hexdigest()[:12]


def split_of(problem):
    """'test' for held-out problems, else 'train'. Decided by the id, i.e. by the canonical form."""
    return 'test' if int(problem.id, 16) % 100 < TEST_PERCENT else 'train'


# Names and things of each language, for prompts (the words of reasoning: traces.WORDS).
NAMES = {'en': ['Tom', 'Anna', 'Bob', 'Lily', 'Sam', 'Mia', 'Max', 'Eva', 'Leo', 'Zoe'],
         'zh': ['小明', '小红', '小刚', '小丽', '小华', '小军', '小云', '小东', '小芳', '小龙']}
ITEMS = {'en': ['apples', 'books', 'coins', 'cards', 'pens'],
         'zh': ['个苹果', '本书', '枚硬币', '张卡片', '支笔']}


# ---- math: a start value, then `difficulty` additions or subtractions of operands 1..max_operand.
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
    if rng.random() < 0.5 or tokens[0].count('*'):
        prompt = f"{WORDS[lang]['compute']} {expr}"
    else:  # a one-line word problem over the same arithmetic
        name, item = rng.choice(NAMES[lang]), rng.choice(ITEMS[lang])
        prompt = _word_problem(lang, name, item, tokens)
    canonical = expr.replace(' ', '')
    return Problem(_canon_id('math', canonical), 'math', lang, difficulty, prompt, str(value),
                   expr=canonical)


def _word_problem(lang, name, item, tokens):
    moves = list(zip(tokens[1::2], tokens[2::2]))
    if lang == 'en':
        parts = ', then '.join(f'gets {x} more' if op == '+' else f'gives away {x}' for op, x in moves)
        return f"{name} has {tokens[0]} {item}, then {parts}. How many {item} does {name} have now?"
    parts = '，然后'.join(f'又得到 {x} {item[0]}' if op == '+' else f'送出 {x} {item[0]}'
                          for op, x in moves)
    return f"{name}有 {tokens[0]} {item}，然后{parts}。{name}现在有多少{item}？"


# ---- countdown: the given numbers, each exactly once, with + - * into the target (countdown.py)

def gen_countdown(rng, difficulty, lang, max_number=10):
    """difficulty = how many numbers are given (3 on the cpu preset, 4 on gpu)."""
    while True:
        nums = [rng.randint(1, max_number) for _ in range(difficulty)]
        targets = [v for v, _ in reachable(nums) if 10 <= v <= 99]
        if targets:
            target = rng.choice(targets)
            break
    nums_txt = ', '.join(map(str, nums)) if lang == 'en' else '、'.join(map(str, nums))
    prompt = (f'Using the numbers {nums_txt} once each, with + - *, make {target}' if lang == 'en'
              else f'用数字 {nums_txt} 各一次，用 + - *，得到 {target}')
    canonical = f"{sorted(nums)}->{target}"
    return Problem(_canon_id('countdown', canonical), 'countdown', lang, difficulty, prompt,
                   str(target), numbers=tuple(nums))


# ---- findx: x in 1..12. A guess is easy to check and hard to produce in one step: the world where
# checking pays (e3, Setlur et al. 2025). The left side grows with x: a comparison shows which way.

def gen_findx(rng, difficulty, lang):
    """difficulty = how many constants follow x (1 or 2); every guess 1..FINDX_MAX stays >= 0."""
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


# ---- code: a one-line function from a spec. Difficulty 1 is one operation, 2 composes two -----

CODE_OPS = [  # (English spec, Chinese spec, body, argument kind)
    ('returns x plus {k}', '返回 x 加 {k}', 'x + {k}', 'int'),
    ('returns x times {k}', '返回 x 乘以 {k}', 'x * {k}', 'int'),
    ('returns x minus {k}', '返回 x 减 {k}', 'x - {k}', 'int'),
    ('returns the sum of the list xs', '返回列表 xs 的和', 'sum(xs)', 'list'),
    ('returns the largest number in the list xs', '返回列表 xs 中最大的数', 'max(xs)', 'list'),
    ('returns how many even numbers the list xs has', '返回列表 xs 中偶数的个数',
     'len([v for v in xs if v % 2 == 0])', 'list'),
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


# ---- chat: a hidden rubric, the gold metric, is never the RL reward (reward model: R1 2.3.4) ---

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
    return Problem(_canon_id('chat', f'{i}:{name}:{lang}'), 'chat', lang, difficulty, prompt,
                   rubric=rubric)


def chat_rubric(problem, reply):
    """Hidden rubric: the share of its checks a reply (the answer's plain text) meets: name,
    keyword, language (every word in the prompt's, language.py), brevity."""
    checks = []
    for kind, value in problem.rubric:
        if kind in ('name', 'keyword'):
            checks.append(value.lower() in reply.lower())
        elif kind == 'lang':
            checks.append(bool(reply.strip()) and word_share(reply, value) == 1.0)
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
    reply = ((' '.join(parts) + ('!' if lang == 'en' else '！')) if parts
             else ('Ok.' if lang == 'en' else '好的。'))
    if rng.random() > quality:  # wrong language or rambling
        reply += ' ' + ('这是我的回答。' if lang == 'en'
                        else 'This is my reply, I hope it is what you wanted.')
    if rng.random() > quality:
        reply += ' ' + ' '.join(['and so on'] * rng.randint(4, 8) if lang == 'en'
                                else ['还有还有'] * rng.randint(4, 8))
    return Trace('', reply, chat_rubric(problem, reply) == 1.0)


# ---- Problem sets, each from one side of the split: held-out problems never reach training

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
