"""Local dataset files (data.py) and the MATH answer check behind the accuracy reward."""
import json
import random

import pytest

import data
import rewards
import tasks
from config import Config


def write(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text(''.join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + '\n'
                            for r in rows))
    return str(path)


def answer(text):
    return f'<think> working </think> <answer> {text} </answer>'


def test_gsm8k_lines_parse(tmp_path):
    path = write(tmp_path, 'gsm8k.jsonl', [
        {'question': 'Tom has 3 apples and buys 4 more. How many?',
         'answer': 'He has 3 + 4 = <<3+4=7>>7.\n#### 7'},
        {'question': 'A farm sells 1,200 eggs a day...', 'answer': 'So...\n#### 1,200'},
        {'question': '小明有 5 个苹果，吃了 8 个？', 'answer': '#### -3'}])
    ps = data.load(path)
    assert [p.answer for p in ps] == ['7', '1200', '-3'] and {p.family for p in ps} == {'math'}
    assert [p.lang for p in ps] == ['en', 'en', 'zh']
    assert rewards.accuracy_reward(answer('1,200'), ps[1]) == 1.0
    assert rewards.accuracy_reward(answer('1201'), ps[1]) == 0.0
    assert tasks.render_prompt(ps[0]).endswith('How many?. Assistant:')


def test_math_lines_parse_with_nested_braces(tmp_path):
    path = write(tmp_path, 'math.jsonl', [
        {'problem': 'Simplify $\\sqrt{1/2}$.',
         'solution': 'We get \\boxed{1}, no: $\\boxed{\\frac{1}{\\sqrt{2}}}$.',
         'level': 'Level 3', 'type': 'Algebra'},
        # MATH-500: answer wins
        {'problem': 'What is $1+1$?', 'solution': 'It is \\boxed{3}.', 'answer': '2'}])
    ps = data.load(path)
    assert [p.answer for p in ps] == ['\\frac{1}{\\sqrt{2}}', '2'] and ps[0].difficulty == 3
    assert ps[0].family == 'latex'


@pytest.mark.parametrize('text,reward', [
    ('0.5', 1.0), ('\\frac{1}{2}', 1.0), ('\\frac12', 1.0), ('$\\dfrac{2}{4}$', 1.0),
    ('\\boxed{\\frac{1}{2}}', 1.0),
    ('1/2', 1.0), ('2', 0.0), ('0.5, 2', 0.0), ('', 0.0), ('\\frac{1}{2' + '}' * 400, 0.0)])
def test_math_answer_check(text, reward):
    p = tasks.Problem(id='00ff', family='latex', lang='en', difficulty=0, prompt='q',
                      answer='\\frac{1}{2}')
    assert rewards.accuracy_reward(answer(text), p) == reward


def test_boxed_answer_outside_the_answer_block_earns_nothing():
    p = tasks.Problem(id='00ff', family='latex', lang='en', difficulty=0, prompt='q',
                      answer='\\frac{1}{\\sqrt{2}}')
    assert rewards.accuracy_reward(answer('\\frac{\\sqrt{2}}{2}'), p) == 1.0
    assert rewards.accuracy_reward('<think> so \\boxed{\\frac{1}{\\sqrt{2}}} </think> '
                                   '<answer> 3 </answer>', p) == 0.0
    # no answer block at all
    assert rewards.accuracy_reward('\\boxed{\\frac{1}{\\sqrt{2}}}', p) == 0.0
    assert rewards.accuracy_reward(answer('1') + ' <answer> \\frac{1}{\\sqrt{2}} </answer>',
                                   p) == 0.0


def test_countdown_jsonl_and_parquet(tmp_path):
    rows = [{'target': 98, 'nums': [44, 19, 35]}, {'target': 24, 'nums': [4, 6, 1, 1]}]
    ps = data.load(write(tmp_path, 'cd.jsonl', rows))
    assert ps[0].numbers == (44, 19, 35) and ps[0].answer == '98' and '44, 19, 35' in ps[0].prompt
    assert rewards.accuracy_reward(answer('44 + 19 + 35'), ps[0]) == 1.0
    assert rewards.accuracy_reward(answer('4 * 6 * 1 * 1'), ps[1]) == 1.0
    assert rewards.accuracy_reward(answer('4 * 6'), ps[1]) == 0.0  # every number once
    pa = pytest.importorskip('pyarrow')
    import pyarrow.parquet as pq
    pq.write_table(pa.Table.from_pylist(rows), str(tmp_path / 'cd.parquet'))
    assert data.load(str(tmp_path / 'cd.parquet')) == ps


@pytest.mark.parametrize('line,match', [
    ('{"question": "q", "answer": "no marker"}',
     r'bad.jsonl:2: a GSM8K answer must end with "#### <integer>"'),
    ('{"question": "q", "answer": "#### 2.5"}', r'bad.jsonl:2: a GSM8K answer'),
    ('{"problem": "p", "solution": "no box"}', r'bad.jsonl:2: no gold answer'),
    ('{"problem": "p", "solution": "\\\\boxed{1"}', r'bad.jsonl:2: no gold answer'),
    ('{"target": "98", "nums": [1, 2]}', r'bad.jsonl:2: Countdown needs'),
    ('{"text": "hello"}', r"bad.jsonl:2: fits no format .* keys are \['text'\]"),
    ('{"question": "q", "answer": "#### 1"', r'bad.jsonl:2: not valid JSON'),
    ('[1, 2]', r'bad.jsonl:2: expected a JSON object'),
])
def test_malformed_lines_name_file_and_line(tmp_path, line, match):
    path = write(tmp_path, 'bad.jsonl', [{'question': 'ok', 'answer': '#### 1'}, line])
    with pytest.raises(data.DataError, match=match):
        data.load(path)


def test_empty_or_missing_dataset(tmp_path):
    with pytest.raises(data.DataError, match='is empty'):
        data.load(write(tmp_path, 'empty.jsonl', ['']))
    with pytest.raises(data.DataError, match='not found'):
        data.load(str(tmp_path / 'nope.jsonl'))


def test_split_is_by_canonical_form(tmp_path):
    rows = [{'question': f'What is {i} plus {i}?', 'answer': f'#### {2 * i}'} for i in range(300)]
    ps = data.load(write(tmp_path, 'g.jsonl', rows))
    train, test = data.split(ps, 'train'), data.split(ps, 'test')
    assert len(train) + len(test) == 300 and 10 <= len(test) <= 60
    again = data.load(write(tmp_path, 'g2.jsonl', rows[::-1]))
    assert {p.id for p in data.split(again, 'test')} == {p.id for p in test}


def test_currency_gold_answer():
    p = tasks.Problem(id='00ff', family='latex', lang='en', difficulty=0, prompt='q',
                      answer='\\$18.90')
    assert [rewards.accuracy_reward(answer(a), p)
            for a in ('18.90', '\\$18.90', '18.9', '19')] == [1, 1, 1, 0]


def test_eval_dataset_alone_evaluates_that_file_and_cannot_train(tmp_path):
    path = write(tmp_path, 'test.jsonl', [{'question': 'What is 2 + 2?', 'answer': '#### 4'}])
    cfg = Config(dataset='', eval_dataset=path, preset='cpu')
    assert [p.answer for p in data.problems(cfg, 'test', 5)] == ['4']
    with pytest.raises(data.DataError, match='without --dataset'):
        data.problems(cfg, 'train', 2, random.Random(0))
    # toy families stay toy
    assert data.problems(cfg, 'test', 2, family='countdown')[0].family == 'countdown'


def test_unreadable_files_are_data_errors(tmp_path):
    with pytest.raises(data.DataError, match='is not a file'):
        data.load(str(tmp_path))
    (tmp_path / 'latin1.jsonl').write_bytes(b'{"question": "caf\xe9", "answer": "#### 1"}\n')
    with pytest.raises(data.DataError, match='latin1.jsonl:1: not UTF-8'):
        data.load(str(tmp_path / 'latin1.jsonl'))
    (tmp_path / 'bad.parquet').write_bytes(b'not parquet')
    pytest.importorskip('pyarrow')
    with pytest.raises(data.DataError, match='bad.parquet: not a readable parquet file'):
        data.load(str(tmp_path / 'bad.parquet'))


def test_train_r1_and_distill_refuse_a_countdown_file_in_the_math_slot(tmp_path):
    path = write(tmp_path, 'cd.jsonl', [{'target': 98, 'nums': [44, 19, 35]}])
    with pytest.raises(data.DataError, match='pooled'):
        data.math_slot(Config(dataset=path, eval_dataset=path, preset='cpu'), 'train_r1.py')
    gsm = write(tmp_path, 'g.jsonl', [{'question': 'What is 2 + 2?', 'answer': '#### 4'}])
    assert data.math_slot(Config(dataset=gsm, eval_dataset=gsm, preset='cpu'),
                          'distill.py') == 'math'
