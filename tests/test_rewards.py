"""Rule-based rewards without the sandbox: the response grammar, format, math and countdown
accuracy, language consistency, reflection markers and the stage weights. Each malformed
case below holds the correct answer somewhere, so a parser that looks past the grammar
would pay for it.

Run: .venv/bin/pytest tests/test_rewards.py
"""
import random
import time

import pytest

import rewards
import tasks
from rewards import EOT, accuracy_reward, format_reward, parse_response
from tasks import Problem


def math_problem(gold='42', lang='en'):
    return Problem('m1', 'math', lang, 2, 'Compute 40 + 2', gold)


def countdown(target, numbers):
    return Problem('c1', 'countdown', 'en', len(numbers), 'make it', str(target),
                   numbers=tuple(numbers))


def wrap(answer, think='40 + 2 = 42'):
    return f'<think>{think}</think><answer>{answer}</answer>'


# ----------------------------------------------------------------------------- grammar

def test_well_formed_response_parses_into_think_and_answer():
    p = parse_response(' \n<think> 40 + 2 = 42 </think>\n<answer> 42 </answer>\n' + EOT + '\n')
    assert p == rewards.Parsed(' 40 + 2 = 42 ', ' 42 ', True, '')


MALFORMED = {  # every one holds "42", the right answer, somewhere
    'answer only inside think': '<think>so <answer>42</answer></think>',
    'think never closed': '<think>40 + 2 <answer>42</answer>',
    'two answer blocks': '<think>x</think><answer>41</answer><answer>42</answer>',
    'answer repeated inside think': '<think><answer>42</answer></think><answer>42</answer>',
    'nested think': '<think>a<think>b</think></think><answer>42</answer>',
    'text after answer': '<think>x</think><answer>41</answer> no wait, 42',
    'text before think': 'Sure! <think>x</think><answer>42</answer>',
    'text between blocks': '<think>x</think> so <answer>42</answer>',
    'answer before think': '<answer>42</answer><think>x</think>',
    'answer never closed': '<think>x</think><answer>42',
    'no think block': '<answer>42</answer>',
    'no tags': 'The answer is 42',
    'end token inside': f'<think>x{EOT}</think><answer>42</answer>',
    'two end tokens': f'<think>x</think><answer>42</answer>{EOT}{EOT}',
    'text after end token': f'<think>x</think><answer>42</answer>{EOT} 42',
    'upper-case tags': '<THINK>x</THINK><ANSWER>42</ANSWER>',
    'zero-width space in a tag': '<think>x</think><ans\u200bwer>42</answer>',
    'empty': '',
    'whitespace only': ' \n\t ',
}


@pytest.mark.parametrize('name', sorted(MALFORMED))
def test_malformed_responses_earn_nothing(name):
    response = MALFORMED[name]
    parsed = parse_response(response)
    assert not parsed.well_formed and parsed.answer is None and parsed.reason
    assert format_reward(response) == 0.0
    assert accuracy_reward(response, math_problem()) == 0.0


def test_format_needs_the_end_token():
    response = wrap('42')
    assert format_reward(response, ended=True) == 1.0
    assert format_reward(response, ended=False) == 0.0           # cut off at the length limit
    assert format_reward(response + EOT, ended=False) == 1.0      # the end token is in the text
    assert accuracy_reward(response, math_problem()) == 1.0       # accuracy does not need it


def test_reasoning_of_malformed_responses():
    assert parse_response('<think>abc').think == 'abc'
    assert parse_response('<think>abc<answer>1</answer>').think == 'abc'
    assert parse_response('before <answer>1</answer>').think == 'before '
    assert parse_response('no tags at all').think == 'no tags at all'


def test_non_string_responses_are_a_caller_bug():
    for bad in (None, b'<think>', 42, ['<think>']):
        with pytest.raises(TypeError):
            parse_response(bad)
        with pytest.raises(TypeError):
            accuracy_reward(bad, math_problem())


# ----------------------------------------------------------------------------- math

ACCEPTED = [('42', 42), (' 42\n', 42), ('+42', 42), ('42.0', 42), ('42.00', 42), ('0042', 42),
            ('1,234', 1234), ('-7', -7), ('-1,234,567', -1234567), ('1,234.0', 1234), ('-0', 0)]
REJECTED = ['42 apples', 'x = 42', '3 or 4', '3, 4', '4 2', '42.5', '42.', '.5', '12,34', '1,23,4',
            ',123', '1_000', '0x2a', '1e1', '４２', '٤٢', '4\u200b2', '\\boxed{42}', '42!',
            '--42', '', ' ', '42\n43', '9' * 65]


@pytest.mark.parametrize('text,value', ACCEPTED)
def test_parse_int_accepts_one_plain_integer(text, value):
    assert rewards.parse_int(text) == value
    assert accuracy_reward(wrap(text), math_problem(str(value))) == 1.0


@pytest.mark.parametrize('text', REJECTED)
def test_parse_int_rejects_anything_else(text):
    assert rewards.parse_int(text) is None


def test_math_accuracy_compares_with_the_gold_integer():
    assert accuracy_reward(wrap('41'), math_problem()) == 0.0
    assert accuracy_reward(wrap('42 apples'), math_problem()) == 0.0
    # empty answer
    assert accuracy_reward(wrap('', think='the answer is 42'), math_problem()) == 0.0
    assert accuracy_reward(wrap('-5'), math_problem('-5')) == 1.0


def test_malformed_problems_raise_naming_the_problem():
    with pytest.raises(ValueError, match='m1.*not an integer'):
        accuracy_reward(wrap('42'), math_problem('forty-two'))
    with pytest.raises(ValueError, match='family'):
        accuracy_reward(wrap('42'), Problem('p9', 'poetry', 'en', 1, 'x', '1'))
    with pytest.raises(ValueError, match='numbers'):
        accuracy_reward(wrap('1'), countdown(1, ()))
    with pytest.raises(ValueError, match='entry'):
        accuracy_reward(wrap('1'), Problem('k', 'code', 'en', 1, 'x', '', entry='',
                                           tests=(((1,), 1),)))


def test_code_answers_as_the_template_spaces_them_pass():
    """The template writes '<answer> def f(x): ... </answer>': the space after the tag must not
    reach Python as an indent (it did once, and every code answer failed)."""
    rng = random.Random(0)
    for _ in range(5):
        p = tasks.draw_problem('code', rng)
        assert accuracy_reward(f' <think> ok </think> <answer> {p.answer} </answer>', p) == 1.0
        assert accuracy_reward(f'<think>ok</think><answer>\n    {p.answer}\n</answer>', p) == 1.0
        assert accuracy_reward(f' <think> ok </think> <answer> {p.answer} + 1 </answer>', p) == 0.0


def test_chat_is_not_scored_by_rules():
    chat = Problem('h1', 'chat', 'en', 1, 'Say hi to Ann', rubric=(('name', 'Ann'),))
    assert accuracy_reward(wrap('Hi Ann!'), chat) == 0.0


# ----------------------------------------------------------------------------- countdown

CD = countdown(31, (2, 3, 5, 7))


@pytest.mark.parametrize('expr,reward', [
    ('7*3+5*2', 1.0),
    (' (7 * 3) + (5 * 2) ', 1.0),
    ('2*(5*3+7)-13', 0.0),         # 13 is not given
    ('7*3+5+5', 0.0),               # 5 twice, 2 unused (value 31)
    ('7*3+5*2+0', 0.0),             # 0 is not given
    ('7*3+5*2=31', 0.0),            # nothing but the expression
    ('-2+3*7+5*2+2', 0.0),          # no unary minus
    ('7*3+5**2', 0.0),              # no power
    ('7×3+5×2', 0.0),               # ASCII operators only
    ('７*3+5*2', 0.0),              # ASCII digits only
    ('٧*3+5*2', 0.0),
    ('__import__("os").getcwd()', 0.0),
    ('7*3+5*2)', 0.0),
    ('(7*3+5*2', 0.0),
    ('', 0.0),
])
def test_countdown_expressions(expr, reward):
    assert accuracy_reward(wrap(expr), CD) == reward


def test_countdown_uses_exact_fractions_and_survives_division_by_zero():
    assert accuracy_reward(wrap('8/(3-8/3)'), countdown(24, (8, 3, 8, 3))) == 1.0
    assert accuracy_reward(wrap('2/(5-5)+3'), countdown(3, (2, 5, 5, 3))) == 0.0
    assert rewards.eval_countdown('1/3+1/3+1/3') == (1, [1, 3, 1, 3, 1, 3])


def test_countdown_caps_depth_and_length():
    deep = '(' * 16 + '7' + ')' * 16
    assert rewards.eval_countdown(deep) == (7, [7])
    assert rewards.eval_countdown('(' + deep + ')') is None         # 17 levels
    assert rewards.eval_countdown('(' * 5000 + '7' + ')' * 5000) is None
    assert rewards.eval_countdown('+'.join(['1'] * 101)) is None     # over 200 characters


# ----------------------------------------------------------------------------- language

@pytest.mark.parametrize('think,en,zh', [
    ('add three and four', 1.0, 0.0),
    ('三加四等于七', 0.0, 1.0),
    ('三 plus 四', 1 / 3, 2 / 3),          # a Han character is a word, so is a Latin run
    ('3 + 4 = 7. ok', 1.0, 0.0),           # digits and symbols are not words
    ('3 + 4 = 7。', 1.0, 1.0),             # no words at all: nothing mixed
    ('привет and 你', 1 / 3, 1 / 3),        # other scripts count against both
    ('café au lait', 1.0, 0.0),
    ('所以 x > 4', 0.0, 1.0),              # a lone x is the unknown, not an English word
    ('所以 I 4', 1 / 3, 2 / 3),            # other lone letters are words
    ('so x > 4', 1.0, 0.0),
    ('所以 so x > 4', 1 / 3, 2 / 3),
])
def test_language_consistency_is_the_share_of_target_words(think, en, zh):
    response = wrap('7', think=think)
    assert rewards.language_consistency_reward(response, 'en') == pytest.approx(en)
    assert rewards.language_consistency_reward(response, 'zh') == pytest.approx(zh)
    assert rewards.is_mixed(response, 'en') == (en < 1.0)


def test_language_reads_only_the_reasoning_and_ignores_tags():
    response = f'<think>三加四</think><answer>seven words in English here</answer>{EOT}'
    assert rewards.language_consistency_reward(response, 'zh') == 1.0
    # no think block: the text before the answer counts, and the tags do not
    assert rewards.language_consistency_reward('hello 你 <answer>x</answer>', 'en') == 0.5
    with pytest.raises(ValueError, match='lang'):
        rewards.language_consistency_reward(response, 'fr')


# ----------------------------------------------------------------------------- reflection

@pytest.mark.parametrize('text', [
    'wait, 7 * 8 is 56, not 54', 'Wait. 3 + 4 = 7', 'check: 11 - 3 = 8', 'CHECK:8',
    'let me  verify', 'Let me re-check that', 'I should double-check', 'recheck',
    '检查：3 + 4 = 7', '等等，7 乘 8 是 56', '再算一遍', '用验算', '(wait)'])
def test_reflection_markers_are_found(text):
    assert rewards.has_reflection(text)


@pytest.mark.parametrize('text', [
    'waiting for the bus', 'await it', 'checkout', 'checking', 'recheckable', 'check 3', 'verify',
    '检', '等', '', 'three plus four is seven'])
def test_reflection_markers_need_a_whole_marker(text):
    assert not rewards.has_reflection(text)


# ----------------------------------------------------------------------------- combined

def test_score_combines_components_with_the_stage_weights():
    good, mixed = wrap('42', think='forty two'), wrap('42', think='forty 二')
    rows = rewards.score([good, mixed, good, '42'], [math_problem()] * 4, stage='reasoning',
                         ended=[True, True, False, True])
    assert rows[0] == {'accuracy': 1.0, 'format': 1.0, 'language': 1.0, 'reward': 2.1,
                       'reflection': 0.0}
    assert rows[1] == {'accuracy': 1.0, 'format': 1.0, 'language': 0.5, 'reward': 1.6,
                       'reflection': 0.0}
    assert rows[2]['reward'] == pytest.approx(2.0)  # truncated: no format term
    assert rows[3] == {'accuracy': 0.0, 'format': 0.0, 'language': 1.0, 'reward': 1.0,
                       'reflection': 0.0}
    checked = wrap('42', think='forty two. wait, check: 40 + 2 = 42')
    # logged, not rewarded
    assert rewards.score([checked], [math_problem()])[0]['reflection'] == 1.0
    assert rewards.score([checked], [math_problem()])[0]['reward'] == pytest.approx(1.1)
    zero = rewards.score([good, mixed], [math_problem()] * 2, stage='zero')
    assert [r['reward'] for r in zero] == [pytest.approx(1.1)] * 2  # no language term in R1-Zero


def test_score_refuses_bad_arguments():
    with pytest.raises(ValueError, match='stage'):
        rewards.score([wrap('1')], [math_problem()], stage='sft')
    with pytest.raises(ValueError, match='2 responses, 1 problems'):
        rewards.score([wrap('1')] * 2, [math_problem()])
    with pytest.raises(TypeError):
        rewards.score([None], [math_problem()])


def test_huge_response_is_scored_quickly():
    think = ('40 + 2 = 42, wait, check: 42 - 2 = 40. ' * 30000)[:1_000_000]
    t = time.perf_counter()
    assert accuracy_reward(wrap('42', think=think), math_problem()) == 1.0
    assert rewards.score([wrap('42', think=think)], [math_problem()],
                         'reasoning')[0]['reward'] == 2.1
    assert accuracy_reward(wrap('4' * 1_000_000), math_problem()) == 0.0
    assert accuracy_reward('<think>' * 150_000, math_problem()) == 0.0
    assert accuracy_reward(wrap('(' * 500_000 + '7'), CD) == 0.0
    assert time.perf_counter() - t < 30  # a hang guard only: takes about a second


def test_broken_surrogates_and_zero_width_characters():
    assert accuracy_reward(wrap('42', think='\ud800\udfff\u200b'), math_problem()) == 1.0
    assert accuracy_reward(wrap('\ud80042'), math_problem()) == 0.0
    assert accuracy_reward(wrap('42\u200b'), math_problem()) == 0.0
    assert accuracy_reward(wrap('\ufeff42'), math_problem()) == 0.0
    assert rewards.language_consistency_reward(wrap('1', think='\ud800 a 中'), 'en') == 0.5
