"""Shared test setup: the repository root on sys.path, and a tiny model builder.

Run the whole suite with `.venv/bin/pytest` from the repository root.
"""
import os
import sys

import pytest
import torch

# Tiny models are dominated by per-op overhead; several OpenMP threads fighting over two shared
# cores made them 30x slower (measured), so the tests run single-threaded.
torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import corpus  # noqa: E402
from model import ModelConfig, Transformer  # noqa: E402
from tokenizer import train_tokenizer  # noqa: E402


@pytest.fixture
def tiny_model():
    """Build a small fp32 model with a fixed init: tiny_model(**overrides)."""
    def build(seed=0, **overrides):
        kw = dict(vocab_size=67, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, block_size=96)
        kw.update(overrides)
        torch.manual_seed(seed)
        return Transformer(ModelConfig(**kw)).eval()
    return build


@pytest.fixture(scope='session')
def tok():
    """A 300-token BPE trained on 200 documents of the toy world, built once for the suite."""
    return train_tokenizer(corpus.build_corpus(200, 0), 300)
