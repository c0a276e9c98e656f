"""The pretraining corpus: this world's internet, tasks.py's problems with traces.py's traces.

Why the styles matter (Gandhi et al. 2025): RL only amplifies what the base already does, so
the corpus is where the behaviours come from. For math it holds a short, sloppy default style
(often wrong), a rare long careful style that checks every step by its inverse and fixes slips
("wait, ..."), and direct answers with no reasoning. The careful style is more reliable as its
authors write it, so GRPO could move probability onto it and raise accuracy, length and
reflection together, as in R1-Zero (paper Figure 2, Figure 3, Table 3). At the cpu preset it
does not: the model copies the checks instead of computing them (probes.py's check_catch_rate),
so they catch nothing and RL prunes the style (docs/findings.md). In findx, checking a guess is
easier than producing the answer, and there the search style spreads (README, R1-Zero).

  math     sloppy   First, 7 + 3 = 10. Then 10 - 5 = 5. So the answer is 5.
           careful  I will check every step. The sum is 7 + 3 - 5. First, 7 + 3 = 11. check:
                    11 - 3 = 8, not 7. wait, 7 + 3 = 10. check: 10 - 3 = 7, ok. Then 10 - 5 = 5.
                    check: 5 + 5 = 10, ok. So the answer is 5.
           direct   The answer is 6.
  findx    search   try 5: 5 + 7 = 12, 12 - 3 = 9. need 12: 9 < 12, so x > 5. wait, try 9:
                    9 + 7 = 16, 16 - 3 = 13. need 12: 13 > 12, so 5 < x < 9. wait, try 8:
                    8 + 7 = 15, 15 - 3 = 12. need 12: 12 = 12, yes. So the answer is 8.
           one_try  let x be 5: 5 + 7 = 12, 12 - 3 = 9. So the answer is 5.
           direct   The answer is 6.

Every rate is a named knob of CorpusKnobs, printed when pretrain.py starts (--knobs overrides)."""
import random
from dataclasses import dataclass, field

from tasks import draw_problem, render_prompt, solve_chat
from traces import math_steps, solve_code, solve_countdown, solve_findx, solve_math


@dataclass
class CorpusKnobs:
    family_mix: dict = field(
        default_factory=lambda: {'math': 0.8, 'countdown': 0.04, 'code': 0.08, 'chat': 0.08})
    drills: float = 0.15           # documents that are plain tables of one-step sums ("7 + 3 = 10")
    zh_share: float = 0.3          # documents whose problem is in Chinese
    template_share: float = 0.6    # R1-Zero template documents, with tags (else "Answer: N" pages)
    broken_tags: float = 0.35      # template documents whose tags are broken
    direct: float = 0.25           # math solutions with no reasoning at all, often wrong
    careful: float = 0.10          # math solutions in the long careful style that checks each step
    direct_error: float = 0.6      # chance a direct answer is wrong
    sloppy_error: float = 0.2      # per-step slip rate of the common, sloppy style
    sloppy_skip: float = 0.1       # sloppy solutions that skip a step altogether
    careful_error: float = 0.02    # per-step slip rate of careful authors (they slip less...)
    catch_rate: float = 0.9        # ...and their checks catch most slips ("wait, ...")
    switch_lang: float = 0.08      # reasoning that switches language part-way
    code_error: float = 0.3        # code solutions with a wrong constant
    chat_quality: float = 0.7      # chance a chat reply meets each rubric check
    dead_ends: int = 2             # most failed attempts a countdown search trace shows
    # findx is half the problem documents: at a fifth, a probe's base never searched (docs/world.md)
    findx: float = 0.5             # problem documents that are findx (the rest follow family_mix)
    findx_direct: float = 0.45     # findx solutions that state a guess and nothing else
    findx_one_try: float = 0.2     # ...that compute one guess, answered unchecked (the rest search)
    findx_direct_error: float = 0.8  # chance a direct findx guess is wrong
    findx_error: float = 0.03      # per-step slip rate of findx computations
    findx_catch: float = 0.5       # share of those slips redone at once ("wait, 7 + 6 = 13")
    near_miss: float = 0.5         # search guesses that land next to the answer, to be rejected
    give_up: float = 0.05          # searchers who stop after a miss and answer their last guess


def _tagged(think, answer, rng, broken):
    """A response in the template's grammar, or one of its broken variants."""
    if not broken:
        return f' <think> {think} </think> <answer> {answer} </answer>'
    return rng.choice([
        f' <think> {think} <answer> {answer} </answer>',               # </think> missing
        f' <think> {think} </think> {answer}',                         # answer not tagged
        f' {think} <answer> {answer} </answer>',                       # no think block
        f' <think> {think} </think> <answer> {answer} </answer> <answer> {answer} </answer>'])


def solve(problem, rng, knobs):
    """A trace for any family, its style drawn by the knobs."""
    if problem.family == 'math':
        r = rng.random()
        style = ('direct' if r < knobs.direct else
                 'careful' if r < knobs.direct + knobs.careful else 'sloppy')
        err = {'direct': knobs.direct_error, 'careful': knobs.careful_error,
               'sloppy': knobs.sloppy_error}[style]
        n = len(math_steps(problem.expr))
        switch = rng.randint(1, n) if style != 'direct' and rng.random() < knobs.switch_lang else None
        return solve_math(problem, rng, style, err, knobs.catch_rate, switch, knobs.sloppy_skip)
    if problem.family == 'findx':
        r = rng.random()
        style = ('direct' if r < knobs.findx_direct else
                 'one_try' if r < knobs.findx_direct + knobs.findx_one_try else 'search')
        return solve_findx(problem, rng, style, knobs.findx_error, knobs.findx_catch,
                           knobs.near_miss, knobs.give_up, knobs.findx_direct_error)
    if problem.family == 'countdown':
        return solve_countdown(problem, rng, knobs.dead_ends)
    if problem.family == 'code':
        return solve_code(problem, rng, knobs.code_error)
    return solve_chat(problem, rng, knobs.chat_quality)


def document(problem, rng, knobs):
    """One corpus document: a problem and a solution, in the template or as a plain page."""
    t = solve(problem, rng, knobs)
    if rng.random() < knobs.template_share:
        return render_prompt(problem) + _tagged(t.text, t.answer, rng, rng.random() < knobs.broken_tags)
    if problem.lang == 'zh':
        return f'问题：{problem.prompt}\n解答：{t.text}\n答案：{t.answer}'
    return f'Question: {problem.prompt}\nSolution: {t.text}\nAnswer: {t.answer}'


def drill(rng, n=12, max_value=40, max_operand=10):
    """Correct one-step sums and differences, cheap practice (held-out problems have 2+ steps)."""
    lines = []
    for _ in range(n):
        a, b = rng.randint(0, max_value), rng.randint(1, max_operand)
        lines.append(f'{a} + {b} = {a + b}' if rng.random() < 0.5 or b > a else f'{a} - {b} = {a - b}')
    return '\n'.join(lines)


def build_corpus(n_docs, seed, knobs=None, preset='cpu'):
    """n_docs documents drawn from the train split only. Deterministic for a seed."""
    knobs = knobs or CorpusKnobs()
    rng = random.Random(f'corpus:{seed}')
    fams, weights = zip(*knobs.family_mix.items())
    docs = []
    for _ in range(n_docs):
        if rng.random() < knobs.drills:
            docs.append(drill(rng))
            continue
        # (no draw at findx=0, so --knobs=findx=0 rebuilds the math-only corpus of earlier commits)
        fam = ('findx' if knobs.findx and rng.random() < knobs.findx
               else rng.choices(fams, weights)[0])
        docs.append(document(draw_problem(fam, rng, 'train', preset, zh_share=knobs.zh_share),
                             rng, knobs))
    return docs
