"""R1-Zero: reasoning from pure RL, with no supervised fine-tuning (R1 section 2.2).

DeepSeek-R1-Zero ran GRPO on DeepSeek-V3-Base with reasoning prompts, two rule-based rewards
(accuracy and format) and a template asking only for <think> and <answer> tags (Table 1). Nothing
told it how to reason. Its held-out accuracy climbed (Figure 2), its answers grew longer
(Figure 3), and it began to re-check its work (the "aha moment", Table 3). We repeat it on our base:
  1. load out/base (or pretrain it first with pretrain.py when it is missing),
  2. score the base on held-out problems (evaluation.py: pass@1, maj@k, format, length, reflection),
  3. GRPO (grpo.py) on train prompts, reward = accuracy + format (rewards.py), with held-out curves,
  4. evaluate the result and write out/zero/eval.json with the blocks 'base' and 'zero'.

The prompts are findx ("Find x: x + 7 - 3 = 12"), where checking a guess is easier than finding the
answer: there the base's search style pays, and RL spreads it, so all three curves show. On math,
accuracy rises but answers do not lengthen (README, findings). We simplify: a toy world (tasks.py)
instead of AIME; a ~2M-parameter base; 100 RL steps instead of thousands; one process.

  python train_zero.py                # cpu preset: 17-26 minutes on our 2 cores, base included
  python train_zero.py --preset=gpu   # one GPU: larger base, harder problems
  python train_zero.py --resume       # continue out/zero from its last checkpoint
  python train_zero.py --family=math --max_new_tokens=128 --out_dir=out/zero_math   # the math world
  python train_zero.py --base_dir=Qwen2.5-0.5B --dataset=gsm8k/train.jsonl \\
      --eval_dataset=gsm8k/test.jsonl
"""
import os
import random
import sys
import time

import torch

import data
import ddp
import evaluation
import grpo
import report
import rewards
from checkpoint import ensure_base, read_json, write_json
from hf import is_hf_folder
from config import InputError, configure, get_device, input_errors, print_config, resolve_dtype

# ---- config: plain names, one comment each; override with --key=value -------------------
# The script's own keys; the GRPO keys (--steps, --lr, ...) are defined once in grpo.OPTIONS.
preset = 'auto'            # 'auto' picks 'gpu' when CUDA is present, else 'cpu'
base_dir = 'out/base'      # the base: our run folder (pretrain.py makes it) or a HF folder
pretrain_args = ''         # extra --key=value flags for pretrain.py when it has to make the base
out_dir = 'out/zero'       # run folder of this stage
family = 'auto'            # family of prompts and evaluation: 'auto' = findx (math with --dataset)
dataset = ''               # a GSM8K / MATH / Countdown file (data.py) for the toy world's math
eval_dataset = ''          # its evaluation file; '' = the dataset's held-out 10%
curve_n = 60               # held-out problems in each small evaluation
curve_k = 4                # samples per problem in each small evaluation
eval_n = 200               # held-out problems in the final evaluations of base and zero
eval_k = 8                 # samples per problem (pass@1 over k, maj@k)
resume = False             # continue from out_dir/ckpt.pt
# -------------------------------------------------------------------------------------------
PRESETS = {'cpu': {}, 'gpu': dict(curve_n=200, curve_k=8, eval_n=500)}  # over grpo.OPTIONS' presets
BOUNDS = {'curve_n': (1, None), 'curve_k': (1, None), 'eval_n': (1, None), 'eval_k': (1, None)}
CHOICES = {'preset': ('auto', 'cpu', 'gpu'),
           'family': ('auto', 'math', 'countdown', 'code', 'findx')}


def main(argv=None):
    cfg = configure(globals(), argv, presets=PRESETS, bounds=BOUNDS, choices=CHOICES,
                    options=grpo.OPTIONS)
    ddp.init()  # torchrun: each process samples and trains on its share of the prompts (ddp.py)
    main = ddp.is_main()   # rank 0 alone evaluates and writes eval.json
    cfg.device = get_device()
    cfg.dtype = resolve_dtype(cfg.dtype, cfg.device)
    if cfg.family == 'auto':
        cfg.family = 'math' if cfg.dataset else 'findx'  # --dataset fills the math slot (data.py)
    if cfg.dataset and cfg.family != 'math':
        raise InputError(f"--dataset takes the place of the toy world's math: "
                         f"it cannot go with --family={cfg.family}")
    grpo.check_parallel(cfg)  # before the base is evaluated, not after
    held_out = data.problems(cfg, 'test', cfg.eval_n, family=cfg.family)  # bad --dataset fails now
    if main:
        print_config(cfg)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    policy, tok = ensure_base(cfg.base_dir, cfg.preset, cfg.pretrain_args, cfg.device)
    if main:
        write_json(os.path.join(cfg.out_dir, 'config.json'), cfg)  # (makes out_dir)
        tok.save(os.path.join(cfg.out_dir, 'tokenizer.json'))
    eval_path = os.path.join(cfg.out_dir, 'eval.json')
    results = read_json(eval_path, {'models': {}}) if cfg.resume else {'models': {}}
    samples_path = os.path.join(cfg.out_dir, 'eval_samples.jsonl')
    if main and not cfg.resume and os.path.exists(samples_path):
        os.remove(samples_path)  # a fresh run: no responses of an earlier run's models
    if main and 'base' not in results['models']:
        print('evaluating the base...')
        base = evaluation.evaluate(policy, tok, held_out, k=cfg.eval_k,
                                   max_new_tokens=cfg.max_new_tokens, save_to=(cfg.out_dir, 'base'))
        made = cfg.base_dir if is_hf_folder(cfg.base_dir) else os.path.join(cfg.base_dir, 'ckpt.pt')
        results['models']['base'] = {'step': 0, 'checkpoint': made, 'tasks': base}
        write_json(eval_path, results)
    if main:
        print(evaluation.format_block('base', results['models']['base']['tasks']))

    def draw_prompts(step, round_):
        rng = random.Random(f"{cfg.seed}:{step}:{round_}")
        return data.rendered(data.problems(cfg, 'train', cfg.n_prompts, rng, family=cfg.family))
    curve = evaluation.curve_fn(tok, held_out[:cfg.curve_n], cfg.curve_k, cfg.max_new_tokens,
                                run_dir=cfg.out_dir)
    grpo.train(policy, tok, cfg, draw_prompts=draw_prompts, evaluate=curve, name='zero',
               on_eval=lambda: report.write_report([cfg.out_dir], quiet=True),
               reward_fn=lambda problems, texts, ended:
                   rewards.score(texts, problems, 'zero', ended))
    if not main:
        return
    print('evaluating R1-Zero...')
    zero = evaluation.evaluate(policy, tok, held_out, k=cfg.eval_k,
                               max_new_tokens=cfg.max_new_tokens, save_to=(cfg.out_dir, 'zero'))
    results['models']['zero'] = {'step': cfg.steps,
                                 'checkpoint': os.path.join(cfg.out_dir, 'ckpt.pt'), 'tasks': zero}
    write_json(eval_path, results)
    print(evaluation.format_block('base', results['models']['base']['tasks']))
    print(evaluation.format_block('zero', zero))
    evaluation.plot_run(cfg.out_dir)
    report.write_report([cfg.out_dir])
    print(f'done in {time.time() - t0:.0f}s; results in {eval_path}')


if __name__ == '__main__':
    with input_errors():
        main(sys.argv[1:])
    ddp.finish()  # all processes leave together (ddp.py)
