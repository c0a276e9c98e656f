"""probes.py: the toy world's research probes (math slips and misreads, what checks say,
findx tries and false yeses, sound searches, forced openers) on hand-made and corpus traces.

Run: .venv/bin/python -m pytest tests/test_probes.py
"""
import random

import pytest
import torch

import evaluation
import probes
import tasks
import traces
from tasks import Problem
from test_evaluation import P, ZH, resp  # the same hand-made problems and response shape


def test_math_error_says_whether_a_wrong_response_misread_the_problem_or_slipped():
    q = Problem('p3', 'math', 'en', 3, 'Compute 7 + 3 - 5', '5', expr='7+3-5')
    err = probes.math_error
    assert err('First, 7 + 3 = 10. Then 10 - 5 = 5. So the answer is 5.', q) is None
    # misread, in turn: an operation, a number, the start value, a step missing
    assert err('First, 7 + 3 = 10. Then 10 + 5 = 15. So the answer is 15.', q) == 'misread'
    assert err('First, 7 + 5 = 12. Then 12 - 5 = 7.', q) == 'misread'
    assert err('First, 6 + 3 = 9. Then 9 - 5 = 4.', q) == 'misread'
    assert err('First, 7 + 3 = 10. So the answer is 10.', q) == 'misread'
    assert err('First, 7 + 3 = 11. Then 11 - 5 = 6.', q) == 'slip'
    assert err('First, 7 + 3 = 10. Then 11 - 5 = 6.', q) == 'slip'  # carried wrong
    assert err('The answer is 6.', q) is None
    fixed = 'First, 7 + 3 = 11. check: 3 + 7 = 10, not 11. wait, 7 + 3 = 10. Then 10 - 5 = 5.'
    assert err(fixed, q) is None  # the redo replaced the slipped step
    assert err(fixed.replace('10 - 5 = 5', '10 - 5 = 6'), q) == 'slip'
    # right so far, out of tokens
    assert err('First, 7 + 3 = 10. Then 10 - 5', q, ended=False) == 'cut'
    assert err('First, 7 + 3 = 10. Then 10 + 5 = 15.', q, ended=False) == 'misread'
    zh = Problem('p4', 'math', 'zh', 3, '计算 3 * 2 + 4 - 1', '9', expr='3*2+4-1')
    assert err('首先， 3 * 2 = 6。 然后 6 + 4 = 10。 然后 10 - 1 = 9。', zh) is None
    assert err('首先， 3 * 2 = 6。 然后 6 - 4 = 2。 然后 2 - 1 = 1。', zh) == 'misread'
    assert err('首先， 3 * 2 = 5。 等等， 3 * 2 = 6。 '
               '然后 6 + 4 = 10。 然后 10 - 1 = 8。', zh) == 'slip'
    assert err('首先， 3 * 2 = 5。 等等， 3 * 2 = 6。 '
               '然后 6 + 4 = 10。 然后 10 - 1 = 9。', zh) is None
    j = evaluation.judge(resp('First, 7 + 3 = 10. Then 10 + 5 = 15.', '15'), True, q)
    assert j['misread'] == 1.0 and j['slip'] == 0.0
    assert evaluation.judge(resp('First, 7 + 3 = 10. Then 10 - 5 = 5.', '5'), True,
                            q)['misread'] == 0.0
    m = evaluation.summarize(
        [[j, evaluation.judge(resp('First, 7 + 3 = 11. Then 11 - 5 = 6.', '6'), True, q)]],
        [[9, 9]])
    assert m['misread_rate'] == 0.5 and m['slip_rate'] == 0.5 and m['cut_rate'] == 0.0
    chat = Problem('c1', 'chat', 'en', 1, 'Say hi to Tom', rubric=(('name', 'Tom'),))
    assert 'slip_rate' not in evaluation.summarize([[evaluation.judge('Hi Tom', True, chat)]],
                                                   [[3]])


def test_check_verdicts_tell_a_check_that_catches_from_a_ritual():
    cv = probes.check_verdicts
    # due and flagged, then a clean check after the redo, then a false alarm on a right step
    assert cv('First, 7 + 3 = 11. check: 11 - 3 = 8, not 7. wait, 7 + 3 = 10. '
              'check: 10 - 3 = 7, ok. '
              'Then 10 - 5 = 5. check: 5 + 5 = 10, not 11. So the answer is 5.') == (1, 1, 2, 1)
    # missed
    assert cv('First, 7 + 3 = 11. check: 11 - 3 = 7, ok. Then 11 - 5 = 6.') == (1, 0, 0, 0)
    # one check at the end covers every step before it; the check's own sums are not steps
    assert cv('首先， 8 - 8 = 2。 然后 2 + 7 = 9。 所以答案是 9。 '
              '检查： 9 - 7 = 2，2 + 8 = 10，不是 8。 等等， '
              '首先， 8 - 8 = 0。 然后 0 + 7 = 7。 所以答案是 7。 '
              '检查： 7 - 7 = 0，0 + 8 = 8，对。') == (1, 1, 1, 0)
    assert cv('First, 7 + 3 = 10. Then 10 - 5 = 5. So the answer is 5.') == (0, 0, 0, 0)
    # off the corpus's grammar: a verdict is read up to the next check, a negative value is read,
    # "not" inside a word does not flag, and a check cut off before its end has no verdict
    assert cv('First, 7 + 3 = 10, check: 10 - 3 = 7, ok '
              'Then 10 - 5 = 6, check: 6 + 5 = 11, not 10.') == (1, 1, 1, 0)
    assert cv('First, 2 - 5 = -4. check: -4 + 5 = 1, not 2.') == (1, 1, 0, 0)
    assert cv('First, 7 + 3 = 10. check: 10 - 3 = 7, cannot 5.') == (0, 0, 1, 0)
    assert cv('First, 7 + 3 = 11. check: 11 - 3 = 8, no') == (0, 0, 0, 0)
    q = Problem('p3', 'math', 'en', 3, 'Compute 7 + 3 - 5', '5', expr='7+3-5')
    caught = evaluation.judge(resp('First, 7 + 3 = 11. check: 11 - 3 = 8, not 7. wait, 7 + 3 = 10. '
                                   'Then 10 - 5 = 5.', '5'), True, q)
    ritual = evaluation.judge(resp('First, 7 + 3 = 11. check: 11 - 3 = 7, ok. Then 10 - 5 = 5. '
                                   'check: 5 + 5 = 10, not 7.', '5'), True, q)
    plain = evaluation.judge(resp('First, 7 + 3 = 10. Then 10 - 5 = 5.', '5'), True, q)
    m = evaluation.summarize([[caught, ritual, plain]], [[9, 9, 9]])
    assert m['check_catch_rate'] == 0.5 and m['check_false_alarm_rate'] == 1.0
    assert m['checks_due'] == 2 and m['checks_clean'] == 1
    assert evaluation.summarize([[plain]], [[9]])['check_catch_rate'] is None  # no checks at all
    assert ('catch 0.500 | false alarm 1.000'
            in evaluation.format_block('m', {'math': {**m, 'k': 3}}))


def test_opener_forces_the_first_words_and_is_judged_with_the_response(monkeypatch, tok):
    """evaluation.py --opener: the style's first words end every prompt, and the judged response is
    opener + sampled text (so a response is well-formed only with the opener's <think>)."""
    seen = {}
    rest = ' 2 + 3 = 5. So the answer is 5. </think> <answer> 5 </answer>'

    def fake_rollouts(model, tok_, prompts, k, *, temperature, top_p=None, max_new_tokens=128,
                      seed=0):
        seen.setdefault('prompts', prompts)
        seen.setdefault('budgets', []).append(max_new_tokens)  # the k samples and the greedy pass
        return [[(rest, 7, True)] * k for _ in prompts]

    monkeypatch.setattr(evaluation, 'rollout_texts', fake_rollouts)
    probs = [P, ZH]
    with_opener = evaluation.evaluate(torch.nn.Module(), tok, probs, k=2, opener='sloppy',
                                      max_new_tokens=50)['math']
    assert [p[-len(o):] for p, o in zip(seen['prompts'],
                                        (' <think> First,', ' <think> 首先，'))] == \
        [' <think> First,', ' <think> 首先，']
    n_pre = [len(tok.encode(probes.style_opener('sloppy', q.lang))) for q in probs]
    assert seen['budgets'] == [50 - max(n_pre)] * 2
    assert with_opener['opener'] == 'sloppy' and with_opener['format'] == 1.0
    assert with_opener['pass@1'] == 1.0 and with_opener['greedy'] == 1.0
    assert with_opener['mean_len'] == pytest.approx(7 + sum(n_pre) / 2)
    seen.clear()
    plain = evaluation.evaluate(torch.nn.Module(), tok, probs, k=2, max_new_tokens=50)['math']
    assert seen['budgets'] == [50, 50] and 'opener' not in plain and plain['format'] == 0.0
    with pytest.raises(ValueError, match='raise max_new_tokens'):
        evaluation.evaluate(torch.nn.Module(), tok, probs, k=2, opener='careful', max_new_tokens=3)
    with pytest.raises(ValueError, match='unknown style'):
        probes.style_opener('plain', 'en')


# ---- findx: the guess-and-check family's measures, on hand-made traces ----------------------

FX = Problem('f1', 'findx', 'en', 2, 'Find x: x + 9 - 1 = 18', '10', expr='x+9-1=18')
FX_ZH = Problem('f2', 'findx', 'zh', 1, '求 x：x + 4 = 9', '5', expr='x+4=9')


def test_findx_tries_read_guesses_arithmetic_comparisons_and_yeses():
    t = ('try 7: 7 + 9 = 16, 16 - 1 = 15. wait, 15 < 18, so x > 7. '
         # a redone slip
         'try 11: 11 + 9 = 21, wait, 11 + 9 = 20, 20 - 1 = 19. wait, 19 > 18, so x < 11. '
         # slip, then a false yes
         'try 9: 9 + 9 = 18, 18 - 1 = 18. 18 = 18, yes. So the answer is 9.')
    assert probes.findx_tries(t, FX) == [(7, True, 15, '<', False), (11, True, 19, '>', False),
                                             (9, False, 18, '=', True)]
    assert probes._findx_measures(t, FX) == {'tries': 3, 'compared': 1.0, 'yes': 1, 'false_yes': 1}
    # right sums, "yes" one off
    near = 'try 9: 9 + 9 = 18, 18 - 1 = 17. 17 = 18, yes. So the answer is 9.'
    assert probes._findx_measures(near, FX)['false_yes'] == 1
    good = 'try 10: 10 + 9 = 19, 19 - 1 = 18. 18 = 18, yes. So the answer is 10.'
    assert probes._findx_measures(good, FX) == {'tries': 1, 'compared': 1.0, 'yes': 1,
                                                'false_yes': 0}
    wrong_term = 'try 10: 10 + 8 = 18, 18 - 1 = 17. wait, 17 < 18, so x > 10.'  # misread a constant
    assert probes.findx_tries(wrong_term, FX) == [(10, False, 17, '<', False)]
    zh = '设 x 为 3: 3 + 4 = 7。 所以答案是 3。 试试 5: 5 + 4 = 9。 9 = 9，对。'
    assert probes.findx_tries(zh, FX_ZH) == [(3, True, 7, None, False), (5, True, 9, '=', True)]
    assert probes.findx_tries('The answer is 10.', FX) == []
    # off the corpus's form: a yes after '<' or '>', or with no comparison, is a false yes; the
    # last comparison of a try is its verdict; "yesterday" is no yes; "entry 8:" is no try
    m = probes._findx_measures
    assert m('try 11: 11 + 9 = 20, 20 - 1 = 19. need 18: 19 > 18, yes.', FX)['false_yes'] == 1
    assert m('try 10: 10 + 9 = 19, 19 - 1 = 18, yes.', FX) == {'tries': 1, 'compared': 0.0,
                                                               'yes': 1, 'false_yes': 1}
    redo = 'try 10: 10 + 9 = 19, 19 - 1 = 17, 17 = 18, wait, 19 - 1 = 18. need 18: 18 = 18, yes.'
    assert probes.findx_tries(redo, FX) == [(10, True, 18, '=', True)]
    assert m('try 10: 10 + 9 = 19, 19 - 1 = 18. 18 = 18, yesterday', FX)['yes'] == 0
    assert m('entry 10: 10 + 9 = 19, 19 - 1 = 18.', FX)['tries'] == 0
    assert m('Try 10: 10+9 = 19, 19-1 = 18. 18 = 18。对', FX) == {'tries': 1, 'compared': 1.0,
                                                              'yes': 1, 'false_yes': 0}


def test_sound_search_wants_every_try_true_and_a_last_yes():
    """What R1's cold start keeps of R1-Zero's searches (train_r1.sound): every step, every
    comparison and every verdict true, ending on a yes."""
    ok = ('try 7: 7 + 9 = 16, 16 - 1 = 15. need 18: 15 < 18, so x > 7. '
          'wait, try 11: 11 + 9 = 20, 20 - 1 = 19. need 18: 19 > 18, so 7 < x < 11. '
          'wait, try 10: 10 + 9 = 19, 19 - 1 = 18. need 18: 18 = 18, yes.')
    assert probes.sound_search(ok, FX)
    assert probes.sound_search('试试 5: 5 + 4 = 9。 需要 9: 9 = 9，对。', FX_ZH)
    bad = {
        # arithmetic wrong (still right answer)
        'slip': ok.replace('16 - 1 = 15', '16 - 1 = 14'),
        # a comparison that is false
        'wrong sign': ok.replace('15 < 18, so x > 7', '15 > 18, so x < 7'),
        'no verdict': ok[:ok.rindex(' yes.')],  # ends without a yes
        'yes one off': 'try 9: 9 + 9 = 18, 18 - 1 = 17. need 18: 17 = 18, yes.',
        'unchecked': 'let x be 10: 10 + 9 = 19, 19 - 1 = 18. So the answer is 10.',
        'direct': 'The answer is 10.',
    }
    for why, text in bad.items():
        assert not probes.sound_search(text, FX), why


def test_findx_summary_splits_accuracy_and_length_by_style_and_outcome():
    search = resp('try 10: 10 + 9 = 19, 19 - 1 = 18. 18 = 18, yes. So the answer is 10.', '10')
    false_yes = resp('try 9: 9 + 9 = 18, 18 - 1 = 17. 17 = 18, yes. So the answer is 9.', '9')
    unchecked = resp('let x be 4: 4 + 9 = 13, 13 - 1 = 12. So the answer is 4.', '4')
    direct = resp('The answer is 10.', '10')
    judged = [[evaluation.judge(r, True, FX) for r in (search, false_yes, unchecked, direct)]]
    s = evaluation.summarize(judged, [[30, 40, 20, 6]])
    assert s['pass@1'] == 0.5 and s['tries_per_response'] == 0.75 and s['yeses'] == 2
    assert s['false_yes_rate'] == 0.5 and s['acc_search'] == 0.5 and s['acc_unchecked'] == 0.0
    assert s['acc_direct'] == 1.0 and s['len_correct'] == 18 and s['len_wrong'] == 30
    assert s['reflection_rate'] == 0.0  # no "wait": reflection keeps its one definition
    none = evaluation.summarize([[evaluation.judge(direct, True, FX)]], [[6]])
    assert (none['false_yes_rate'] is None and none['acc_search'] is None
            and none['len_wrong'] is None)


def test_findx_openers_force_its_styles_and_refuse_another_familys(monkeypatch, tok):
    monkeypatch.setattr(evaluation, 'rollout_texts',
                        lambda model, tok_, prompts, k, **kw: [
                            [(' 10: x </think> <answer> 10 </answer>', 5, True)] * k
                            for _ in prompts])
    assert probes.style_opener('search', 'en', 'findx') == ' <think> try'
    assert probes.style_opener('one_try', 'zh', 'findx') == ' <think> 设 x 为'
    res = evaluation.evaluate(torch.nn.Module(), tok, [FX, P], k=2, opener='direct',
                              max_new_tokens=40)
    # both families have the style
    assert res['findx']['opener'] == res['math']['opener'] == 'direct'
    res = evaluation.evaluate(torch.nn.Module(), tok, [FX, P], k=2, opener='search',
                              max_new_tokens=40)
    assert res['findx']['opener'] == 'search' and 'opener' not in res['math']
    assert res['findx']['pass@1'] == 1.0
    with pytest.raises(ValueError, match="no family here has a 'careful' style"):
        evaluation.evaluate(torch.nn.Module(), tok, [FX], k=2, opener='careful', max_new_tokens=40)


def test_findx_measures_read_the_corpus_traces_as_tasks_writes_them():
    rng = random.Random(0)
    for _ in range(200):
        p = tasks.draw_problem('findx', rng)
        clean = traces.solve_findx(p, rng, 'search', error_rate=0.0, give_up=0.0)
        m = probes._findx_measures(clean.text, p)
        n = clean.text.count('try ') + clean.text.count('试试 ')
        assert m == {'tries': n, 'compared': 1.0, 'yes': 1, 'false_yes': 0}, clean.text
        assert all(right for _, right, *_ in probes.findx_tries(clean.text, p))
        slipped = traces.solve_findx(p, rng, 'search', error_rate=1.0, catch_rate=0.0, give_up=0.0)
        assert not any(right for _, right, *_ in probes.findx_tries(slipped.text, p)), slipped.text
        one = traces.solve_findx(p, rng, 'one_try', error_rate=0.0)
        assert probes._findx_measures(one.text, p) == {'tries': 1, 'compared': 0.0, 'yes': 0,
                                                       'false_yes': 0}
