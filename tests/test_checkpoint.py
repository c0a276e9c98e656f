"""checkpoint.py: atomic writes, clear errors for missing or truncated files, metrics on resume.

Run: pytest tests/test_checkpoint.py
"""
import json
import random

import numpy as np
import pytest
import torch

from checkpoint import (MetricsLog, load_checkpoint, load_model, rng_state, save_checkpoint,
                        saved_step, set_rng_state)
from tokenizer import train_tokenizer


def test_round_trip_and_clear_errors(tmp_path, tiny_model):
    model = tiny_model(vocab_size=300)
    tok = train_tokenizer(['hello 12 world'] * 4, 300)
    tok.save(tmp_path / 'tokenizer.json')
    path = str(tmp_path / 'ckpt.pt')
    save_checkpoint(path, model, step=7, rng=rng_state())
    assert not (tmp_path / 'ckpt.pt.tmp').exists()  # written to a temp file, then renamed
    m2, tok2 = load_model(str(tmp_path))
    assert saved_step(str(tmp_path)) == 7 and tok2.encode('hello 12') == tok.encode('hello 12')
    for a, b in zip(model.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(FileNotFoundError, match='no checkpoint at .*missing.pt'):
        load_checkpoint(str(tmp_path / 'missing.pt'))
    (tmp_path / 'cut.pt').write_bytes((tmp_path / 'ckpt.pt').read_bytes()[:1000])
    with pytest.raises(ValueError, match='cut.pt.*truncated'):
        load_checkpoint(str(tmp_path / 'cut.pt'))
    torch.save({'weights': 1}, tmp_path / 'other.pt')
    with pytest.raises(ValueError, match="no 'model' entry"):
        load_checkpoint(str(tmp_path / 'other.pt'))


def test_rng_state_round_trip(tmp_path):
    state = rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    torch.save(state, tmp_path / 's.pt')
    set_rng_state(torch.load(tmp_path / 's.pt', weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_metrics_log_resume_drops_rows_past_the_checkpoint(tmp_path):
    path = str(tmp_path / 'metrics.jsonl')
    with MetricsLog(path) as log:
        for s in range(5):
            log.write({'step': s})
    with MetricsLog(path, resume=True, keep_below=3) as log:
        log.write({'step': 3, 'again': True})
    rows = [json.loads(l) for l in open(path)]
    assert [r['step'] for r in rows] == [0, 1, 2, 3] and rows[-1]['again']
