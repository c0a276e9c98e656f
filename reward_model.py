"""The reward model for open-ended prompts (R1 section 2.3.4).

Reasoning answers can be checked by rules; a greeting cannot. R1's last RL stage scores general
prompts with a reward model trained on human preferences. Ours is the policy's transformer, started
from the base, with a scalar head on the last token, trained with the Bradley-Terry loss

    loss = -log sigmoid(r(prompt, chosen) - r(prompt, rejected))

on pairs of `chat` replies ranked by the hidden rubric (tasks.chat_rubric: the name, the
keyword, the language, brevity), which stands in for the human labellers. The rubric itself
is never an RL reward: the policy only ever sees this model's score, so RL can find what the
model gets wrong (reward hacking), and train_r1.py logs the gap between the two.

Pair replies come from tasks.solve_chat at random quality, some with broken tags; a malformed reply
scores 0 under the rubric (as in evaluation.py). Held-out pairs use test-split prompts only."""
import os
import random

import torch
import torch.nn as nn
import torch.nn.functional as F

import rewards
import tasks
from checkpoint import MetricsLog, load_checkpoint, load_model, save_checkpoint
from config import InputError, autocast_ctx
from model import lr_schedule, make_optimizer


class RewardModel(nn.Module):
    """A transformer body and a linear head read at each sequence's last real token."""

    def __init__(self, body):
        super().__init__()
        self.body = body
        self.config = body.config
        self.head = nn.Linear(body.config.n_embd, 1)
        nn.init.zeros_(self.head.weight)  # start indifferent: every score 0
        nn.init.zeros_(self.head.bias)

    def forward(self, idx, lengths):
        """idx (B, T) right-padded, lengths (B,) -> scores (B,)."""
        h = self.body(idx, return_hidden=True)  # (B, T, C), final norm applied
        last = h[torch.arange(idx.shape[0], device=idx.device), lengths - 1]  # (B, C)
        return self.head(last.float()).squeeze(-1)


def bt_loss(chosen, rejected):
    """Bradley-Terry: -log sigmoid(r_c - r_r), averaged over pairs."""
    return -F.logsigmoid(chosen - rejected).mean()


def _batch(tok, texts, device, block_size, ended=None):
    """Right-padded ids (B, T) and lengths. The end token closes each text that ended (a reply cut
    off at the length limit is scored as cut off); over-long texts keep their last block_size
    tokens, the reply's end, which is what the head reads."""
    ids = [(tok.encode(t) + ([tok.eot_id] if ended is None or ended[i] else []))[-block_size:]
           for i, t in enumerate(texts)]
    x = torch.full((len(ids), max(map(len, ids))), tok.pad_id, dtype=torch.long)
    for i, row in enumerate(ids):
        x[i, :len(row)] = torch.tensor(row)
    return x.to(device), torch.tensor([len(r) for r in ids], device=device)


@torch.no_grad()
def score_texts(rm, tok, prompts, responses, ended=None, batch_size=64, dtype='float32'):
    """Float scores of responses to their (rendered) prompts; `ended` (one bool per response,
    default all True) says which stopped with the end token."""
    rm.eval()
    device = next(rm.parameters()).device
    out = []
    for i in range(0, len(prompts), batch_size):
        texts = [p + r for p, r in zip(prompts[i:i + batch_size], responses[i:i + batch_size])]
        x, lens = _batch(tok, texts, device, rm.config.block_size,
                         None if ended is None else ended[i:i + batch_size])
        with autocast_ctx(device, dtype):
            out += rm(x, lens).float().tolist()
    return out


# ---- Preference pairs, labelled by the hidden rubric -----------------------------------------

def chat_reply(problem, rng):
    """One reply of random quality in the template's grammar; 1 in 8 has broken tags."""
    t = tasks.solve_chat(problem, rng, quality=rng.uniform(0.2, 1.0))
    if rng.random() < 0.125:
        return f' {t.answer}' if rng.random() < 0.5 else f' <think> </think> {t.answer}'
    return f' <think> </think> <answer> {t.answer} </answer>'


def chat_pairs(n, split, seed=0):
    """n (prompt, chosen, rejected) triples on chat prompts of one side of the split; the
    rubric scores of chosen and rejected always differ (ties teach nothing)."""
    rng = random.Random(f'rm-pairs:{split}:{seed}')
    out = []
    while len(out) < n:
        p = tasks.draw_problem('chat', rng, split)
        a, b = chat_reply(p, rng), chat_reply(p, rng)
        sa, sb = rewards.chat_score(a, p), rewards.chat_score(b, p)
        if sa != sb:
            out.append((tasks.render_prompt(p), a, b) if sa > sb else (tasks.render_prompt(p), b, a))
    return out


def pair_accuracy(rm, tok, pairs, dtype='float32'):
    """Share of pairs whose chosen reply scores strictly above the rejected one."""
    prompts = [p for p, _, _ in pairs]
    c = score_texts(rm, tok, prompts, [c for _, c, _ in pairs], dtype=dtype)
    r = score_texts(rm, tok, prompts, [r for _, _, r in pairs], dtype=dtype)
    return sum(a > b for a, b in zip(c, r)) / len(pairs)


def train_reward_model(body, tok, pairs, *, steps=300, batch_size=32, lr=3e-4, device='cpu',
                       dtype='float32', seed=0, log_interval=50, out_dir=None):
    """A RewardModel on `body` (fine-tuned in place) trained on (prompt, chosen, rejected)."""
    log = MetricsLog(os.path.join(out_dir, 'metrics.jsonl') if out_dir else None)  # None: no file
    torch.manual_seed(seed)
    rm = RewardModel(body).to(device).train()
    opt = make_optimizer(rm, lr, 0.0)
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        for group in opt.param_groups:
            group['lr'] = lr_schedule(step, lr, steps // 10, steps, lr / 10)
        idx = torch.randint(len(pairs), (batch_size,), generator=g).tolist()
        chosen = [pairs[i] for i in idx]  # (prompt, chosen reply, rejected reply)
        texts = [p + c for p, c, _ in chosen] + [p + r for p, _, r in chosen]
        x, lens = _batch(tok, texts, device, rm.config.block_size)
        with autocast_ctx(device, dtype):
            scores = rm(x, lens).float()
        loss = bt_loss(scores[:batch_size], scores[batch_size:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(rm.parameters(), 1.0)
        opt.step()
        acc = (scores[:batch_size] > scores[batch_size:]).float().mean().item()
        log.write({'step': step, 'loss': loss.item(), 'pair_accuracy': acc})
        if step % log_interval == 0 or step == steps - 1:
            print(f'reward model {step:4d} | loss {loss.item():.4f} | batch pair accuracy {acc:.2f}')
    log.close()
    return rm.eval()


def save_reward_model(run_dir, rm, tok, **extra):
    os.makedirs(run_dir, exist_ok=True)
    tok.save(os.path.join(run_dir, 'tokenizer.json'))
    save_checkpoint(os.path.join(run_dir, 'ckpt.pt'), rm.body, head=rm.head.state_dict(), **extra)


def load_reward_model(run_dir, device='cpu'):
    """(reward model, tokenizer) from a run folder save_reward_model wrote."""
    body, tok = load_model(run_dir, device)
    head = load_checkpoint(os.path.join(run_dir, 'ckpt.pt'), mmap=True).get('head')
    if head is None:
        raise InputError(f'{run_dir}/ckpt.pt has no reward head: '
                         f'it is not a reward model checkpoint')
    rm = RewardModel(body)
    rm.head.load_state_dict(head)
    return rm.to(device).eval(), tok
