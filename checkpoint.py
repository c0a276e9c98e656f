"""Run folders and checkpoints, written once and shared by every stage: out/<stage>/ holds ckpt.pt
(weights, model config, optimizer, step, RNG states, config), tokenizer.json, config.json,
metrics.jsonl (one JSON object per step) and eval.json.

Checkpoints go to a temp file, then are renamed (a crash never leaves half a file); they hold the
plain module (no `_orig_mod.` prefix) and load with weights_only=True (opening one runs no code)."""
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
from collections import namedtuple

import numpy as np
import torch

import ddp
from config import Config, InputError
from hf import HFError, is_hf_folder, load_hf
from model import ModelConfig, Transformer
from tokenizer import Tokenizer


def rng_state():
    """The global generators as plain tensors and tuples (weights_only loading accepts them): a
    safety net for library code using the globals; scripts save their own generators alike."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {'python': random.getstate(), 'torch': torch.get_rng_state(),
            'numpy': (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss)}


def set_rng_state(state):
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state['torch'])
    name, keys, pos, has_gauss, g = state['numpy']
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, g))


def save_checkpoint(path, model, **extra):
    """Atomically write {'model', 'model_config', **extra} to path (temp file, then rename)."""
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    core = getattr(model, '_orig_mod', model)  # the plain module, saved without the prefixes that
    core = getattr(core, 'module', core)       # torch.compile (_orig_mod.) or DDP (module.) add
    blob = {'model': core.state_dict(), 'model_config': vars(core.config).copy(), **extra}
    tmp = path + '.tmp'
    torch.save(blob, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, mmap=False):
    """Load a checkpoint dict, with a message that says what to do when it is missing or broken.
    mmap=True maps the tensors instead of reading them: cheap when only a small entry is wanted."""
    if not os.path.exists(path):
        raise FileNotFoundError(f'no checkpoint at {path}; run the stage that writes it first')
    try:
        blob = torch.load(path, map_location='cpu', weights_only=True, mmap=mmap)
    except Exception as e:  # truncated zip, wrong format, foreign pickle...
        raise InputError(f'checkpoint {path} is unreadable ({type(e).__name__}: {e}); '
                         f'it may be truncated: delete it and rerun the stage') from e
    for key in ('model', 'model_config'):
        if key not in blob:
            raise InputError(f'checkpoint {path} has no {key!r} entry; '
                             f'it was not written by nano-r1')
    return blob


def ckpt_path(path):
    """The ckpt.pt of a run folder, or path itself when it names the file."""
    return os.path.join(path, 'ckpt.pt') if os.path.isdir(path) else path


def saved_step(path):
    """The step a run folder's checkpoint was saved at (eval.json records it); 0 for a HF folder."""
    return (0 if is_hf_folder(path)
            else int(load_checkpoint(ckpt_path(path), mmap=True).get('step', 0)))


def load_model(path, device='cpu'):
    """(model, tokenizer) from a run folder, a ckpt.pt inside one, or a Hugging Face model folder
    (config.json + safetensors + tokenizer.json; hf.py): every script loads a model through here."""
    if is_hf_folder(path):
        model = load_hf(path, device)
        try:
            tok = Tokenizer.load(os.path.join(path, 'tokenizer.json'))
        except (OSError, ValueError) as e:  # missing or unsupported tokenizer: a bad input folder
            raise HFError(str(e)) from None
        return model, tok
    ckpt = ckpt_path(path)
    run_dir = os.path.dirname(ckpt)
    blob = load_checkpoint(ckpt)
    try:
        tok = Tokenizer.load(os.path.join(run_dir, 'tokenizer.json'))
    except ValueError as e:  # truncated, corrupt or foreign: a bad input, named by the message
        raise InputError(str(e)) from None
    cfg = ModelConfig(**blob['model_config'])
    with torch.device('meta'):  # no random init of weights we replace (seconds, and GBs, at 1B)
        model = Transformer(cfg)
    model.load_state_dict(blob['model'], assign=True)  # the checkpoint's tensors and dtype as saved
    if cfg.tie_embeddings:
        model.lm_head.weight = model.embed_tokens.weight  # assign=True untied the shared weight
    return model.to(device).eval(), tok


def file_digest(path):
    """sha1 of a file's bytes: which checkpoint a later stage was built from."""
    with open(path, 'rb') as f:
        return hashlib.file_digest(f, 'sha1').hexdigest()


def write_json(path, obj):
    """Write JSON atomically (eval.json, config.json)."""
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        json.dump(vars(obj) if isinstance(obj, Config) else obj, f, indent=2, ensure_ascii=False)
    os.replace(path + '.tmp', path)


def read_json(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path) as f:
        return json.load(f)


def _step_of(line):
    """The step of a JSON-lines row (-1 without one), or None when the line is not a JSON object."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    return row.get('step', -1) if isinstance(row, dict) else None


class MetricsLog:
    """metrics.jsonl: one JSON object per step, flushed each write so a crash keeps the rows."""

    def __init__(self, path, resume=False, keep_below=None):
        """resume=True keeps only the rows of steps below keep_below (those the checkpoint covers):
        a resumed run's log reads as if it never stopped. path=None writes nowhere (ranks > 0)."""
        if path is None:
            self.f = open(os.devnull, 'w')
            return
        os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
        rows = []
        if resume and os.path.exists(path):
            with open(path, encoding='utf-8') as f:  # a line cut short by a kill is dropped
                steps = [(line, _step_of(line)) for line in f if line.strip()]
                rows = [line for line, step in steps if step is not None
                        and (keep_below is None or step < keep_below)]
        self.f = open(path, 'w', encoding='utf-8')
        self.f.writelines(rows)

    def write(self, row):
        self.f.write(json.dumps(row, ensure_ascii=False) + '\n')
        self.f.flush()

    def close(self):
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# open_run's result: the first step to run, the metrics log, save(step) (the main process only)
Run = namedtuple('Run', 'start log save')


def open_run(name, cfg, model, opt, main=True, **more):
    """A training loop's run folder, cfg.out_dir: with cfg.resume and a ckpt.pt there, the weights,
    optimizer, RNG states and the `more` modules (GRPO's reference model) come back from it."""
    os.makedirs(cfg.out_dir, exist_ok=True)
    path = os.path.join(cfg.out_dir, 'ckpt.pt')
    start = 0
    if cfg.resume and os.path.exists(path):
        blob = load_checkpoint(path)
        for key, m in (('model', model), ('optimizer', opt), *more.items()):
            m.load_state_dict(blob[key])
        set_rng_state(blob['rng'])
        start = blob['step'] + 1
        print(f'{name}: resumed from {path} at step {start}')
    log = MetricsLog(os.path.join(cfg.out_dir, 'metrics.jsonl') if main else None,
                     resume=start > 0, keep_below=start)

    def save(step):
        if main:
            save_checkpoint(path, model, optimizer=opt.state_dict(), step=step, config=vars(cfg),
                            rng=rng_state(), **{key: m.state_dict() for key, m in more.items()})
    return Run(start, log, save)


def run_script(name, *args):
    """Run one of our scripts in a fresh process (so no script imports another:
    section 2, and each starts from its own defaults); its output goes to ours."""
    sys.stdout.flush()
    # under torchrun, a child started by rank 0 is one process on its own, not a rank of our group
    env = {k: v for k, v in os.environ.items()
           if k not in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR',
                        'MASTER_PORT', 'GROUP_RANK', 'ROLE_RANK')
           and not k.startswith('TORCHELASTIC_')}
    r = subprocess.run([sys.executable,
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), name), *args],
                       env=env)
    if r.returncode == 2:  # it refused its input, and said which in its own line
        raise InputError(f"`python {name} {' '.join(args)}` refused its input")
    if r.returncode != 0:
        raise SystemExit(f"error: `python {name} {' '.join(args)}` failed with exit status "
                         f"{r.returncode}")


def ensure_base(base_dir, preset='auto', pretrain_args='', device='cpu'):
    """(model, tokenizer) of the base in base_dir, pretrained first by pretrain.py when
    there is none (each stage builds what it needs and says so); a HF folder is used as is."""
    if (not os.path.exists(os.path.join(base_dir, 'ckpt.pt')) and not is_hf_folder(base_dir)
            and ddp.is_main()):
        print(f'no base model in {base_dir}: pretraining one first (python pretrain.py)')
        run_script('pretrain.py', f'--preset={preset}', f'--out_dir={base_dir}',
                   *pretrain_args.split())
    ddp.barrier()  # under torchrun the other processes wait for rank 0's base
    return load_model(base_dir, device)


def read_rows(path):
    """(rows, skipped) of a JSON-lines file (metrics.jsonl, samples.jsonl): a line that is not a
    JSON object (a write cut short) is skipped and counted; ([], 0) when the file does not exist."""
    rows, skipped = [], 0
    if os.path.exists(path):
        with open(path, encoding='utf-8') as f:
            for line in filter(str.strip, f):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    row = None
                rows += [row] if isinstance(row, dict) else []
                skipped += not isinstance(row, dict)
    return rows, skipped


def read_jsonl(path):
    """The rows of a JSON-lines file, skipping a broken line; [] when it does not exist."""
    return read_rows(path)[0]


def write_jsonl(path, rows):
    """Write JSON lines atomically (eval_samples.jsonl)."""
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path + '.tmp', 'w', encoding='utf-8') as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + '\n' for r in rows)
    os.replace(path + '.tmp', path)


class StepGuard:
    """How every training loop ends (grpo.train, sft.train): Ctrl-C finishes the step, then the loop
    saves and stops (a second aborts); any exit closes the log and saves the last *completed* step.

        with StepGuard(name, save, start, log) as guard:
            for step in range(start, steps):
                ...                        # the step
                guard.completed(step)      # checkpoints every `every` steps
                if guard.stop:
                    break
    """

    def __init__(self, name, save, start, log, every=0):
        self.name, self.save, self.start, self.log, self.every = name, save, start, log, every
        self.done, self.stop = start - 1, False

    def completed(self, step):
        self.done = step
        if self.every and (step + 1) % self.every == 0:
            self.save(step)

    def _on_sigint(self, *_):
        if self.stop:
            raise KeyboardInterrupt
        self.stop = True
        print(f'\n{self.name}: Ctrl-C, saving after this step (press again to abort)')

    def __enter__(self):
        self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, exc_type, *_):
        signal.signal(signal.SIGINT, self._old_handler)
        if self.done >= self.start:
            self.save(self.done)
        self.log.close()
        if self.stop and exc_type is None:
            raise SystemExit(f'{self.name}: stopped by Ctrl-C after step {self.done}; '
                             f'rerun with --resume to continue')
        return False
