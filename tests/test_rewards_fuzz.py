"""Fuzz: thousands of random and mutated responses through every non-code reward. Nothing
may raise, every value must be in its range, and the parser must agree with an independent
regular-expression reading of the grammar (docs/design.md, Contracts).

Run: .venv/bin/pytest tests/test_rewards_fuzz.py -s   (-s prints the measured speed)
"""
import random
import re
import time

import rewards
from rewards import EOT
from tasks import Problem

# The grammar as one regular expression: the reference the parser is compared against.
_FREE = r'(?:(?!<think>|</think>|<answer>|</answer>|' + re.escape(EOT) + r').)*'
REFERENCE = re.compile(r'\s*<think>(' + _FREE + r')</think>\s*<answer>(' + _FREE
                       + r')</answer>\s*(?:' + re.escape(EOT) + r'\s*)?', re.S)

PIECES = ['<think>', '</think>', '<answer>', '</answer>', EOT, '<think', 'answer>', '<', '>', '/',
          ' ', '\n', '\t', '\u3000', '42', '-', '+', ',', '.0', '7*3+5*2', '(', ')', 'wait, ',
          'check: ', '检查：', '等等，', '三加四', 'three plus four', 'Привет',
          '\ud800', '\udfff', '\u200b', '\ufeff', '\x00', '４２', '😀', 'é', '\u0301', '\r']
PROBLEMS = [Problem('m', 'math', 'en', 2, 'q', '42'), Problem('z', 'math', 'zh', 2, 'q', '-7'),
            Problem('c', 'countdown', 'en', 4, 'q', '31', numbers=(2, 3, 5, 7)),
            Problem('h', 'chat', 'en', 1, 'q')]
SEEDS = ['<think>40 + 2 = 42</think><answer>42</answer>',
         ' <think>三加四等于七。检查：7 - 4 = 3</think>\n<answer>-7</answer>\n' + EOT,
         '<think>trying 7*3 = 21, then 5*2</think> <answer>7*3+5*2</answer>' + EOT,
         '<think></think><answer>Hi!</answer>']


def random_text(rng):
    return ''.join(rng.choice(PIECES) if rng.random() < 0.7 else chr(rng.randrange(0x110000))
                   for _ in range(rng.randrange(30)))


def mutate(rng, text):
    for _ in range(rng.randrange(1, 4)):
        i, j = sorted(rng.randrange(len(text) + 1) for _ in range(2))
        tag = rng.choice(rewards.TAGS + (EOT,))
        op = rng.randrange(5)
        if op == 0:
            text = text[:i] + rng.choice(PIECES) + text[i:]        # insert a tag or piece
        elif op == 1:
            text = text[:i] + text[j:]                              # delete a span
        elif op == 2:
            text = text[:j] + text[i:j] + text[j:]                  # duplicate a span
        elif op == 3:
            text = text.replace(tag, '', 1) if rng.random() < 0.5 else text.replace(tag, tag * 2, 1)
        else:
            text = text[:i] + chr(rng.randrange(0x110000)) + text[i:]  # random code point
    return text


def check_one(response):
    parsed = rewards.parse_response(response)
    ref = REFERENCE.fullmatch(response)
    assert parsed.well_formed == bool(ref), (response, parsed)
    if ref:
        assert (parsed.think, parsed.answer) == ref.groups()
    else:
        assert parsed.answer is None
    for ended in (True, False):
        f = rewards.format_reward(response, ended)
        assert f in (0.0, 1.0) and (f == 0.0 or parsed.well_formed)
    for p in PROBLEMS:
        a = rewards.accuracy_reward(response, p)
        assert a in (0.0, 1.0) and (a == 0.0 or parsed.well_formed)
    for lang in rewards.LANGS:
        lc = rewards.language_consistency_reward(response, lang)
        assert 0.0 <= lc <= 1.0
        assert rewards.is_mixed(response, lang) == (lc < 1.0)
    assert rewards.has_reflection(parsed.think) in (True, False)
    rows = rewards.score([response] * len(PROBLEMS), PROBLEMS, 'reasoning', ended=False)
    assert all(0.0 <= r['reward'] <= 2.1 for r in rows)


def test_fuzz_every_non_code_reward():
    rng = random.Random(0)
    cases = [random_text(rng) for _ in range(1500)]
    cases += [mutate(rng, rng.choice(SEEDS)) for _ in range(3000)]
    cases += SEEDS
    slowest, t0 = 0.0, time.perf_counter()
    for response in cases:
        t = time.perf_counter()
        check_one(response)
        slowest = max(slowest, time.perf_counter() - t)
    total = time.perf_counter() - t0
    well = sum(bool(REFERENCE.fullmatch(r)) for r in cases)
    print(f'\nfuzz: {len(cases)} responses ({well} well-formed) through every non-code reward '
          f'in {total:.2f} s; slowest {slowest * 1e3:.1f} ms')
    assert well > 300 and len(cases) - well > 3000  # both sides of the grammar were exercised
    assert slowest < 5.0  # a hang guard, not a benchmark


def test_math_and_format_rewards_per_second():
    rng = random.Random(1)
    responses = [mutate(rng, SEEDS[0]) if i % 2 else SEEDS[0] for i in range(5000)]
    problem = PROBLEMS[0]
    t = time.perf_counter()
    total = sum(rewards.accuracy_reward(r, problem) + rewards.format_reward(r) for r in responses)
    rate = len(responses) / (time.perf_counter() - t)
    print(f'\nmath accuracy + format: {rate:,.0f} responses/s')
    assert total > 2500  # the unmutated half is all correct and well-formed
