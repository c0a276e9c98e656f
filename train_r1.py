"""R1: cold start, reasoning RL, rejection sampling + SFT, all-scenario RL (R1 section 2.3).

R1-Zero reasons but reads badly and mixes languages. R1 fixes that in four stages, each a call to
the one SFT loop (sft.py) or the one RL loop (grpo.py):
  1. cold start (2.3.1): SFT of the base on a few hundred readable long-reasoning examples:
     R1-Zero's own samples on its family, kept if correct, single-language, not repetitive and
     sound (probes.sound_search), rewritten as reasoning then a one-line summary; with no R1-Zero
     run, oracle traces (traces.py) play the "human annotators".
  2. reasoning RL (2.3.2): GRPO on R1-Zero's family and math, half each, with accuracy + format +
     language consistency (the paper sums accuracy and language; --language_weight=0 ablates it).
  3. rejection sampling + SFT (2.3.3): stage 2's correct, single-language, short, non-repetitive
     answers to every reasoning family's train prompts (k samples each), plus chat without
     reasoning, fine-tune the base (not stage 2) for about two epochs.
  4. all-scenario RL (2.3.4): GRPO on stage 2's prompts (rule rewards) and chat (reward_model.py,
     trained on rubric-ranked pairs); the rubric is only logged, to show reward hacking.

The recipe is a table, STAGES (the reward model is a row), walked by one runner, run_stage.
evaluation.py measures every family after each stage (out/r1/eval.json, one block each, plus
R1-Zero's when out/zero has one). A stage (a folder under out/r1) is skipped when its checkpoint
and eval.json block exist (the reward model: its checkpoint) and resumes if interrupted. To redo
one, delete its folder: the later stages, built on it, move to <folder>.stale-<time> and run again
(a new reward model makes only r1 stale), as does a cold start from an R1-Zero checkpoint that has
since changed (an oracle one is kept: delete out/r1/cold_start to use R1-Zero's samples).

  python train_r1.py                              # cpu preset (README: minutes on our 2 cores)
  python train_r1.py --language_weight=0 --last_stage=2 --out_dir=out/r1_nolang   # the ablation
"""
import os
import random
import sys
import time
from collections import Counter, namedtuple
from functools import partial
from types import SimpleNamespace

import data
import ddp
import evaluation
import grpo
import probes
import report
import reward_model
import rewards
import sft
import tasks
import traces
from checkpoint import ensure_base, file_digest, load_model, read_json, read_jsonl, write_json
from config import InputError, configure, get_device, input_errors, print_config, resolve_dtype

# ---- config: plain names, one comment each; override with --key=value -------------------
# Stages 2 and 4 take grpo.OPTIONS (--steps, --lr, ...: R1-Zero's recipe), 1 and 3 the sft_ keys.
preset = 'auto'            # 'auto' picks 'gpu' when CUDA is present, else 'cpu'
base_dir = 'out/base'      # the base: our run folder (pretrain.py makes it) or a HF folder
dataset = ''               # a GSM8K / MATH / Countdown file (data.py) for the toy world's math
eval_dataset = ''          # its evaluation file; '' = the dataset's held-out 10% (as train_zero.py)
pretrain_args = ''         # extra --key=value flags for pretrain.py when it has to make the base
zero_dir = 'out/zero'      # the R1-Zero run: cold-start samples and the comparison row
family = 'auto'            # cold start's family and half of stage 2: 'auto' = R1-Zero's, else findx
out_dir = 'out/r1'         # run folder: one subfolder per stage, eval.json
last_stage = 4             # stop after this stage (1-4)
cold_source = 'auto'       # 'zero' (R1-Zero's samples), 'oracle'; 'auto': zero if there is one
cold_prompts = 400         # train prompts of the family the cold-start data is drawn from
cold_k = 2                 # R1-Zero samples per prompt (the longest kept one is used)
oracle_style = 'careful'   # oracle cold start: traces.solve_math style ('careful' checks each step)
sft_epochs = 2.0           # passes over the data in stages 1 and 3
sft_lr = 3e-4              # SFT peak learning rate
sft_batch = 16             # SFT examples per step
language_weight = 1.0      # language-consistency reward's weight, stages 2 and 4 (0 = ablation)
final_steps = 60           # stage 4 GRPO steps
final_chat_share = 0.5     # share of stage 4 prompts that are chat (the rest as stage 2)
final_lr = 3e-5            # stage 4 lr: gentler than stage 2's, so chat does not erode reasoning
final_beta = 0.0           # stage 4: KL weight to the stage-3 model (0 skips the reference model)
rs_prompts = 800           # stage 3: train math prompts rejection-sampled from stage 2
rs_family = 200            # stage 3: train prompts of the family (when it is not math)
rs_other = 100             # stage 3: train prompts each of countdown and code
rs_k = 4                   # stage 3: samples per prompt
rs_per_prompt = 2          # stage 3: most distinct kept answers per prompt
rs_chat = 300              # stage 3: chat examples answered without reasoning
rs_chat_quality = 0.7      # stage 3: chance a chat reply meets each rubric check (as the corpus)
rm_pairs = 4000            # reward model: training pairs (train-split chat prompts)
rm_eval_pairs = 500        # reward model: held-out pairs (test-split chat prompts)
rm_steps = 150             # reward model: optimizer steps
rm_batch = 16              # reward model: pairs per step
curve_n = 60               # held-out problems of the family in each small evaluation (as R1-Zero)
curve_k = 4                # samples per problem in each small evaluation
eval_n = 200               # held-out problems of math and of the family per stage (as R1-Zero)
eval_n_other = 50          # held-out problems of each other family
eval_k = 8                 # samples per problem
# -------------------------------------------------------------------------------------------
PRESETS = {'cpu': {},  # 'gpu' goes over grpo.OPTIONS' gpu preset
           'gpu': dict(cold_prompts=3000, steps=500, final_steps=300, rs_prompts=4000, rs_other=500,
                       rs_chat=1500, rm_pairs=20000, rm_steps=1000, rm_batch=32, final_lr=1.5e-5,
                       curve_n=200, curve_k=8, eval_n=500, eval_n_other=200)}
BOUNDS = {'last_stage': (1, 4), 'cold_prompts': (1, None), 'cold_k': (1, None),
          'sft_epochs': (0, None), 'sft_lr': (0, 1), 'sft_batch': (1, None),
          'language_weight': (0, None), 'final_steps': (0, None), 'final_chat_share': (0, 1),
          'final_beta': (0, None), 'final_lr': (0, 1), 'rs_prompts': (1, None),
          'rs_family': (0, None), 'rs_other': (0, None), 'rs_k': (1, None),
          'rs_per_prompt': (1, None), 'rs_chat': (0, None), 'rs_chat_quality': (0, 1),
          'rm_pairs': (1, None), 'rm_eval_pairs': (1, None), 'rm_steps': (1, None),
          'rm_batch': (1, None), 'curve_n': (1, None), 'curve_k': (1, None), 'eval_n': (1, None),
          'eval_n_other': (1, None), 'eval_k': (1, None)}
CHOICES = {'preset': ('auto', 'cpu', 'gpu'), 'family': ('auto', 'math', 'findx'),
           'cold_source': ('auto', 'zero', 'oracle'), 'oracle_style': ('careful', 'sloppy')}


def readable(problem, response):
    """Rewrite a kept response in R1's readable format (2.3.1): reasoning, summary line, answer."""
    parsed = rewards.parse_response(response)
    think, answer = ' '.join(parsed.think.split()), ' '.join(parsed.answer.split())
    summary = (f'所以答案是 {answer}。' if problem.lang == 'zh'
               else f'So the answer is {answer}.')
    return f' <think> {think} {summary} </think> <answer> {answer} </answer>'


def sound(text, problem):
    """The cold start's last filter: a findx search passes only if every check in it is true
    (probes.sound_search): a right answer via a false "yes" or a slip is no trace to imitate."""
    return problem.family != 'findx' or probes.sound_search(
        rewards.parse_response(text).think or '', problem)


def cold_start_data(cfg, tok, rng):
    """(examples, report): readable long-reasoning examples for stage 1."""
    problems = data.problems(cfg, 'train', cfg.cold_prompts, rng, cfg.family)
    has_zero = os.path.exists(os.path.join(cfg.zero_dir, 'ckpt.pt'))
    source = cfg.cold_source if cfg.cold_source != 'auto' else ('zero' if has_zero else 'oracle')
    if source == 'zero' and not has_zero:
        raise InputError(f"--cold_source=zero needs an R1-Zero run in {cfg.zero_dir}: "
                         f"run `python train_zero.py` first")
    if source == 'oracle' and cfg.dataset:
        raise InputError("the oracle cold start writes toy-world traces (traces.py); with "
                         "--dataset it needs R1-Zero's samples: "
                         "run `python train_zero.py --dataset=...` first")
    if source == 'oracle':
        if cfg.cold_source == 'auto':
            print(f"no R1-Zero run in {cfg.zero_dir}: the cold start uses oracle traces from "
                  f"traces.py as the human annotators (`python train_zero.py` first to use "
                  f"R1-Zero's own samples)")
        examples = []
        for p in problems:  # "human annotator": a search with no slip for findx, else oracle_style
            t = (traces.solve_findx(p, rng, 'search', error_rate=0.0, give_up=0.0)
                 if p.family == 'findx' else traces.solve_math(p, rng, cfg.oracle_style, 0.0))
            response = f' <think> {t.text} </think> <answer> {t.answer} </answer>'
            examples.append((tasks.render_prompt(p), readable(p, response)))
        short = sft.fitting(tok, examples, cfg.max_new_tokens)
        return short, {'source': 'oracle', 'traces': len(examples), 'kept_examples': len(short)}
    zero, ztok = load_model(cfg.zero_dir, cfg.device)
    kept = sft.rejection_sample(zero, ztok, problems, cfg.cold_k, render=tasks.render_prompt,
                                max_new_tokens=cfg.max_new_tokens, seed=cfg.seed, per_prompt=1,
                                extra=('sound', sound))
    print('cold start from R1-Zero samples:', sft.format_report(kept.report))
    first = {}  # one trace per distinct prompt: an equation drawn twice is not imitated twice
    for (prompt, resp), p in zip(kept.examples, kept.problems):
        first.setdefault(prompt, ((prompt, readable(p, resp)), p.family))
    examples = sft.fitting(tok, [ex for ex, _ in first.values()], cfg.max_new_tokens)
    per_family = dict(Counter(fam for _, fam in first.values()))  # filter_samples counted repeats
    return examples, {'source': 'zero', **kept.report, 'distinct_prompts': len(first),
                      'per_family': per_family, 'kept_examples': len(examples)}


def rejection_data(cfg, model, tok, rng):
    """Stage 3's mix: stage 2's rejection-sampled answers plus chat without reasoning. R1 reused
    DeepSeek-V3's SFT data (2.3.3); ours are the corpus's imperfect replies: stage 4 lifts them."""
    mix = [('math', cfg.rs_prompts), ('countdown', cfg.rs_other), ('code', cfg.rs_other)]
    if cfg.family != 'math':
        mix.insert(1, (cfg.family, cfg.rs_family))
    problems = [p for fam, n in mix for p in data.problems(cfg, 'train', n, rng, fam)]
    kept = sft.rejection_sample(model, tok, problems, cfg.rs_k, render=tasks.render_prompt,
                                max_new_tokens=cfg.max_new_tokens, seed=cfg.seed + 1,
                                max_tokens=cfg.max_new_tokens - 8, per_prompt=cfg.rs_per_prompt)
    print('rejection sampling from stage 2:', sft.format_report(kept.report))
    chat = []
    for p in data.problems(cfg, 'train', cfg.rs_chat, rng, 'chat'):
        reply = tasks.solve_chat(p, rng, quality=cfg.rs_chat_quality).answer
        chat.append((tasks.render_prompt(p), f' <think> </think> <answer> {reply} </answer>'))
    if not kept.examples:
        print('WARNING: rejection sampling kept no reasoning answer from stage 2; '
              'stage 3 sees chat only')
    return kept.examples + chat, {**kept.report, 'chat_examples': len(chat)}


def math_reward(cfg, problems, texts, ended):
    """Stage 2's reward (2.3.2): accuracy + format + language consistency; mixing is only logged."""
    rows = rewards.score(texts, problems, 'reasoning', ended,
                         weights={'language': cfg.language_weight})
    for row, t, p in zip(rows, texts, problems):
        row['mixed'] = float(rewards.is_mixed(t, p.lang))
    return rows


def all_reward(cfg, rm, tok, problems, texts, ended):
    """Stage 4's reward (2.3.4): rules, and on chat the reward model alone; rubric only logged."""
    m = [i for i, p in enumerate(problems) if p.family != 'chat']
    c = [i for i, p in enumerate(problems) if p.family == 'chat']
    rows = dict(zip(m, math_reward(cfg, [problems[i] for i in m], [texts[i] for i in m],
                                   [ended[i] for i in m])))
    scores = reward_model.score_texts(rm, tok, [tasks.render_prompt(problems[i]) for i in c],
                                      [texts[i] for i in c], ended=[ended[i] for i in c])
    for i, s in zip(c, scores):
        rows[i] = {'reward': s, 'rm_score': s, 'rubric': rewards.chat_score(texts[i], problems[i]),
                   'format': rewards.format_reward(texts[i], ended[i]),
                   'reflection': rewards.reflects(texts[i])}
    return [rows[i] for i in range(len(texts))]


def draw_prompts(cfg, tag, mix, step, round_):
    """grpo's draw_prompts: seeded by step and round, so a resumed stage draws the same."""
    rng = random.Random(f"{cfg.seed}:{tag}:{step}:{round_}")
    return data.rendered([p for f, n in mix if n for p in data.problems(cfg, 'train', n, rng, f)])


# ---- the stages (R1 2.3): each stage(ctx, folder) makes its model in folder --------------
# ctx, made by main: cfg, tok, results (eval.json's contents), eval_path, held_out (every family's),
# curve (the RL stages' small evaluation), models (each stage's, once made or loaded) and made_from
# (a stage's outside input: the digest of the R1-Zero checkpoint a cold start samples).

def evaluate_all(ctx, name, model, step, folder):
    if name not in ctx.results['models']:
        print(f'evaluating {name} on every family...')
    evaluation.record(ctx.results, ctx.eval_path, name, model, ctx.tok, ctx.held_out,
                      k=ctx.cfg.eval_k, max_new_tokens=ctx.cfg.max_new_tokens, step=step,
                      checkpoint=os.path.join(folder, 'ckpt.pt'))
    report.write_report([ctx.cfg.out_dir], quiet=True)  # refresh the page after every stage


def fine_tune(ctx, folder, what, make_data, *args):
    """SFT of the base on data.jsonl, made once by make_data(*args) (its report into eval.json)."""
    cfg, name, data_path = ctx.cfg, os.path.basename(folder), os.path.join(folder, 'data.jsonl')
    if not os.path.exists(data_path):
        examples, made = make_data(*args)
        ctx.results['stages'][f'{name}_data'] = made
        write_json(ctx.eval_path, ctx.results)
        if not examples:
            raise InputError(f'{what} kept no examples ({sft.format_report(made)}); '
                             'nothing to fine-tune on')
        sft.write_examples(data_path, examples)
    settings = sft.OPTIONS.settings(
        device=cfg.device, epochs=cfg.sft_epochs, batch_size=cfg.sft_batch, lr=cfg.sft_lr,
        min_lr=cfg.sft_lr / 10, log_interval=20, ckpt_interval=50, seed=cfg.seed, dtype=cfg.dtype,
        kernels=cfg.kernels, out_dir=folder, resume=True)
    model, _ = load_model(cfg.base_dir, cfg.device)
    sft.train(model, ctx.tok, sft.read_examples(data_path), settings, name=name.replace('_', ' '))


def cold_start(ctx, folder):
    """Stage 1 (2.3.1): SFT of the base on readable long-reasoning examples."""
    fine_tune(ctx, folder, 'the cold start', cold_start_data, ctx.cfg, ctx.tok,
              random.Random(f"cold:{ctx.cfg.seed}"))


def reasoning_rl(ctx, folder):
    """Stage 2 (2.3.2): GRPO of the cold start on R1-Zero's family and math, half each."""
    cfg, mix = ctx.cfg, data.reasoning_mix(ctx.cfg.family, ctx.cfg.n_prompts)
    rl = grpo.OPTIONS.of(cfg, device=cfg.device, out_dir=folder, resume=True)  # cfg's GRPO keys
    grpo.train(ctx.models['cold_start'], ctx.tok, rl, reward_fn=partial(math_reward, cfg),
               draw_prompts=partial(draw_prompts, cfg, 'reason', mix), evaluate=ctx.curve,
               on_eval=lambda: report.write_report([cfg.out_dir], quiet=True),
               name='reasoning')


def rejection_sft(ctx, folder):
    """Stage 3 (2.3.3): SFT of the base, not stage 2, on stage 2's rejection samples plus chat."""
    fine_tune(ctx, folder, 'rejection sampling', rejection_data, ctx.cfg,
              ctx.models['reasoning_rl'], ctx.tok, random.Random(f"rs:{ctx.cfg.seed}"))


def reward_model_stage(ctx, folder):
    """Stage 4's reward model (2.3.4): the base with a scalar head, on rubric-ranked chat pairs."""
    cfg = ctx.cfg
    body, _ = load_model(cfg.base_dir, cfg.device)
    rm = reward_model.train_reward_model(
        body, ctx.tok, reward_model.chat_pairs(cfg.rm_pairs, 'train', cfg.seed), steps=cfg.rm_steps,
        batch_size=cfg.rm_batch, device=cfg.device, dtype=cfg.dtype, seed=cfg.seed, out_dir=folder)
    acc = reward_model.pair_accuracy(rm, ctx.tok,
                                     reward_model.chat_pairs(cfg.rm_eval_pairs, 'test', cfg.seed))
    print(f'reward model: held-out pair accuracy {acc:.3f}')
    reward_model.save_reward_model(folder, rm, ctx.tok, pair_accuracy=acc)
    ctx.results['stages']['reward_model'] = {'held_out_pair_accuracy': acc,
                                             'train_pairs': cfg.rm_pairs,
                                             'held_out_pairs': cfg.rm_eval_pairs}


def all_scenario_rl(ctx, folder):
    """Stage 4 (2.3.4): GRPO of stage 3 on stage 2's reasoning prompts and chat prompts."""
    cfg = ctx.cfg
    n_chat = round(cfg.n_prompts * cfg.final_chat_share)
    mix = [('chat', n_chat)] + data.reasoning_mix(cfg.family, cfg.n_prompts - n_chat)
    rl = grpo.OPTIONS.of(cfg, device=cfg.device, out_dir=folder, resume=True, steps=cfg.final_steps,
                         lr=cfg.final_lr, beta=cfg.final_beta)
    rm = ctx.models['reward_model']
    grpo.train(ctx.models['rejection_sft'], ctx.tok, rl,
               reward_fn=partial(all_reward, cfg, rm, ctx.tok),
               draw_prompts=partial(draw_prompts, cfg, 'all', mix), evaluate=ctx.curve,
               on_eval=lambda: report.write_report([cfg.out_dir], quiet=True),
               name='all-scenario')


# R1's recipe (2.3), in order. A stage: its name (its folder under out_dir and its eval.json block),
# make(ctx, folder), which trains its model into folder, the --last_stage it belongs to, and the
# config key of the step its eval.json block records (None: 0)
Stage = namedtuple('Stage', 'name make last_stage step_key')
STAGES = [Stage('cold_start', cold_start, 1, None), Stage('reasoning_rl', reasoning_rl, 2, 'steps'),
          Stage('rejection_sft', rejection_sft, 3, None),
          Stage('reward_model', reward_model_stage, 4, None),
          Stage('r1', all_scenario_rl, 4, 'final_steps')]


def run_stage(ctx, stage):
    """Make, resume or skip (module docstring) one row of STAGES, then load and evaluate it."""
    cfg, results, name = ctx.cfg, ctx.results, stage.name
    folder = lambda stage: os.path.join(cfg.out_dir, stage)
    is_rm = name == 'reward_model'  # on the base alone: nothing makes it stale; it makes r1 stale
    inputs, made_from = results['stages'].setdefault('made_from', {}), ctx.made_from.get(name)
    stale = made_from is not None and inputs.get(name) not in (None, made_from)
    if (stale or not (is_rm or name in results['models'])
            or not os.path.exists(os.path.join(folder(name), 'ckpt.pt'))):
        results['models'].pop(name, None)
        stamp = time.strftime('%Y%m%d-%H%M%S')
        if stale and os.path.exists(folder(name)):
            os.replace(folder(name), f'{folder(name)}.stale-{stamp}')
            print(f'{name}: its input changed since it was made: '
                  f'moved the stale {folder(name)} aside')
        if made_from is not None:
            inputs[name] = made_from
        chain = [s.name for s in STAGES if s.name != 'reward_model']
        for other in ['r1'] if is_rm else chain[chain.index(name) + 1:]:  # built on it: now stale
            results['models'].pop(other, None)
            if os.path.exists(folder(other)):
                os.replace(folder(other), f'{folder(other)}.stale-{stamp}')
                print(f'{name} runs again: moved the stale {folder(other)} aside')
        write_json(os.path.join(folder(name), 'config.json'), cfg)  # makes the folder
        ctx.tok.save(os.path.join(folder(name), 'tokenizer.json'))
        t = time.time()
        stage.make(ctx, folder(name))
        results['seconds'][name] = round(time.time() - t, 1)
        write_json(ctx.eval_path, results)
    load = reward_model.load_reward_model if is_rm else load_model
    ctx.models[name], _ = load(folder(name), cfg.device)
    if not is_rm:
        step = getattr(cfg, stage.step_key) if stage.step_key else 0
        evaluate_all(ctx, name, ctx.models[name], step, folder(name))


def main(argv=None):
    cfg = configure(globals(), argv, presets=PRESETS, bounds=BOUNDS, choices=CHOICES,
                    options=grpo.OPTIONS)
    ddp.one_process_only('train_r1.py')
    math_family = data.math_slot(cfg, 'train_r1.py')  # 'latex' for a MATH file: its eval.json key
    if cfg.family == 'auto':  # R1-Zero's: its samples make the cold start, its curve the comparison
        zero_cfg = read_json(os.path.join(cfg.zero_dir, 'config.json')) or {}
        cfg.family = zero_cfg.get('family') or ('math' if cfg.dataset else 'findx')
    if cfg.family not in ('math', 'findx'):
        raise InputError(f"train_r1.py reasons on math or findx; R1-Zero in {cfg.zero_dir} "
                         f"trained on {cfg.family!r} (pass --family=math or --family=findx)")
    cfg.device = get_device()
    cfg.dtype = resolve_dtype(cfg.dtype, cfg.device)
    print_config(cfg)
    t0 = time.time()
    out = cfg.out_dir
    write_json(os.path.join(out, 'config.json'), cfg)
    base, tok = ensure_base(cfg.base_dir, cfg.preset, cfg.pretrain_args, cfg.device)
    eval_path = os.path.join(out, 'eval.json')
    results = read_json(eval_path, {'models': {}})
    results.setdefault('stages', {})
    results.setdefault('seconds', {})
    zero_eval = read_json(os.path.join(cfg.zero_dir, 'eval.json'))
    if zero_eval and 'zero' in zero_eval['models']:
        results['models']['zero'] = zero_eval['models']['zero']  # R1-Zero's block, for comparison
    fam = cfg.family
    held_out = {f: data.problems(cfg, 'test', getattr(cfg, 'eval_n' if f in ('math', fam) else
                                                      'eval_n_other'), family=f)
                for f in dict.fromkeys(('math', fam, 'countdown', 'code', 'chat'))}
    curve = evaluation.curve_fn(tok, held_out[fam][:cfg.curve_n], cfg.curve_k, cfg.max_new_tokens)
    zero_ckpt = os.path.join(cfg.zero_dir, 'ckpt.pt')  # a new R1-Zero makes the cold start stale
    from_zero = cfg.cold_source != 'oracle' and os.path.exists(zero_ckpt)
    ctx = SimpleNamespace(cfg=cfg, tok=tok, results=results, eval_path=eval_path, curve=curve,
                          models={}, held_out=[p for ps in held_out.values() for p in ps],
                          made_from={'cold_start': file_digest(zero_ckpt)} if from_zero else {})
    evaluate_all(ctx, 'base', base, 0, cfg.base_dir)
    for stage in STAGES:
        if stage.last_stage > cfg.last_stage:
            break
        run_stage(ctx, stage)
        if stage.name == 'reasoning_rl':  # cold start helps (2.3.1)? stage 2's curve vs R1-Zero's
            results['stages']['cold_start_helps'] = compare_with_zero(
                cfg, os.path.join(out, stage.name), results, math_family if fam == 'math' else fam)
            write_json(eval_path, results)
    evaluation.write_results(results, eval_path, t0)
    report.write_report([out])
    return results


def compare_with_zero(cfg, reason_dir, results, family='math'):
    """Cold start helps (R1 2.3.1): the first stage 2 step whose curve pass@1 reaches R1-Zero's
    last curve point, as a share of R1-Zero's steps; and the final pass@1 of both."""
    zero_curve = [r for r in read_jsonl(os.path.join(cfg.zero_dir, 'metrics.jsonl'))
                  if 'eval_pass@1' in r]
    ours = [r for r in read_jsonl(os.path.join(reason_dir, 'metrics.jsonl')) if 'eval_pass@1' in r]
    if not zero_curve or not zero_curve[-1]['step'] or 'zero' not in results['models']:
        return {'note': f"no R1-Zero run in {cfg.zero_dir} to compare with"}
    target, zero_steps = zero_curve[-1]['eval_pass@1'], zero_curve[-1]['step']
    reached = next((r['step'] for r in ours if r['eval_pass@1'] >= target), None)
    out = {'zero_final_curve_pass@1': target, 'zero_steps': zero_steps, 'reached_at_step': reached,
           'reached_share_of_zero_steps': None if reached is None else reached / zero_steps,
           'zero_final_pass@1': results['models']['zero']['tasks'][family]['pass@1'],
           'stage2_final_pass@1': results['models']['reasoning_rl']['tasks'][family]['pass@1']}
    print('cold start helps?', out)
    return out


if __name__ == '__main__':
    with input_errors():
        main(sys.argv[1:])
