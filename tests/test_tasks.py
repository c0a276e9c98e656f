"""The toy world: determinism, the held-out split, oracle traces and the corpus knobs.

Run: pytest tests/test_tasks.py
"""
import random
import re

import pytest

import corpus
import rewards
import tasks
import traces

FAMILIES = ('math', 'countdown', 'code', 'chat', 'findx')


def response_of(doc):
    """The part of a template document after 'Assistant:' (what a model would generate)."""
    return doc.split('Assistant:', 1)[1]


def test_template_is_table_1_verbatim():
    p = tasks.Problem('x', 'math', 'en', 2, 'Compute 1 + 2', '3', expr='1+2')
    assert tasks.render_prompt(p) == (
        "A conversation between User and Assistant. The user asks a question, and the Assistant "
        "solves it. The assistant first thinks about the reasoning process in the mind and then "
        "provides the user with the answer. The reasoning process and answer are enclosed within "
        "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
        "process here </think> <answer> answer here </answer>. User: Compute 1 + 2. Assistant:")


@pytest.mark.parametrize('family', FAMILIES)
def test_generators_are_deterministic_for_a_seed(family):
    draw = lambda seed: [tasks.draw_problem(family, random.Random(seed)) for _ in range(20)]
    assert draw(5) == draw(5)
    assert draw(5) != draw(6)
    assert tasks.eval_set(family, 10) == tasks.eval_set(family, 10)


@pytest.mark.parametrize('family', FAMILIES)
def test_both_languages_and_split_sides_exist(family):
    rng = random.Random(0)
    probs = [tasks.GENERATORS[family](rng, 2 if family != 'countdown' else 3, lang)
             for lang in ('en', 'zh') for _ in range(200)]
    assert {p.lang for p in probs} == {'en', 'zh'}
    assert any(re.search(r'[\u4e00-\u9fff]', p.prompt) for p in probs if p.lang == 'zh')
    assert {tasks.split_of(p) for p in probs} == {'train', 'test'}


def test_heldout_problems_never_reach_corpus_or_rl_prompts():
    held = [p for f in FAMILIES for p in tasks.eval_set(f, 30)]
    assert all(tasks.split_of(p) == 'test' for p in held)
    held_ids = {p.id for p in held}
    held_prompts = {p.prompt for p in held}
    for seed in range(3):
        rng = random.Random(seed)
        rl_prompts = [tasks.draw_problem(f, rng, 'train') for f in FAMILIES for _ in range(300)]
        assert not held_ids & {p.id for p in rl_prompts}
        text = '\n'.join(corpus.build_corpus(1500, seed))
        for prompt in held_prompts:  # a held-out question never appears, in any document form
            assert f'User: {prompt}.' not in text and f'{prompt}\n' not in text


def test_same_arithmetic_in_any_wording_shares_a_split():
    rng = random.Random(3)
    for _ in range(300):
        p = tasks.gen_math(rng, 3, rng.choice(['en', 'zh']))
        twin = tasks.Problem(tasks._canon_id('math', p.expr), 'math', 'en', 3, 'other words',
                             p.answer, expr=p.expr)
        assert tasks.split_of(twin) == tasks.split_of(p)


def test_math_gold_answer_is_the_value_of_the_expression():
    rng = random.Random(1)
    for _ in range(500):
        p = tasks.gen_math(rng, rng.randint(1, 4), 'en')
        assert int(p.answer) == eval(p.expr)  # our own generated arithmetic, not model output
        assert traces.math_steps(p.expr)[-1][3] == int(p.answer)


@pytest.mark.parametrize('style', ['sloppy', 'careful', 'direct'])
def test_math_traces_marked_correct_have_the_gold_answer_and_wrong_ones_do_not(style):
    rng = random.Random(2)
    n_wrong = 0
    for i in range(400):
        p = tasks.gen_math(rng, 3, 'en' if i % 2 else 'zh')
        t = traces.solve_math(p, rng, style, error_rate=0.3, catch_rate=0.5)
        assert t.correct == (int(t.answer) == int(p.answer))
        last = re.findall(r'-?\d+', t.text)[-1]  # the trace states the answer it commits to
        assert last == t.answer
        n_wrong += not t.correct
    assert n_wrong > 0  # the error knob does inject wrong traces


def test_error_free_authors_are_always_right():
    rng = random.Random(4)
    for i in range(300):
        p = tasks.gen_math(rng, 3, 'zh' if i % 3 == 0 else 'en')
        for style in ('sloppy', 'careful', 'direct'):
            assert traces.solve_math(p, rng, style, error_rate=0.0).correct


def test_careful_checks_catch_slips_and_say_wait():
    rng = random.Random(5)
    caught = 0
    for _ in range(200):
        p = tasks.gen_math(rng, 3, 'en')
        t = traces.solve_math(p, rng, 'careful', error_rate=0.5, catch_rate=1.0)
        assert t.correct and t.reflective and rewards.has_reflection(t.text)
        caught += 'wait,' in t.text
    assert caught > 100


def test_countdown_oracle_expression_reaches_the_target():
    rng = random.Random(6)
    for i in range(60):
        p = tasks.gen_countdown(rng, 3 + i % 2, 'en' if i % 2 else 'zh')
        t = traces.solve_countdown(p, rng)
        response = f'<think> {t.text} </think> <answer> {t.answer} </answer>'
        assert rewards.accuracy_reward(response, p) == 1.0


def test_code_oracle_solutions_pass_their_hidden_tests():
    rng = random.Random(7)
    probs = [tasks.gen_code(rng, 1 + i % 2, 'en' if i % 2 else 'zh') for i in range(12)]
    for p in probs:
        res = rewards.run_code(p.answer, p.tests, p.entry)
        assert res.status == 'passed' and res.n_passed == len(p.tests), (p.answer, res)
    wrong = tasks.Problem('y', 'code', 'en', 1, 'add 3', 'def f(x): return x + 3', entry='f',
                          tests=(((1,), 4), ((2,), 5)))
    assert rewards.run_code('def f(x): return x + 4', wrong.tests, 'f').status == 'failed'


def test_chat_rubric_prefers_good_replies():
    rng = random.Random(8)
    p = tasks.gen_chat(rng, 1, 'en')
    good = tasks.solve_chat(p, rng, quality=1.0)
    assert good.correct and tasks.chat_rubric(p, good.answer) == 1.0
    assert tasks.chat_rubric(p, 'whatever ' * 30) < 0.5
    zh = tasks.gen_chat(rng, 1, 'zh')
    assert tasks.chat_rubric(zh, tasks.solve_chat(zh, rng, 1.0).answer) == 1.0
    assert tasks.chat_rubric(zh, 'Hello there') < 1.0  # wrong language


def _rates(docs):
    math_docs = [d for d in docs
                 if 'Compute' in d or '计算' in d or 'How many' in d or '多少' in d]
    resp = [response_of(d) for d in docs if 'Assistant:' in d]
    return {
        'careful': sum(('check:' in d or '检查' in d) for d in math_docs) / len(math_docs),
        'direct': sum(('The answer is' in d and '=' not in d.split('Assistant:')[-1]) or
                      ('答案是' in d and '=' not in d.split('Assistant:')[-1])
                      for d in math_docs) / len(math_docs),
        'well_formed': sum(rewards.format_reward(r) for r in resp) / len(resp),
        'zh': sum(bool(re.search(r'[\u4e00-\u9fff]', d.split('User:')[-1]))
                  for d in docs) / len(docs),
        'template': len(resp) / len(docs),
        'drill': sum(d[0].isdigit() for d in docs) / len(docs),
    }


def test_knobs_move_the_measured_rates_in_the_corpus():
    base = corpus.CorpusKnobs()
    lo = _rates(corpus.build_corpus(3000, 0, base))
    for knob, value, rate, direction in [('careful', 0.4, 'careful', +1),
                                         ('direct', 0.6, 'direct', +1),
                                         ('broken_tags', 0.9, 'well_formed', -1),
                                         ('zh_share', 0.8, 'zh', +1),
                                         ('template_share', 0.2, 'template', -1),
                                         ('drills', 0.5, 'drill', +1)]:
        knobs = corpus.CorpusKnobs(**{**vars(base), knob: value})
        hi = _rates(corpus.build_corpus(3000, 0, knobs))
        assert (hi[rate] - lo[rate]) * direction > 0.15, (knob, lo[rate], hi[rate])


def test_switch_lang_knob_moves_language_mixing():
    def mixed(share):
        knobs = corpus.CorpusKnobs(switch_lang=share, direct=0.0, family_mix={'math': 1.0},
                                   template_share=1.0, drills=0.0, broken_tags=0.0, findx=0.0)
        docs = corpus.build_corpus(1500, 1, knobs)
        probs_lang = ['zh' if re.search(r'[\u4e00-\u9fff]',
                                        d.split('User:')[-1].split('Assistant:')[0]) else 'en'
                      for d in docs]
        return sum(rewards.is_mixed(response_of(d), lang)
                   for d, lang in zip(docs, probs_lang)) / len(docs)
    assert mixed(0.0) < 0.01
    assert mixed(0.3) > 0.2


def test_bad_family_and_split_are_refused():
    with pytest.raises(ValueError, match='family'):
        tasks.draw_problem('poetry', random.Random(0))
    with pytest.raises(ValueError, match='split'):
        tasks.draw_problem('math', random.Random(0), split='dev')


# ---- findx: the guess-and-check family ------------------------------------------------------

def findx_problems(n=300, seed=0):
    rng = random.Random(seed)
    return [tasks.gen_findx(rng, rng.randint(1, 2), rng.choice(['en', 'zh'])) for _ in range(n)]


def test_findx_gold_solves_the_equation_and_every_guess_stays_non_negative():
    for p in findx_problems():
        terms, rhs = traces.findx_terms(p.expr)
        for g in range(1, traces.FINDX_MAX + 1):
            value = g
            for op, c in terms:
                value = value + c if op == '+' else value - c
                assert value >= 0, (p.expr, g)
            assert (value == rhs) == (g == int(p.answer)), (p.expr, g)
        assert str(int(p.answer)) == p.answer and 1 <= int(p.answer) <= traces.FINDX_MAX


def test_findx_split_is_by_the_equation_not_its_language():
    splits = set()
    # the generator's draws do not depend on the language: the same equation twice
    for seed in range(300):
        en, zh = (tasks.gen_findx(random.Random(seed), 2, lang) for lang in ('en', 'zh'))
        assert en.expr == zh.expr and en.prompt != zh.prompt and en.id == zh.id
        splits.add(tasks.split_of(en))
    assert splits == {'train', 'test'}
    held = tasks.eval_set('findx', 30)
    assert all(tasks.split_of(p) == 'test' for p in held)
    train = {tasks.draw_problem('findx', random.Random(i)).expr for i in range(300)}
    assert not train & {p.expr for p in held}  # no held-out equation among training draws


_TRY = re.compile(r'(?:try|试试|let x be|设 x 为) (\d+): '
                  r'((?:\d+ [-+] \d+ = \d+'
                  r'(?:[,，] ?(?:wait,|等等，) ?\d+ [-+] \d+ = \d+)?(?:[,，] ?)?)+)[.。]'
                  r'(?: (?:need|需要) \d+[:：] (\d+) ([<>=]) (\d+)[,，]'
                  r'(?: ?(?:so|所以) (?:(\d+) < )?x ([<>]) (\d+)| ?(?:yes|对))[.。])?')


def parse_tries(text):
    return [m.groups() for m in _TRY.finditer(text)]


def test_error_free_search_narrows_soundly_and_stops_on_yes():
    rng = random.Random(0)
    for p in findx_problems():
        t = traces.solve_findx(p, rng, 'search', error_rate=0.0, give_up=0.0)
        terms, rhs = traces.findx_terms(p.expr)
        tries = parse_tries(t.text)
        assert t.correct and t.answer == p.answer and tries, t.text
        lo, hi = 0, traces.FINDX_MAX + 1
        for guess, steps, value, cmp, right, low, sign, bound in tries:
            g = int(guess)
            assert lo < g < hi  # every guess lies inside the interval the comparisons left
            true = g + sum(c if op == '+' else -c for op, c in terms)
            # right arithmetic when no slip is drawn
            assert int(value) == true and int(right) == rhs
            assert cmp == ('<' if true < rhs else '>' if true > rhs else '=')
            if cmp == '=':
                assert g == int(p.answer)
            else:
                lo, hi = (g, hi) if cmp == '<' else (lo, g)
                if low:  # both ends known: the interval written out
                    assert ((int(low), sign, int(bound)) == (lo, '<', hi) and 0 < lo
                            and hi <= traces.FINDX_MAX)
                else:    # one end: the bound this guess set
                    assert int(bound) == g and sign == ('>' if cmp == '<' else '<')
        # stops at the first yes
        assert tries[-1][3] == '=' and sum(tr[3] == '=' for tr in tries) == 1
        # each miss sends it back
        assert t.text.count('wait, try') + t.text.count('等等， 试试') == len(tries) - 1
        assert t.text.startswith(('try ', '试试 ')) and t.reflective == (len(tries) > 1)


def test_findx_search_traces_hold_near_misses_and_caught_slips():
    rng = random.Random(1)
    searches = [traces.solve_findx(p, rng, 'search', error_rate=0.3, catch_rate=1.0, give_up=0.0)
                for p in findx_problems(200)]
    # every slip caught: no wrong comparison, no wrong answer
    assert all(t.correct for t in searches)
    # slips redone
    assert sum(bool(re.search(r'(wait,|等等，) \d+ [-+] \d+ =', t.text))
               for t in searches) > 50
    near = sum(abs(int(g) - int(t.answer)) == 1
               for t in searches for g, *_ in parse_tries(t.text)[:-1])
    assert near > len(searches)  # more than one rejected near miss per trace on average
    slipped = [traces.solve_findx(p, rng, 'search', error_rate=0.5, catch_rate=0.0)
               for p in findx_problems(200)]
    # uncaught slips mislead some searches
    assert 0 < sum(t.correct for t in slipped) < len(slipped)


def test_findx_one_try_and_direct_styles():
    rng = random.Random(2)
    for p in findx_problems(100):
        one = traces.solve_findx(p, rng, 'one_try', error_rate=0.0)
        tries = parse_tries(one.text)
        # computes, never compares
        assert len(tries) == 1 and tries[0][3] is None and one.answer == tries[0][0]
        # its own opener (evaluation.py --opener)
        assert one.text.startswith(('let x be ', '设 x 为 '))
        direct = traces.solve_findx(p, rng, 'direct')
        assert '=' not in direct.text and re.fullmatch(r'(The answer is|答案是) \d+[.。]',
                                                       direct.text)
    rates = [sum(traces.solve_findx(p, rng, 'direct').correct for p in findx_problems(2000)) / 2000]
    assert 0.25 < rates[0] < 0.35  # direct_error 0.7


def test_findx_rewards_follow_the_hack_proof_rules():
    p = tasks.gen_findx(random.Random(0), 2, 'en')
    good = f' <think> try {p.answer}: ... yes. </think> <answer> {p.answer} </answer>'
    assert rewards.accuracy_reward(good, p) == 1.0
    assert rewards.accuracy_reward(good.replace(f'<answer> {p.answer}', '<answer> 99'), p) == 0.0
    assert rewards.accuracy_reward(f'<think> {p.answer} </think> <answer> x = {p.answer} </answer>',
                                   p) == 0.0
    assert rewards.accuracy_reward(f'<think> <answer> {p.answer} </answer> </think>', p) == 0.0
