"""R1-Zero: reasoning from pure RL, with no supervised fine-tuning (R1 section 2.2).

DeepSeek-R1-Zero took DeepSeek-V3-Base and ran GRPO on reasoning prompts with two rule-based
rewards, accuracy and format, under a template that only asks for <think> and <answer> tags
(Table 1). Nothing told it how to reason. Its held-out accuracy climbed (Figure 2), its
answers grew longer (Figure 3), and it began to re-check its work (the "aha moment",
Table 3). This script does the same to our tiny base:

  1. load out/base (or pretrain it first with pretrain.py when it is missing),
  2. evaluate the base on held-out problems (eval.py: pass@1, maj@k, format, length, reflection),
  3. GRPO (grpo.py) on train-split prompts, reward = accuracy + format (rewards.py), with a
     small held-out evaluation every eval_interval steps for the curves,
  4. evaluate the result and write out/zero/eval.json with the blocks 'base' and 'zero'.

The prompts are findx ("Find x: x + 7 - 3 = 12"), the family where checking a guess is easier
than producing the answer: there the base's search style pays, and RL spreads it, so all three
curves show. On the math family accuracy rises but answers do not lengthen (README, findings).

What we simplify: a toy world (tasks.py) instead of AIME; a ~2M-parameter base; 100 RL steps
instead of thousands; one process.

  python train_zero.py                      # cpu preset: 17-26 minutes on our 2 cores, base included
  python train_zero.py --preset=gpu         # one GPU: larger base, harder problems
  python train_zero.py --resume             # continue out/zero from its last checkpoint
  python train_zero.py --family=math --max_new_tokens=128 --out_dir=out/zero_math   # the math world
  python train_zero.py --base_dir=Qwen2.5-0.5B --dataset=gsm8k/train.jsonl --eval_dataset=gsm8k/test.jsonl
"""
import os
import random
import sys
import time

import torch

import data
import ddp
import eval as evaluation
import grpo
import rewards
from checkpoint import ensure_base, read_json, write_json
from hf import is_hf_folder
from config import InputError, configure, get_device, input_errors, print_config, resolve_dtype

# ---- config: plain names, one comment each; override with --key=value -------------------
preset = 'auto'            # 'auto' picks 'gpu' when CUDA is present, else 'cpu'
base_dir = 'out/base'      # the base: our run folder (pretrain.py makes it when missing) or a Hugging Face folder
pretrain_args = ''         # extra --key=value flags for pretrain.py when it has to make the base
out_dir = 'out/zero'       # run folder of this stage
family = 'auto'            # task family of the prompts and evaluation: 'auto' = findx, or math with --dataset
dataset = ''               # a GSM8K / MATH / Countdown file (data.py) in place of the toy world's math
eval_dataset = ''          # its evaluation file; '' = the dataset's held-out 10% (split by canonical form)
steps = 100                # GRPO steps (fits the 20-minute CPU budget, base included; the curve flattens after ~100)
n_prompts = 16             # prompts per step
group_size = 8             # G: responses sampled per prompt
max_new_tokens = 256       # longest response (prompt + response must fit the base's 384-token context)
temperature = 1.0          # rollout temperature (the paper: 1.0)
lr = 1e-4                  # AdamW learning rate (tiny models want far more than the paper's 3e-6)
warmup_steps = 10          # linear warmup steps
lr_decay = False           # cosine decay to 10% after warmup (else constant)
weight_decay = 0.0         # AdamW weight decay during RL
grad_clip = 1.0            # global gradient-norm clip (0 = off)
beta = 0.0                 # KL weight to the reference (paper R1-Zero: 0.001); 0 skips the reference model
eps_low = 0.2              # clip range below 1
eps_high = 0.2             # clip range above 1 (raise it for DAPO's clip-higher)
loss_agg = 'token'         # 'grpo' (per response, DeepSeekMath), 'token' (DAPO), 'dr_grpo'
scale_std = True           # divide advantages by the group's std (Dr. GRPO turns this off)
mu = 1                     # passes over each batch; > 1 needs old log-probs (a no-grad forward)
minibatches = 1            # optimizer steps per pass over the batch
micro_batch = 32           # rows per forward/backward, longest first (32 cuts padding that 64 keeps)
dynamic_sampling = False   # drop groups whose rewards are all equal and refill (DAPO)
max_refill = 2             # extra sampling rounds dynamic sampling may take per step
overlong_buffer = 0        # DAPO soft overlong penalty over the last N tokens (0 = off)
ref_reset = 400            # copy the policy into the reference every N steps (paper: 400)
eval_interval = 25         # steps between the small held-out evaluations of the curves
curve_n = 60               # held-out problems in each small evaluation
curve_k = 4                # samples per problem in each small evaluation
eval_n = 200               # held-out problems in the final evaluations of base and zero
eval_k = 8                 # samples per problem (pass@1 over k, maj@k)
ckpt_interval = 50         # steps between checkpoints
seed = 0                   # seeds prompts, rollouts and minibatch order
dtype = 'auto'             # 'float32', 'bfloat16', or 'auto' (bfloat16 on GPUs that have it)
kernels = 'auto'           # log-prob path: 'auto' (Triton on CUDA, torch on CPU), 'torch', 'triton'
resume = False             # continue from out_dir/ckpt.pt
# -------------------------------------------------------------------------------------------

PRESETS = {
    'cpu': {},
    'gpu': dict(steps=1000, n_prompts=32, group_size=16, max_new_tokens=256, lr=5e-5, beta=0.001,
                micro_batch=128, curve_n=200, curve_k=8, eval_n=500, eval_interval=50),
}
BOUNDS = {'steps': (0, None), 'n_prompts': (1, None), 'group_size': (2, None), 'max_new_tokens': (1, None),
          'temperature': (0.01, 10), 'lr': (0, 1), 'warmup_steps': (0, None), 'weight_decay': (0, None),
          'grad_clip': (0, None), 'beta': (0, None), 'eps_low': (0, 1), 'eps_high': (0, None), 'mu': (1, None),
          'minibatches': (1, None), 'micro_batch': (1, None), 'max_refill': (0, None),
          'overlong_buffer': (0, None), 'ref_reset': (0, None), 'eval_interval': (0, None),
          'curve_n': (1, None), 'curve_k': (1, None), 'eval_n': (1, None), 'eval_k': (1, None),
          'ckpt_interval': (0, None)}
CHOICES = {'preset': ('auto', 'cpu', 'gpu'), 'family': ('auto', 'math', 'countdown', 'code', 'findx'),
           'loss_agg': ('grpo', 'token', 'dr_grpo'), 'dtype': ('auto', 'float32', 'bfloat16'),
           'kernels': ('auto', 'torch', 'triton')}


def main(argv=None):
    cfg = configure(globals(), argv, presets=PRESETS, bounds=BOUNDS, choices=CHOICES)
    ddp.init()  # under torchrun: every process samples and trains on its share of the prompts (ddp.py)
    main = ddp.is_main()  # rank 0 alone evaluates and writes eval.json
    cfg['device'] = get_device()
    cfg['dtype'] = resolve_dtype(cfg['dtype'], cfg['device'])
    if cfg['family'] == 'auto':
        cfg['family'] = 'math' if cfg['dataset'] else 'findx'  # a dataset file fills the math slot (data.py)
    if cfg['dataset'] and cfg['family'] != 'math':
        raise InputError(f"--dataset takes the place of the toy world's math: it cannot go with --family={cfg['family']}")
    grpo.check_parallel(cfg)  # before the base is evaluated, not after
    if main:
        print_config(cfg)
    torch.manual_seed(cfg['seed'])
    t0 = time.time()
    policy, tok, _ = ensure_base(cfg['base_dir'], cfg['preset'], cfg['pretrain_args'], cfg['device'])
    os.makedirs(cfg['out_dir'], exist_ok=True)
    if main:
        tok.save(os.path.join(cfg['out_dir'], 'tokenizer.json'))
        write_json(os.path.join(cfg['out_dir'], 'config.json'), cfg)

    held_out = data.problems(cfg, 'test', cfg['eval_n'], family=cfg['family'])
    curve_set = held_out[:cfg['curve_n']]
    eval_path = os.path.join(cfg['out_dir'], 'eval.json')
    results = read_json(eval_path, {'models': {}}) if cfg['resume'] else {'models': {}}
    if main and 'base' not in results['models']:
        print('evaluating the base...')
        base = evaluation.evaluate(policy, tok, held_out, k=cfg['eval_k'], max_new_tokens=cfg['max_new_tokens'])
        made = cfg['base_dir'] if is_hf_folder(cfg['base_dir']) else os.path.join(cfg['base_dir'], 'ckpt.pt')
        results['models']['base'] = {'step': 0, 'checkpoint': made,
                                     'tasks': base}
        write_json(eval_path, results)
    if main:
        print(evaluation.format_block('base', results['models']['base']['tasks']))

    def draw_prompts(step, round_):
        rng = random.Random(f"{cfg['seed']}:{step}:{round_}")
        return data.problems(cfg, 'train', cfg['n_prompts'], rng, family=cfg['family'])

    def reward_fn(problems, texts, ended):
        return rewards.score(texts, problems, 'zero', ended)

    curve = evaluation.curve_fn(tok, curve_set, cfg['curve_k'], cfg['max_new_tokens'])

    grpo.train(policy, tok, cfg, draw_prompts=draw_prompts, reward_fn=reward_fn, evaluate=curve, name='zero')
    if not main:
        return

    print('evaluating R1-Zero...')
    zero = evaluation.evaluate(policy, tok, held_out, k=cfg['eval_k'], max_new_tokens=cfg['max_new_tokens'])
    results['models']['zero'] = {'step': cfg['steps'], 'checkpoint': os.path.join(cfg['out_dir'], 'ckpt.pt'),
                                 'tasks': zero}
    write_json(eval_path, results)
    print(evaluation.format_block('base', results['models']['base']['tasks']))
    print(evaluation.format_block('zero', zero))
    evaluation.plot_run(cfg['out_dir'])
    print(f'done in {time.time() - t0:.0f}s; results in {eval_path}')


if __name__ == '__main__':
    with input_errors():
        main(sys.argv[1:])
    ddp.finish()  # all processes leave together (ddp.py)
