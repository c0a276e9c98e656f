"""Distillation: small students learn R1's reasoning from its outputs (R1 section 2.4, Tables 5-6).

DeepSeek fine-tuned Qwen2.5 and Llama models on 800k samples curated with R1: a distilled small
model beats the same model trained by large-scale RL (Table 6). We do the same in miniature:
  1. the teacher (out/r1/r1, R1's final checkpoint; --teacher for any other) answers train prompts
     of math, findx, countdown and code k times each; rejection sampling keeps the correct, ended,
     single-language, short and non-repetitive answers (sft.filter_samples, as R1's stage 3);
  2. student bases are pretrained from scratch (pretrain.py): two smaller sizes of the teacher's
     family, and a deeper, narrower one without attention biases or tied embeddings, as the Llamas;
  3. each student is fine-tuned on the teacher's data with sft.py (SFT only, as the paper);
  4. the baseline: one student's base (rl_student) trained by the R1-Zero recipe (grpo.py, accuracy
     + format on math and findx, half each) for at least rl_steps steps and the wall clock its
     distillation took (teacher sampling + its SFT); eval.json's "budget" records both sides;
  5. evaluation.py of every model on held-out math, findx, countdown, code; out/distill/eval.json.

Chat is left out of the teacher data: Table 5 measures reasoning, and no rule can tell a correct
chat answer (R1 used DeepSeek-V3's non-reasoning data there).

  python distill.py                       # cpu preset, from out/r1 (python train_r1.py makes it)
  python distill.py --teacher=out/zero    # distil R1-Zero instead
"""
import os
import random
import sys
import time

import data
import ddp
import evaluation
import grpo
import report
import rewards
import sft
import tasks
from checkpoint import load_model, read_json, run_script, write_json
from config import InputError, configure, get_device, input_errors, print_config, resolve_dtype
from hf import is_hf_folder

# ---- config: plain names, one comment each; override with --key=value -------------------
preset = 'auto'            # 'auto' picks 'gpu' when CUDA is present, else 'cpu'
teacher = 'out/r1/r1'      # the teacher's run folder (python train_r1.py makes it) or a HF folder
dataset = ''               # a GSM8K / MATH / Countdown file (data.py) for the toy world's math
eval_dataset = ''          # its evaluation file; '' = the dataset's held-out 10% (as train_zero.py)
out_dir = 'out/distill'    # run folder: data.jsonl, a folder per student base and student
students = 'qwen_s,qwen_m,llama_m'  # names of STUDENTS below, or Hugging Face model folders
rl_student = 'qwen_m'      # the student base the RL baseline starts from (a name or folder)
math_prompts = 1500        # teacher data: train math prompts
findx_prompts = 400        # teacher data: train findx prompts (answers ~3x as long as math's)
other_prompts = 300        # teacher data: train prompts each of countdown and code
k = 4                      # teacher samples per prompt
per_prompt = 2             # most distinct kept answers per prompt
sft_epochs = 2.0           # passes over the teacher data
sft_lr = 1e-3              # SFT peak learning rate (small students want more)
sft_batch = 16             # SFT examples per step
rl_steps = 60              # RL baseline: at least this many GRPO steps (R1-Zero's recipe otherwise)
rl_max_steps = 400         # RL baseline: at most this many, however long distillation took
pretrain_args = ''         # extra --key=value flags for every student's pretrain.py run
max_new_tokens = 256       # longest response, teacher and students (a findx search: ~160 tokens)
eval_n = 200               # held-out math problems, and findx problems, per model
eval_n_other = 50          # held-out problems of countdown and code per model
eval_k = 8                 # samples per problem
seed = 0                   # seeds prompts, sampling, data order
dtype = 'auto'             # 'float32', 'bfloat16', or 'auto' (bfloat16 where measured faster)
kernels = 'auto'           # log-prob path: 'auto' (Triton on CUDA, torch on CPU), 'torch', 'triton'
# -------------------------------------------------------------------------------------------
# The cpu teacher is 4 layers x 192 wide, no attention biases, tied embeddings (1.8M parameters).
STUDENTS = {  # pretrain.py flags (each run is its own process, so nothing carries over)
    'qwen_s': dict(n_layer=2, n_embd=96, n_head=4, n_kv_head=2, qkv_bias=True, tie_embeddings=True),
    'qwen_m': dict(n_layer=3, n_embd=128, n_head=4, n_kv_head=2, qkv_bias=True,
                   tie_embeddings=True),
    'llama_m': dict(n_layer=6, n_embd=96, n_head=4, n_kv_head=2, qkv_bias=False,
                    tie_embeddings=False)}
PRESETS = {'cpu': {},
           'gpu': dict(teacher='out/r1/r1', math_prompts=8000, findx_prompts=3000,
                       other_prompts=2000, rl_steps=400, eval_n=500, eval_n_other=200)}
BOUNDS = {'math_prompts': (1, None), 'findx_prompts': (0, None), 'other_prompts': (0, None),
          'k': (1, None), 'per_prompt': (1, None), 'sft_epochs': (0, None), 'sft_lr': (0, 1),
          'sft_batch': (1, None), 'rl_steps': (0, None), 'rl_max_steps': (0, None),
          'max_new_tokens': (1, None), 'eval_n': (1, None), 'eval_n_other': (1, None),
          'eval_k': (1, None)}
CHOICES = {'preset': ('auto', 'cpu', 'gpu'), 'dtype': ('auto', 'float32', 'bfloat16'),
           'kernels': ('auto', 'torch', 'triton')}


def student_names(cfg):
    """{name: base folder} of the students: ours are pretrained into out_dir/base_<name>; a Hugging
    Face folder (as the paper's Qwen2.5 and Llama students) is its own base, named by its folder."""
    bases = {}
    for n in filter(None, cfg.students.split(',')):
        if is_hf_folder(n):
            name = os.path.basename(os.path.normpath(n))
            if name in bases or name in STUDENTS:
                raise InputError(f'two students would both be called {name!r}; rename a folder')
            bases[name] = n
        elif n in STUDENTS:
            bases[n] = os.path.join(cfg.out_dir, f'base_{n}')
        else:
            raise InputError(f"unknown student {n!r}; choose from {', '.join(STUDENTS)}, "
                             f"or give a Hugging Face model folder")
    if not bases:
        raise InputError(f"no student in --students={cfg.students!r}")
    rl = os.path.basename(os.path.normpath(cfg.rl_student))
    if cfg.rl_steps and rl not in bases:
        raise InputError(f"--rl_student={cfg.rl_student} is not one of --students={cfg.students}")
    return bases


def teacher_data(cfg, teacher, tok):
    """The teacher's kept answers to train prompts of the reasoning families."""
    rng = random.Random(f"distill:{cfg.seed}")
    problems = [p for fam, n in (('math', cfg.math_prompts), ('findx', cfg.findx_prompts),
                                 ('countdown', cfg.other_prompts), ('code', cfg.other_prompts))
                for p in data.problems(cfg, 'train', n, rng, fam)]
    kept = sft.rejection_sample(teacher, tok, problems, cfg.k, render=tasks.render_prompt,
                                max_new_tokens=cfg.max_new_tokens, seed=cfg.seed,
                                max_tokens=cfg.max_new_tokens - 8, per_prompt=cfg.per_prompt)
    print('teacher data:', sft.format_report(kept.report))
    return kept.examples, kept.report


def main(argv=None):
    cfg = configure(globals(), argv, presets=PRESETS, bounds=BOUNDS, choices=CHOICES)
    ddp.one_process_only('distill.py')
    data.math_slot(cfg, 'distill.py')
    cfg.device = get_device()
    cfg.dtype = resolve_dtype(cfg.dtype, cfg.device)
    print_config(cfg)
    bases = student_names(cfg)
    if not os.path.exists(os.path.join(cfg.teacher, 'ckpt.pt')) and not is_hf_folder(cfg.teacher):
        raise InputError(f"no teacher checkpoint in {cfg.teacher}: run `python train_r1.py` first "
                         f"(or pass --teacher=<run folder>, e.g. out/zero)")
    t0 = time.time()
    out = cfg.out_dir
    write_json(os.path.join(out, 'config.json'), cfg)  # (makes out_dir)
    eval_path = os.path.join(out, 'eval.json')
    results = read_json(eval_path, {'models': {}})
    seconds = results.setdefault('seconds', {})
    teacher, ttok = load_model(cfg.teacher, cfg.device)
    held_out = [p for fam, n in (('math', cfg.eval_n), ('findx', cfg.eval_n),
                                 ('countdown', cfg.eval_n_other), ('code', cfg.eval_n_other))
                for p in data.problems(cfg, 'test', n, family=fam)]

    def evaluate(name, model, tok, step):
        ckpt = os.path.join(cfg.teacher if name == 'teacher' else os.path.join(out, name),
                            'ckpt.pt')
        evaluation.record(results, eval_path, name, model, tok, held_out, k=cfg.eval_k,
                          max_new_tokens=cfg.max_new_tokens, step=step, checkpoint=ckpt)
        report.write_report([out], quiet=True)  # refresh the page after every model
    evaluate('teacher', teacher, ttok, 0)
    data_path = os.path.join(out, 'data.jsonl')
    if not os.path.exists(data_path):
        t = time.time()
        examples, made = teacher_data(cfg, teacher, ttok)
        results['teacher_data'] = made
        write_json(eval_path, results)
        if not examples:
            raise InputError(f"the teacher in {cfg.teacher} got no sample through rejection "
                             f"sampling ({sft.format_report(made)}); it is too weak to distil")
        sft.write_examples(data_path, examples)
        seconds['teacher_sampling'] = round(time.time() - t, 1)
        write_json(eval_path, results)
    examples = sft.read_examples(data_path)
    for name, base_dir in bases.items():
        if not os.path.exists(os.path.join(base_dir, 'ckpt.pt')) and not is_hf_folder(base_dir):
            t = time.time()
            flags = [f'--{k}={v}' for k, v in STUDENTS[name].items()] + ['--eval_n=0']
            run_script('pretrain.py', f"--preset={cfg.preset}", f'--out_dir={base_dir}', *flags,
                       *cfg.pretrain_args.split())
            seconds[f'pretrain_{name}'] = round(time.time() - t, 1)
        base, tok = load_model(base_dir, cfg.device)
        evaluate(f'base_{name}', base, tok, 0)
        sft_dir = os.path.join(out, f'distill_{name}')
        if f'distill_{name}' not in results['models']:
            t = time.time()
            os.makedirs(sft_dir, exist_ok=True)
            tok.save(os.path.join(sft_dir, 'tokenizer.json'))
            mine = sft.fitting(tok, examples, cfg.max_new_tokens)  # in this student's own tokens
            print(f'distill {name}: {len(mine)} of {len(examples)} teacher examples '
                  f'fit {cfg.max_new_tokens} tokens')
            sft.train(base, tok, mine, sft.OPTIONS.settings(
                device=cfg.device, epochs=cfg.sft_epochs, batch_size=cfg.sft_batch, lr=cfg.sft_lr,
                min_lr=cfg.sft_lr / 10, log_interval=50, ckpt_interval=100, seed=cfg.seed,
                dtype=cfg.dtype, kernels=cfg.kernels, out_dir=sft_dir, resume=True
            ), name=f'distill {name}')
            seconds[f'sft_{name}'] = round(time.time() - t, 1) + seconds.get(f'sft_{name}', 0)
        student, tok = load_model(sft_dir, cfg.device)
        evaluate(f'distill_{name}', student, tok, 0)
    s = os.path.basename(os.path.normpath(cfg.rl_student))
    rl_name = f'rl_{s}'
    if cfg.rl_steps and rl_name not in results['models']:
        policy, tok = load_model(bases[s], cfg.device)
        rl_dir = os.path.join(out, rl_name)
        os.makedirs(rl_dir, exist_ok=True)
        tok.save(os.path.join(rl_dir, 'tokenizer.json'))
        rl = grpo.OPTIONS.settings(
            cfg.preset, device=cfg.device, max_new_tokens=cfg.max_new_tokens, eval_interval=0,
            ckpt_interval=25, seed=cfg.seed, dtype=cfg.dtype, kernels=cfg.kernels, out_dir=rl_dir,
            resume=True)

        def prompts(step, round_):  # R1-Zero's recipe on the teacher's reasoning families
            rng = random.Random(f"{cfg.seed}:distill-rl:{step}:{round_}")
            return data.rendered([p for fam, n in data.reasoning_mix('findx', rl.n_prompts)
                                  for p in data.problems(cfg, 'train', n, rng, fam)])
        target = seconds.get('teacher_sampling', 0) + seconds.get(f'sft_{s}', 0)
        steps, t = cfg.rl_steps, time.time()
        while True:  # chunks of steps, resumed bit-identically, until the wall clock matches
            rl.steps = steps
            grpo.train(policy, tok, rl, draw_prompts=prompts, name=f'rl {s}',
                       reward_fn=lambda problems, texts, ended:
                           rewards.score(texts, problems, 'zero', ended))
            spent = time.time() - t + seconds.get(rl_name, 0)
            if spent >= target or steps >= cfg.rl_max_steps:
                break
            steps = min(cfg.rl_max_steps, steps + 20)
        seconds[rl_name] = round(spent, 1)
        results['budget'] = {  # matched in student-side wall clock; teacher training is not counted
            'distill_seconds': target, 'rl_seconds': seconds[rl_name], 'rl_steps': steps,
            'sft_examples': len(examples), 'sft_epochs': cfg.sft_epochs, 'student': s}
        evaluate(rl_name, policy, tok, steps)
    evaluation.write_results(results, eval_path, t0)
    report.write_report([out])
    return results


if __name__ == '__main__':
    with input_errors():
        main(sys.argv[1:])
