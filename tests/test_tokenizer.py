"""Tests for tokenizer.py: round trips, digit splitting, special tokens, save/load, and the
incremental BPE trainer against a plain recount-everything reference.

Run: .venv/bin/pytest tests/test_tokenizer.py   (the 2 MB training test is marked slow)
"""
import random
from collections import Counter

import pytest
import regex

from tokenizer import PATTERN, Tokenizer, train_bpe, train_tokenizer

CORPUS = [
    'A conversation between User and Assistant. <think> 12 + 30 = 42, wait, let me check: '
    '42 - 30 = 12. </think>',
    '<answer> 42 </answer><|endoftext|>',
    '用户问：3 加 4 等于多少？ <think> 3 + 4 = 7，等等，再检查一下 </think> '
    '<answer> 7 </answer>',
    "def add(a, b):\n    return a + b\n\n# it's done, isn't it?\n",
    'Hello   world!!\tTabs\r\nand 🙂 emoji 🚀🚀 ' * 3,
]


@pytest.fixture(scope='module')
def tok():
    return train_tokenizer(CORPUS * 20, 400)


def random_text(rng):
    pools = ['hello world ', 'The Quick brown FOX. ', '数学题目答案是', '🙂🚀👍🏽',
             ' \t\n\r  \n\n', '0123456789', '٣٤٥ Ⅻ ½', "don't I'LL ",
             '<think></think><answer>', '<|endoftext|><|pad|>', 'é̃ñ', '\u200b\ufeff']
    parts = [rng.choice(pools)[:rng.randint(1, 12)] for _ in range(rng.randint(0, 12))]
    raw = bytes(rng.randrange(256) for _ in range(rng.randint(0, 20)))
    parts.append(raw.decode('utf-8', errors='replace'))
    parts.append(raw.decode('latin-1'))
    rng.shuffle(parts)
    return ''.join(parts)


def test_round_trip_random_unicode(tok):
    rng = random.Random(0)
    for _ in range(300):
        text = random_text(rng)
        assert tok.decode(tok.encode(text)) == text
    texts = [random_text(rng) for _ in range(20)]
    assert [tok.decode(ids) for ids in tok.encode_batch(texts)] == texts


def test_every_digit_is_its_own_token(tok):
    text = 'x = 1234567890 + 99 - 2024年 is 7'
    pieces = [tok.decode([i]) for i in tok.encode(text)]
    assert all(len(p) == 1 for p in pieces if any(c.isdigit() for c in p))
    assert [p for p in pieces if p.isdigit()] == list('12345678909920247')
    # any Unicode digit, one per chunk
    assert regex.findall(PATTERN, '٣٤٥ 12') == ['٣', '٤', '٥', ' ', '1', '2']


def test_tags_are_ordinary_merged_text(tok):
    ids = tok.encode('<think>')
    assert tok.decode(ids) == '<think>' and max(ids) < tok.eot_id
    assert len(ids) < len('<think>')  # the trainer merged the frequent tag bytes


def test_special_tokens(tok):
    assert (tok.eot_id, tok.pad_id) == (tok.vocab_size - 2, tok.vocab_size - 1)
    assert tok.eot_id == 256 + len(tok.merges)
    ids = tok.encode('a<|endoftext|>b<|pad|>')
    assert tok.eot_id not in ids and tok.pad_id not in ids
    assert tok.decode(ids) == 'a<|endoftext|>b<|pad|>'
    assert tok.decode([*tok.encode('ok'), tok.eot_id, tok.pad_id, tok.pad_id]) == 'ok<|endoftext|>'


def test_invalid_utf8_decodes_with_replacement(tok):
    e_acute = tok.encode('é')  # two bytes
    assert tok.decode([0xC3]) == '\ufffd'
    assert tok.decode(e_acute) == 'é'


def test_save_load_identical(tok, tmp_path):
    path = tmp_path / 'tok.json'
    tok.save(path)
    loaded = Tokenizer.load(path)
    assert loaded.merges == tok.merges and loaded.vocab_size == tok.vocab_size
    rng = random.Random(1)
    for text in [random_text(rng) for _ in range(50)] + CORPUS:
        assert loaded.encode(text) == tok.encode(text)


def test_load_errors_name_the_file(tok, tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.json'):
        Tokenizer.load(tmp_path / 'missing.json')
    path = tmp_path / 'tok.json'
    tok.save(path)
    cut = tmp_path / 'cut.json'
    cut.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    with pytest.raises(ValueError, match='cut.json.*truncated'):
        Tokenizer.load(cut)
    bad = tmp_path / 'bad.json'
    bad.write_text(path.read_text().replace('"merges": [', '"merges": ["zz", '))
    with pytest.raises(ValueError, match='bad.json'):
        Tokenizer.load(bad)
    other = tmp_path / 'other.json'
    other.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match='other.json'):
        Tokenizer.load(other)


def test_training_is_deterministic_and_sized():
    a = train_tokenizer(CORPUS * 5, 300)
    b = train_tokenizer(CORPUS * 5, 300)
    assert a.merges == b.merges and a.vocab_size == 300
    assert len(set(a.merges)) == len(a.merges)
    with pytest.raises(ValueError, match='vocab_size'):
        train_tokenizer(CORPUS, 257)


def reference_bpe(texts, n_merges):
    """The textbook loop: recount every pair after every merge; same tie rule (smallest pair
    ids)."""
    counts = Counter(c for t in texts for c in regex.findall(PATTERN, t))
    words = {tuple(c.encode()): f for c, f in counts.items()}
    vocab = [bytes([i]) for i in range(256)]
    merges = []
    while len(merges) < n_merges:
        pairs = Counter()
        for w, f in words.items():
            for p in zip(w, w[1:]):
                pairs[p] += f
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merged = vocab[best[0]] + vocab[best[1]]
        new = vocab.index(merged) if merged in vocab else len(vocab)
        if new == len(vocab):
            vocab.append(merged)
            merges.append(merged)
        out = Counter()
        for w, f in words.items():
            nw, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    nw.append(new)
                    i += 2
                else:
                    nw.append(w[i])
                    i += 1
            out[tuple(nw)] += f
        words = out
    return merges


def test_incremental_trainer_matches_reference():
    rng = random.Random(3)
    texts = [random_text(rng) + ' aaaa abab 1111 the then there ' for _ in range(60)] + CORPUS
    assert train_bpe(texts, 150) == reference_bpe(texts, 150)


@pytest.mark.slow
def test_training_scales_to_2k_vocab_on_2mb():
    rng = random.Random(0)
    syll = ['ka', 'ro', 'mi', 'ten', 'sa', 'lo', 'qu', 'ze',
            'do', 'vi', 'ar', 'ul', 'en', 'is', 'po', 'th']
    vocab = [''.join(rng.choice(syll) for _ in range(rng.randint(1, 4))) for _ in range(5000)]
    texts = [' '.join(rng.choice(vocab) if rng.random() < 0.9
                      else str(rng.randint(0, 999)) for _ in range(200)) + '.\n'
             for _ in range(2000)]
    assert sum(map(len, texts)) > 2_000_000
    # its speed is bench.py's business, not a test's: here, that it scales
    tok = train_tokenizer(texts, 2048)
    assert tok.vocab_size == 2048
    assert tok.decode(tok.encode(texts[0])) == texts[0]
