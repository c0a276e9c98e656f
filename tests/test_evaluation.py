"""evaluation.py: the paper's metrics (judge, pass@1, pass@k, maj@k) on hand-made samples.

Run: .venv/bin/python -m pytest tests/test_evaluation.py
"""
import pytest

import evaluation
from tasks import Problem

P = Problem('p1', 'math', 'en', 2, 'Compute 2 + 3', '5', expr='2+3')
ZH = Problem('p2', 'math', 'zh', 2, '计算 2 + 3', '5', expr='2+3')


def resp(think, answer):
    return f'<think> {think} </think> <answer> {answer} </answer>'


def test_judge_reads_one_response():
    j = evaluation.judge(resp('First, 2 + 3 = 5. check: 5 - 3 = 2, ok.', '5'), True, P)
    assert j == {'correct': 1.0, 'answer': '5', 'format': 1.0, 'lang': 1.0, 'mixed': 0.0,
                 'reflect': 1.0, 'direct': 0.0, 'misread': 0.0, 'slip': 0.0, 'cut': 0.0,
                 'checks': {'due': 0, 'caught': 0, 'clean': 1, 'false': 0}}
    # malformed: nothing counts
    j = evaluation.judge('<think> The answer is 6. </think> 5', False, P)
    assert (j['correct'] == 0.0 and j['answer'] is None and j['format'] == 0.0
            and j['direct'] == 1.0)
    j = evaluation.judge(resp('首先， 2 + 3 = 5。 So the answer is 5.', '5'), True, ZH)
    assert j['mixed'] == 1.0 and 0 < j['lang'] < 1


def test_pass_at_1_pass_at_k_and_majority_on_hand_made_samples():
    right, wrong4, wrong6 = (resp('2 + 3 = 5.', '5'), resp('2 + 3 = 4.', '4'),
                             resp('2 + 3 = 6.', '6'))
    samples = [
        [right, wrong4, wrong4, wrong6],   # 1 of 4 right, majority (4) wrong
        [right, right, wrong4, '5'],       # 2 of 4 right (bare '5' is malformed), majority right
        [wrong6, wrong6, wrong4, wrong4],  # none right; tie between 6 and 4 goes to the first seen
    ]
    judged = [[evaluation.judge(t, True, P) for t in rows] for rows in samples]
    lens = [[10, 20, 30, 40]] * 3
    m = evaluation.summarize(judged, lens)
    assert m['pass@1'] == pytest.approx(3 / 12)
    assert m['pass@k'] == pytest.approx(2 / 3)
    assert m['maj@k'] == pytest.approx(1 / 3)
    assert m['format'] == pytest.approx(11 / 12)
    assert m['mean_len'] == pytest.approx(25.0)
    assert m['reflection_rate'] == 0.0 and m['direct_rate'] == pytest.approx(1 / 12)
    assert m['acc_reflective'] is None and m['acc_direct'] == 0.0
    assert m['acc_stepwise'] == pytest.approx(3 / 11)
    checked = evaluation.judge(resp('2 + 3 = 5. check: 5 - 3 = 2, ok.', '5'), True, P)
    assert evaluation.summarize([[checked]], [[9]])['acc_reflective'] == 1.0


def test_majority_ignores_malformed_answers_and_handles_none():
    assert evaluation.majority_correct([evaluation.judge('junk', True, P)] * 3) == 0.0
    js = [evaluation.judge(resp('x', '5'), True, P),
          evaluation.judge('<answer> 4 </answer>', True, P),
          evaluation.judge('<answer> 4 </answer>', True, P)]
    assert evaluation.majority_correct(js) == 1.0  # the malformed 4s do not vote