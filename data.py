"""Real datasets from local files: GSM8K, MATH / MATH-500 and Countdown, as tasks.Problem.

The peers R1-Zero is usually compared with train on these (TinyZero: Countdown; open-r1 and
simple_GRPO: GSM8K and MATH). Nothing is downloaded: point a script at a file you have. Each line
(or parquet row) becomes a Problem with the toy world's template, rewards and evaluation:

  GSM8K       {"question": ..., "answer": "... #### 72"}         family 'math' (integer answer)
  MATH(-500)  {"problem": ..., "solution": "... \\boxed{...}"}    family 'latex' (math-verify)
              (gold: an "answer" field, as MATH-500 has, else the solution's last \\boxed{})
  Countdown   {"target": 98, "nums": [44, 19, 35]}              family 'countdown' (+-*/, each once)

Each line's keys give its format; a line fitting none, or with a bad field, stops with file:line.
`split(problems)` holds out the toy world's 10% of canonical forms, for a file with no test split.

    problems = load('gsm8k/train.jsonl')
"""
import functools
import json
import os
import re

import tasks
from config import InputError

COUNTDOWN_PROMPT = (
    'Using the numbers {nums}, create an equation that equals {target}. You can use basic '
    'arithmetic operations (+, -, *, /) and each number can only be used once')


class DataError(InputError):
    pass


def last_boxed(text):
    """The contents of the last \\boxed{...} or \\fbox{...} in text (nested braces too), or None."""
    starts = [m.end() for m in re.finditer(r'\\(?:boxed|fbox)\s*\{', text)]
    if not starts:
        return None
    depth, i = 1, starts[-1]
    for j in range(i, len(text)):
        depth += {'{': 1, '}': -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j].strip()
    return None  # unbalanced


def _lang(text):
    return 'zh' if re.search(r'[\u4e00-\u9fff]', text) else 'en'


def _text(row, key, where):
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f'{where}: {key!r} must be a non-empty string')
    return value.strip()


def problem_of(row, where):
    """One Problem from one record; DataError naming `where` (file:line) when it fits no format."""
    if not isinstance(row, dict):
        raise DataError(f'{where}: expected a JSON object, got {type(row).__name__}')
    if 'question' in row and 'answer' in row:  # GSM8K
        question, answer = _text(row, 'question', where), _text(row, 'answer', where)
        gold = answer.rsplit('####', 1)[-1].strip().replace(',', '') if '####' in answer else None
        if gold is None or not re.fullmatch(r'-?[0-9]{1,18}', gold):
            raise DataError(f'{where}: a GSM8K answer must end with "#### <integer>", '
                            f'got {answer[-40:]!r}')
        return tasks.Problem(id=tasks._canon_id('gsm8k', question), family='math',
                             lang=_lang(question), difficulty=0, prompt=question, answer=gold)
    if 'problem' in row and ('solution' in row or 'answer' in row):  # MATH, MATH-500
        problem = _text(row, 'problem', where)
        gold = row.get('answer')
        if gold is None:
            gold = last_boxed(_text(row, 'solution', where))
        if not isinstance(gold, str) or not gold.strip():
            raise DataError(f'{where}: no gold answer '
                            f'(an "answer" field or a \\boxed{{}} in the solution)')
        level = re.search(r'\d+', str(row.get('level', '')))
        return tasks.Problem(id=tasks._canon_id('latex', problem), family='latex',
                             lang=_lang(problem), difficulty=int(level.group()) if level else 0,
                             prompt=problem, answer=gold.strip())
    if 'target' in row and 'nums' in row:  # Countdown (TinyZero's Countdown-Tasks-3to4)
        target, nums = row['target'], row['nums']
        if hasattr(nums, 'tolist'):
            nums = nums.tolist()
        if type(target) is not int or not isinstance(nums, list) or not nums \
                or not all(type(n) is int and n >= 0 for n in nums):
            raise DataError(f'{where}: Countdown needs an integer "target" and a list of '
                            f'non-negative integer "nums", got {target!r}, {nums!r}')
        canonical = f"{','.join(map(str, sorted(nums)))}->{target}"
        return tasks.Problem(
            id=tasks._canon_id('countdown', canonical), family='countdown', lang='en',
            difficulty=len(nums), answer=str(target), numbers=tuple(nums),
            prompt=COUNTDOWN_PROMPT.format(nums=', '.join(map(str, nums)), target=target))
    raise DataError(f'{where}: fits no format (GSM8K: question + answer; MATH: problem + '
                    f'solution or answer; Countdown: target + nums); keys are {sorted(row)}')


def records(path):
    """(where, record) for each line of a .jsonl file or row of a .parquet file."""
    if not os.path.exists(path):
        raise DataError(f'dataset {path} not found')
    if not os.path.isfile(path):
        raise DataError(f'dataset {path} is not a file')
    if path.endswith('.parquet'):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError(f'{path}: reading parquet needs pyarrow (pip install pyarrow), '
                            'or convert it to jsonl') from None
        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow's own errors for a truncated or foreign file
            raise DataError(f'{path}: not a readable parquet file '
                            f'({type(e).__name__}: {e})') from None
        for i, row in enumerate(rows, 1):
            yield f'{path} row {i}', row
        return
    with open(path, encoding='utf-8') as f:
        i = 0
        try:
            for i, line in enumerate(f, 1):
                if line.strip():
                    yield f'{path}:{i}', json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f'{path}:{i}: not valid JSON ({e.msg})') from None
        except UnicodeDecodeError:
            raise DataError(f'{path}:{i + 1}: not UTF-8 text') from None


def load(path):
    """Every problem in the file, in file order. An empty file is an error, not an empty run."""
    problems = [problem_of(row, where) for where, row in records(path)]
    if not problems:
        raise DataError(f'dataset {path} is empty')
    return problems


def split(problems, side):
    """The 'train' or 'test' side of the toy world's split (a hash of each canonical form)."""
    return [p for p in problems if tasks.split_of(p) == side]


@functools.lru_cache(maxsize=4)
def run_problems(dataset, eval_dataset=''):
    """(train, test) of a run: the dataset (its train side without eval_dataset), and eval_dataset
    or else the dataset's held-out side."""
    problems = load(dataset)
    if eval_dataset:
        return tuple(problems), tuple(load(eval_dataset))
    train, test = split(problems, 'train'), split(problems, 'test')
    for side, ps in (('train', train), ('test', test)):
        if not ps:
            raise DataError(f'dataset {dataset} has no {side}-side problem of the held-out split ('
                            f'{len(problems)} problems): pass --eval_dataset=<file> to evaluate on')
    return tuple(train), tuple(test)


def math_slot(cfg, script):
    """The family of cfg's dataset, checked to stand in for math in a script that also evaluates the
    toy world's countdown (train_r1.py, distill.py): GSM8K or MATH, not Countdown."""
    if not getattr(cfg, 'dataset', '') and not getattr(cfg, 'eval_dataset', ''):
        return 'math'
    fams = {p.family for p in problems(cfg, 'test', 10 ** 9)}
    if 'countdown' in fams:
        raise DataError(f"{script}: a Countdown file would be pooled with the toy world's "
                        'countdown; give it to train_zero.py, and GSM8K or MATH here')
    if len(fams) > 1:
        raise DataError(f'{script}: the dataset mixes formats ({sorted(fams)}); use one')
    return fams.pop()


def problems(cfg, side, n, rng=None, family='math'):
    """The one way every script gets its problems. A cfg.dataset file replaces the toy world's math
    (`side`='train': n drawn with rng; 'test': the evaluation set's first n); the rest is the toy
    world's at cfg.preset's difficulty."""
    dataset, eval_dataset = getattr(cfg, 'dataset', ''), getattr(cfg, 'eval_dataset', '')
    if family == 'math' and side == 'test' and eval_dataset and not dataset:  # an eval file alone
        return list(load(eval_dataset)[:n])
    if family == 'math' and side == 'train' and eval_dataset and not dataset:
        raise DataError(f'--eval_dataset={eval_dataset} without --dataset: the training prompts '
                        "would be the toy world's; pass --dataset too")
    if not dataset or family != 'math':
        if side == 'test':
            return tasks.eval_set(family, n, preset=cfg.preset)
        return [tasks.draw_problem(family, rng, 'train', cfg.preset) for _ in range(n)]
    train, test = run_problems(dataset, eval_dataset)
    return list(test[:n]) if side == 'test' else [rng.choice(train) for _ in range(n)]


def rendered(problems):
    """(prompt, problem) pairs in the R1-Zero template: what grpo.train's draw_prompts returns."""
    return [(tasks.render_prompt(p), p) for p in problems]


def reasoning_mix(family, n):
    """(family, count) pairs of n reasoning prompts: the family and math half each, as R1 ran
    reasoning RL on all its reasoning data (2.3.2); math alone when the family is math."""
    half = n // 2 if family != 'math' else 0
    return [(family, half), ('math', n - half)] if half else [('math', n)]
