"""Rewards: rule-based accuracy and format (R1 2.2.2), language consistency (R1 2.3.2) and
reflection markers. Code answers are run against hidden tests by sandbox.py.

    from rewards import score, parse_response, has_reflection
    rows = score(responses, problems, stage='zero', ended=ended)   # one dict per response
    rows[0]  # {'accuracy': 1.0, 'format': 1.0, 'language': 1.0, 'reward': 1.1, 'reflection': 0.0}

A response is the decoded model output after "Assistant:". The grammar (docs/design.md, Contracts):
optional whitespace, exactly one <think>...</think>, optional whitespace, exactly one
<answer>...</answer>, then nothing but whitespace and at most one end token. No tag and no
end token may appear anywhere else. parse_response is the one parser the project uses.

Rules, chosen to be hard to game:
- accuracy counts only the single answer block of a WELL-FORMED response, so nothing
  outside the grammar can earn reward: not an answer inside <think>, not the second of two
  answer blocks, not text after </answer>.
- math and findx: the answer block must be one integer and nothing else (see parse_int).
- countdown: an expression of + - * / and parentheses over the given numbers, each used
  exactly once (as TinyZero's Countdown reward does; an unused number makes the puzzle
  easier), equal to the target in exact rational arithmetic (fractions allowed on the
  way). Parsed by countdown.py's own recursive-descent parser, never eval.
- code: all-or-nothing. The code must pass every hidden test; a share-passed reward
  would pay for special-casing the easy tests (the paper runs the tests, R1 2.2.2).
- latex (MATH, from data.py): the answer block, and only it, is compared with the gold by
  math-verify (LaTeX-aware: \\frac{1}{2} equals 0.5). A block that is not already math
  ($...$ or \\boxed{}) is read as one LaTeX expression, so "1, 2, 3" is a set and does not
  match 2. Longer than _LATEX_MAX_CHARS scores 0 unread; parsing and comparison each
  stop after _LATEX_TIMEOUT_S seconds (math-verify's own alarm: the main thread only).
- chat: 0.0 here; chat is scored by the reward model (R1 2.3.4), not by rules.
format_reward (the whole grammar plus the end token), language_consistency_reward (R1 2.3.2) and
has_reflection (for evaluation) are documented where defined; STAGE_WEIGHTS combines the terms
per stage and score() applies them. rewards.run_code is sandbox.py's run_code, imported.

Responses are untrusted: for any str every reward returns a value in its range and never
raises or hangs. A response that is not a str raises TypeError: it is a caller bug (token
ids, None), and scoring it 0 would make a broken pipeline look like a model that cannot
learn. Problems are our own data: a malformed one raises ValueError naming its id.

Run the tests: .venv/bin/pytest tests/test_rewards.py tests/test_rewards_fuzz.py tests/test_sandbox.py
"""
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
    # For malformed responses too, so that evaluation can measure language and
    # reflection on them: from the first <think> to </think> (or to <answer>, or the end,
    # when never closed); with no <think>, everything before the first <answer>.
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
    """Parsed(think, answer, well_formed, reason) of a response (the text after
    "Assistant:", with or without the end token). The answer is set only when the whole
    response follows the grammar, so no reward can read an answer from outside it."""
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
    """1.0 iff the response is wholly well-formed and generation stopped on the end token
    (`ended`, known to the sampler; a textual end token at the end counts too); docs/design.md, GRPO."""
    return _format(parse_response(response), response, ended)


def _format(parsed, response, ended):
    return 1.0 if parsed.well_formed and (ended or response.rstrip().endswith(EOT)) else 0.0


# ----------------------------------------------------------------------------- math

# One integer, ASCII digits only, optional sign, optional correctly grouped thousands
# separators, optional ".0" tail. Not accepted: words or units ("42 apples", "x = 42"),
# several candidates ("3 or 4"), full-width digits (our corpus writes ASCII, and one
# canonical form is harder to game), zero-width characters, "\boxed{}".
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
    text = text.replace('\\$', '')  # an escaped dollar is a currency sign (MATH writes \$18.90), not math mode
    return text if '$' in text or '\\boxed' in text else f'${text}$'


def latex_accuracy(answer, gold):
    """1.0 if math-verify finds the answer block equal to the gold answer, else 0.0."""
    answer = answer.strip()
    if not answer or len(answer) > _LATEX_MAX_CHARS:
        return 0.0
    from math_verify import parse, verify  # imported here: sympy costs a second at start-up
    try:
        ok = verify(parse(_as_math(gold), parsing_timeout=_LATEX_TIMEOUT_S),
                    parse(_as_math(answer), parsing_timeout=_LATEX_TIMEOUT_S), timeout_seconds=_LATEX_TIMEOUT_S)
    except Exception:  # math-verify reports failures as False, but untrusted text must never raise
        return 0.0
    return 1.0 if ok else 0.0


# ----------------------------------------------------------------------------- code

def code_of(answer):
    """The code inside an answer block: the body of one ``` fence, else the text itself,
    dedented and stripped (the template puts a space after <answer>, which Python would
    read as an indent)."""
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
    elif problem.family in ('math', 'countdown', 'findx') and not re.fullmatch(r'-?[0-9]{1,18}', problem.answer):
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
    return 1.0 if run_code(code_of(parsed.answer), problem.tests, problem.entry).status == 'passed' else 0.0


def chat_score(response, problem):
    """The hidden rubric's score of a chat response (0 unless well-formed): the gold metric
    for open-ended prompts, which evaluation reports and the reward model learns from pairs.
    Never an RL reward: RL sees only the reward model (R1 2.3.4)."""
    _check_problem(problem)
    parsed = parse_response(response)
    return tasks.chat_rubric(problem, parsed.answer) if parsed.well_formed else 0.0


# ----------------------------------------------------------------------------- language


def language_consistency_reward(response, lang):
    """Share of the reasoning's words in `lang` (R1 2.3.2: target-language words / all
    words in the CoT). The reasoning is Parsed.think. No words at all gives 1.0: nothing
    is mixed (and the accuracy reward, not this one, decides whether reasoning helps)."""
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
    """True if some run of n words occurs more than max_repeats times: the loops a policy
    falls into ("and so on and so on ...") that rejection sampling drops (R1 2.3.3). Words
    as the language measure counts them (a Han character is a word), numbers included."""
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
    """True if `text` has a reflection marker. Evaluation passes the reasoning,
    parse_response(response).think, so a marker in the answer does not count."""
    _need_str(text, 'text')
    return _REFLECTION.search(text) is not None


def reflects(response):
    """1.0 when the response's reasoning has a reflection marker (the RL loop's reflection rate)."""
    return float(has_reflection(parse_response(response).think or ''))


# ----------------------------------------------------------------------------- combined

# The one place rewards are combined; the weights are data. Accuracy already requires a
# well-formed response. The format term is small, and GRPO normalises rewards inside each
# group: where no sample is correct, any format difference becomes a full-size advantage,
# and a loose format bonus then teaches tags and nothing else (docs/design.md, GRPO). Ours is strict
# (the whole grammar plus the end token). Set it to 0 to reward only a correct answer in
# a well-formed response, as the first probes of this world did. The reasoning stage sums accuracy and
# language consistency with equal weight, as R1 2.3.2 does. Chat prompts get their reward
# from the reward model (R1 2.3.4), added by a later stage.
STAGE_WEIGHTS = {
    'zero': {'accuracy': 1.0, 'format': 0.1, 'language': 0.0},
    'reasoning': {'accuracy': 1.0, 'format': 0.1, 'language': 1.0},
}


def score(responses, problems, stage='zero', ended=True, weights=None):
    """One dict per response: 'reward' (the weighted sum), each component and
    'reflection' (1.0 when the reasoning re-checks itself), for the RL loop to log. `ended` is one bool for all, or one per response. `weights` overrides
    entries of STAGE_WEIGHTS[stage] (an ablation: {'language': 0.0}). Code responses run in
    one batch, sandbox.CODE_WORKERS sandboxes at a time."""
    if stage not in STAGE_WEIGHTS:
        raise ValueError(f'stage must be one of {sorted(STAGE_WEIGHTS)}, got {stage!r}')
    unknown = set(weights or {}) - set(STAGE_WEIGHTS[stage])
    if unknown:
        raise ValueError(f'unknown reward weights {sorted(unknown)}; expected some of {sorted(STAGE_WEIGHTS[stage])}')
    responses, problems = list(responses), list(problems)
    ended = list(ended) if hasattr(ended, '__len__') else [ended] * len(responses)
    if not len(responses) == len(problems) == len(ended):
        raise ValueError(f'{len(responses)} responses, {len(problems)} problems, {len(ended)} ended flags')
    for problem in problems:
        _check_problem(problem)
    parsed = [parse_response(r) for r in responses]
    accuracy = [0.0 if p.family == 'code' else _accuracy(pr, p) for pr, p in zip(parsed, problems)]
    runs = [i for i, (pr, p) in enumerate(zip(parsed, problems)) if p.family == 'code' and pr.well_formed]
    results = run_code_batch([(code_of(parsed[i].answer), problems[i].tests, problems[i].entry)
                              for i in runs])
    for i, result in zip(runs, results):
        accuracy[i] = 1.0 if result.status == 'passed' else 0.0
    weights, rows = {**STAGE_WEIGHTS[stage], **(weights or {})}, []
    for r, pr, p, e, acc in zip(responses, parsed, problems, ended, accuracy):
        row = {'accuracy': acc, 'format': _format(pr, r, e), 'language': _language(pr, p.lang)}
        row['reward'] = sum(weights[k] * row[k] for k in weights)
        row['reflection'] = float(has_reflection(pr.think or ''))  # logged, never rewarded (Table 3)
        rows.append(row)
    return rows
