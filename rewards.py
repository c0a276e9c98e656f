"""Rewards: rule-based accuracy and format (R1 2.2.2), language consistency (R1 2.3.2) and
reflection markers. Code answers are run against hidden tests by sandbox.py.

    from rewards import score, parse_response, has_reflection
    rows = score(responses, problems, stage='zero', ended=ended)   # one dict per response
    rows[0]  # {'accuracy': 1.0, 'format': 1.0, 'language': 1.0, 'reward': 1.1, 'reflection': 0.0}

A response is the decoded model output after "Assistant:". The grammar (docs/design.md, Contracts):
optional whitespace, exactly one <think>...</think>, optional whitespace, exactly one
<answer>...</answer>, then only whitespace and at most one end token; no tag or end token elsewhere.
parse_response is the one parser the project uses.

Rules, chosen to be hard to game:
- accuracy reads only the single answer block of a WELL-FORMED response: nothing outside the
  grammar earns reward (an answer in <think>, a second answer block, text after </answer>).
- math and findx: the answer block must be one integer and nothing else (see parse_int).
- countdown: + - * / and parentheses over the given numbers, each used exactly once (as TinyZero's
  Countdown reward does; an unused number makes the puzzle easier), equal to the target in exact
  rational arithmetic (fractions allowed on the way); countdown.py parses it, never eval.
- code: all-or-nothing. The code must pass every hidden test; a share-passed reward would pay for
  special-casing the easy tests (the paper runs the tests, R1 2.2.2).
- latex (MATH, from data.py): math-verify compares the answer block, and only it, with the gold
  (LaTeX-aware: \\frac{1}{2} equals 0.5). A block not already math ($...$ or \\boxed{}) is one
  LaTeX expression, so "1, 2, 3" is a set and does not match 2. Over _LATEX_MAX_CHARS scores 0
  unread; parsing and comparing each stop after _LATEX_TIMEOUT_S (math-verify's alarm: main thread).
- chat: 0.0 here; chat is scored by the reward model (R1 2.3.4), not by rules.
format_reward, language_consistency_reward and has_reflection are documented where defined;
STAGE_WEIGHTS combines the terms per stage, score() applies them; run_code is sandbox.py's.

Responses are untrusted: for any str every reward returns a value in its range and never raises or
hangs. A non-str response raises TypeError: a caller bug (token ids, None) that scoring 0 would
make look like a model that cannot learn. Problems are our own data: a malformed one raises
ValueError naming its id.

Tests: .venv/bin/pytest tests/test_rewards.py tests/test_rewards_fuzz.py tests/test_sandbox.py"""
import re
import textwrap
from collections import Counter
from typing import NamedTuple, Optional

import regex

from countdown import eval_countdown
from language import LANGS, word_share
from sandbox import check_tests, run_code, run_code_batch
import tasks
from tasks import Problem

EOT = '<|endoftext|>'
TAGS = ('<think>', '</think>', '<answer>', '</answer>')


def _need_str(x, what='response'):
    if not isinstance(x, str):
        raise TypeError(f'{what} must be a str, got {type(x).__name__}')


# ----------------------------------------------------------------------------- parsing

class Parsed(NamedTuple):
    think: str             # the reasoning: the think block, or the best guess when malformed
    answer: Optional[str]  # the answer block's content; None unless well_formed
    well_formed: bool
    reason: str            # why not well formed ('' when it is)


def _reasoning(text):
    # Also for malformed responses (evaluation measures their language and reflection): from the
    # first <think> to </think>, else <answer>, else the end; with no <think>, all before <answer>.
    start = text.find('<think>')
    if start >= 0:
        start += len('<think>')
        end = text.find('</think>', start)
        if end < 0:
            end = text.find('<answer>', start)
    else:
        start, end = 0, text.find('<answer>')
    return text[start:] if end < 0 else text[start:end]


def parse_response(response):
    """Parsed(think, answer, well_formed, reason) of a response (the text after "Assistant:", end
    token or not). The answer is set only when the whole response follows the grammar."""
    _need_str(response)
    think = _reasoning(response)

    def bad(reason):
        return Parsed(think, None, False, reason)
    body = response.strip()
    if body.endswith(EOT):
        body = body[:-len(EOT)].rstrip()
    if EOT in body:
        return bad('end token before the end')
    for tag in TAGS:
        n = body.count(tag)
        if n != 1:
            return bad(f'{n} x {tag}, need exactly one')
    if not body.startswith('<think>'):
        return bad('text before <think>')
    close_think, open_answer, close_answer = map(body.index, TAGS[1:])
    if not close_think < open_answer < close_answer:
        return bad('tags out of order')
    if body[close_think + len('</think>'):open_answer].strip():
        return bad('text between </think> and <answer>')
    if close_answer + len('</answer>') != len(body):
        return bad('text after </answer>')
    return Parsed(think, body[open_answer + len('<answer>'):close_answer], True, '')


def format_reward(response, ended=True):
    """1.0 iff the response is wholly well-formed and generation stopped on the end token (`ended`,
    known to the sampler; a textual end token at the end counts too); docs/design.md, GRPO."""
    return _format(parse_response(response), response, ended)


def _format(parsed, response, ended):
    return 1.0 if parsed.well_formed and (ended or response.rstrip().endswith(EOT)) else 0.0


# ----------------------------------------------------------------------------- math

# One integer: ASCII digits with optional sign, correctly grouped thousands separators and ".0"
# tail. Not words or units ("42 apples", "x = 42"), several candidates ("3 or 4"), full-width digits
# (the corpus writes ASCII; one canonical form is harder to game), zero-width chars, "\boxed{}".
_INT = re.compile(r'[+-]?(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.0+)?')
_INT_MAX_CHARS = 64  # longer is never one of our answers; also keeps int() cheap


def parse_int(text):
    """The integer an answer block states, or None if it is not exactly one integer."""
    text = text.strip()
    if len(text) > _INT_MAX_CHARS or not _INT.fullmatch(text):
        return None
    return int(text.split('.')[0].replace(',', ''))


# ----------------------------------------------------------------------------- latex (MATH)

_LATEX_MAX_CHARS = 300  # MATH-500's longest gold answer is far shorter
_LATEX_TIMEOUT_S = 1    # sympy can take minutes on a tower of powers a model might write


def _as_math(text):
    text = text.replace('\\$', '')  # \$ is a currency sign (MATH writes \$18.90), not math mode
    return text if '$' in text or '\\boxed' in text else f'${text}$'


def latex_accuracy(answer, gold):
    """1.0 if math-verify finds the answer block equal to the gold answer, else 0.0."""
    answer = answer.strip()
    if not answer or len(answer) > _LATEX_MAX_CHARS:
        return 0.0
    from math_verify import parse, verify  # imported here: sympy costs a second at start-up
    try:
        ok = verify(parse(_as_math(gold), parsing_timeout=_LATEX_TIMEOUT_S),
                    parse(_as_math(answer), parsing_timeout=_LATEX_TIMEOUT_S),
                    timeout_seconds=_LATEX_TIMEOUT_S)
    except Exception:  # math-verify reports failures as False, but untrusted text must never raise
        return 0.0
    return 1.0 if ok else 0.0


# ----------------------------------------------------------------------------- code

def code_of(answer):
    """The code in an answer block: the body of one ``` fence, else the text, dedented and stripped
    (the template puts a space after <answer>, which Python would read as an indent)."""
    m = re.fullmatch(r'\s*```[A-Za-z0-9_+-]*[ \t]*\n(.*?)\n?```\s*', answer, re.S)
    return m.group(1) if m and '```' not in m.group(1) else textwrap.dedent(answer).strip()


# ----------------------------------------------------------------------------- accuracy

FAMILIES = (*tasks.GENERATORS, 'latex')  # the toy world's, and MATH's LaTeX answers (data.py)


def _check_problem(problem):
    if not isinstance(problem, Problem):
        raise TypeError(f'problem must be a tasks.Problem, got {type(problem).__name__}')
    bad = None
    if problem.family not in FAMILIES:
        bad = f'unknown family {problem.family!r}'
    elif problem.lang not in LANGS:
        bad = f'unknown lang {problem.lang!r}'
    elif (problem.family in ('math', 'countdown', 'findx')
          and not re.fullmatch(r'-?[0-9]{1,18}', problem.answer)):
        bad = f'gold answer {problem.answer!r} is not an integer'
    elif problem.family == 'countdown' and not (
            problem.numbers and all(type(n) is int and n >= 0 for n in problem.numbers)):
        bad = f'numbers {problem.numbers!r} are not non-negative integers'
    elif problem.family == 'latex' and not problem.answer.strip():
        bad = 'empty gold answer'
    elif problem.family == 'code' and not problem.entry.isidentifier():
        bad = f'entry {problem.entry!r} is not a function name'
    elif problem.family == 'code' and isinstance(check_tests(problem.tests), str):
        bad = check_tests(problem.tests)
    if bad:
        raise ValueError(f'problem {problem.id}: {bad}')


def accuracy_reward(response, problem):
    """1.0 if the answer block of a well-formed response is correct, else 0.0."""
    _check_problem(problem)
    return _accuracy(parse_response(response), problem)


def _accuracy(parsed, problem):
    if problem.family == 'chat' or not parsed.well_formed:
        return 0.0
    if problem.family in ('math', 'findx'):
        return 1.0 if parse_int(parsed.answer) == int(problem.answer) else 0.0
    if problem.family == 'countdown':  # every given number used exactly once
        value, used = eval_countdown(parsed.answer) or (None, ())
        return 1.0 if value == int(problem.answer) and sorted(used) == sorted(problem.numbers) else 0.0
    if problem.family == 'latex':
        return latex_accuracy(parsed.answer, problem.answer)
    return (1.0 if run_code(code_of(parsed.answer), problem.tests, problem.entry).status == 'passed'
            else 0.0)


def chat_score(response, problem):
    """The hidden rubric's score of a chat response (0 unless well-formed): the gold metric that
    evaluation reports and the reward model learns; never an RL reward (R1 2.3.4)."""
    _check_problem(problem)
    parsed = parse_response(response)
    return tasks.chat_rubric(problem, parsed.answer) if parsed.well_formed else 0.0


# ----------------------------------------------------------------------------- language

def language_consistency_reward(response, lang):
    """Share of Parsed.think's words in `lang` (R1 2.3.2: target-language words / all words in the
    CoT); 1.0 with no words: nothing is mixed (accuracy decides whether reasoning helps)."""
    if lang not in LANGS:
        raise ValueError(f'lang must be one of {LANGS}, got {lang!r}')
    return _language(parse_response(response), lang)


def _language(parsed, lang):
    text = parsed.think
    for tag in TAGS + (EOT,):
        text = text.replace(tag, ' ')
    return word_share(text, lang)  # language.py counts the words


def is_mixed(response, lang):
    """True if any word of the reasoning is not in `lang` (eval's lang_mixed)."""
    return language_consistency_reward(response, lang) < 1.0


def is_repetitive(response, n=4, max_repeats=3):
    """True if some run of n words occurs over max_repeats times: the loops ("and so on and so on")
    rejection sampling drops (R1 2.3.3). Words as language.py counts them, plus numbers."""
    _need_str(response, 'response')
    words = _NGRAM_WORD.findall(response)
    counts = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return any(c > max_repeats for c in counts.values())


_NGRAM_WORD = regex.compile(r'\p{Han}|[\p{L}\p{N}]+', regex.V1)


# ----------------------------------------------------------------------------- reflection

# Matched case-insensitively; English markers on word boundaries ("waiting" is not
# "wait"). The corpus writes its checks as "check:" / "wait," and "检查：" / "等等，".
REFLECTION_MARKERS = ('wait', 'recheck', 're-check', 'check again', 'let me check',
                      'let me verify', 'double-check', 'double check', 'check:', 'verify:',
                      '等等', '等一下', '检查', '验算', '验证', '再算一遍')


def _marker_pattern(marker):
    body = r'\s+'.join(map(re.escape, marker.split()))
    if marker[0].isascii() and marker[0].isalpha():
        body = r'(?<![A-Za-z])' + body
    if marker[-1].isascii() and marker[-1].isalpha():
        body += r'(?![A-Za-z])'
    return body


_REFLECTION = re.compile('|'.join(map(_marker_pattern, REFLECTION_MARKERS)), re.IGNORECASE)


def has_reflection(text):
    """True if `text` has a reflection marker (evaluation passes the reasoning, not the answer)."""
    _need_str(text, 'text')
    return _REFLECTION.search(text) is not None


def reflects(response):
    """1.0 when the response's reasoning has a reflection marker (the RL loop's reflection rate)."""
    return float(has_reflection(parse_response(response).think or ''))


# ----------------------------------------------------------------------------- combined

# The one place rewards are combined; the weights are data. Accuracy already requires a well-formed
# response. The format term is small: GRPO normalises rewards inside each group, so where no sample
# is correct any format difference becomes a full-size advantage, and a loose format bonus teaches
# tags and nothing else (docs/design.md, GRPO). Ours is strict (whole grammar plus end token); at 0
# only a correct, well-formed answer pays, as in this world's first probes. The reasoning stage
# sums accuracy and language consistency equally (R1 2.3.2); chat gets reward-model scores (2.3.4).
STAGE_WEIGHTS = {
    'zero': {'accuracy': 1.0, 'format': 0.1, 'language': 0.0},
    'reasoning': {'accuracy': 1.0, 'format': 0.1, 'language': 1.0},
}


def score(responses, problems, stage='zero', ended=True, weights=None):
    """One dict per response for the RL loop: 'reward' (the weighted sum), each component and
    'reflection' (1.0 when the reasoning re-checks itself). `ended`: one bool or one per response;
    `weights` overrides STAGE_WEIGHTS[stage] entries ({'language': 0.0}); code runs in one batch."""
    if stage not in STAGE_WEIGHTS:
        raise ValueError(f'stage must be one of {sorted(STAGE_WEIGHTS)}, got {stage!r}')
    unknown = set(weights or {}) - set(STAGE_WEIGHTS[stage])
    if unknown:
        raise ValueError(f'unknown reward weights {sorted(unknown)}; '
                         f'expected some of {sorted(STAGE_WEIGHTS[stage])}')
    responses, problems = list(responses), list(problems)
    ended = list(ended) if hasattr(ended, '__len__') else [ended] * len(responses)
    if not len(responses) == len(problems) == len(ended):
        raise ValueError(f'{len(responses)} responses, {len(problems)} problems, '
                         f'{len(ended)} ended flags')
    for problem in problems:
        _check_problem(problem)
    parsed = [parse_response(r) for r in responses]
    accuracy = [0.0 if p.family == 'code' else _accuracy(pr, p) for pr, p in zip(parsed, problems)]
    runs = [i for i, (pr, p) in enumerate(zip(parsed, problems))
            if p.family == 'code' and pr.well_formed]
    results = run_code_batch([(code_of(parsed[i].answer), problems[i].tests, problems[i].entry)
                              for i in runs])
    for i, result in zip(runs, results):
        accuracy[i] = 1.0 if result.status == 'passed' else 0.0
    weights, rows = {**STAGE_WEIGHTS[stage], **(weights or {})}, []
    for r, pr, p, e, acc in zip(responses, parsed, problems, ended, accuracy):
        row = {'accuracy': acc, 'format': _format(pr, r, e), 'language': _language(pr, p.lang)}
        row['reward'] = sum(weights[k] * row[k] for k in weights)
        row['reflection'] = float(has_reflection(pr.think or ''))  # logged, not rewarded (Table 3)
        rows.append(row)
    return rows
