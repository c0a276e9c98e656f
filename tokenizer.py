"""Byte-level BPE: trained by the readable code below, served by `tiktoken` (as nanochat does).

Training (`train_tokenizer`) splits text into pre-token chunks with a GPT-4-style regex,
counts each distinct chunk once with its frequency, and then repeatedly merges the most
frequent adjacent pair of tokens. Pair counts are updated incrementally: a merge only
touches the chunks that contain the pair, so 2k merges on a few MB take seconds. The
result is a list of merged byte strings in rank order; `tiktoken.Encoding` encodes with
those ranks in fast Rust code.

Digits are split one per token (`\\p{N}`, where GPT-4 has `\\p{N}{1,3}`): with multi-digit
tokens "57" and "5", "7" are unrelated symbols and arithmetic gets much harder to learn.

Tags such as <think> and <answer> are ordinary text, not special tokens, on purpose: the
rewards read decoded text, so nothing a user or the model writes can inject a control
token, and malformed tags ("<thin", "</answer") stay representable and can be penalised.
The only special tokens are <|endoftext|> (end of a document or response) and <|pad|>;
`encode` never produces them from text, even from the literal string "<|endoftext|>".

    tok = train_tokenizer(texts, vocab_size=2048)
    ids = tok.encode('12 + 30 = 42')
    tok.save('out/base/tokenizer.json'); tok = Tokenizer.load('out/base/tokenizer.json')
"""
import heapq
import json
from collections import Counter

import regex
import tiktoken

# cl100k's pattern with single digits: contractions, words (with one leading non-letter),
# single digits, punctuation runs, newlines, and whitespace not followed by a word
PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}"""
           r"""| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+""")
SPECIALS = ('<|endoftext|>', '<|pad|>')
FORMAT = 'nano-r1-bpe-1'


def _pairs(word):
    return zip(word, word[1:])


def train_bpe(texts, n_merges, pattern=PATTERN):
    """Learn up to `n_merges` new tokens; return their byte strings in rank order (ranks 256, 257, ...)."""
    compiled = regex.compile(pattern)
    counts = Counter()
    for text in texts:
        counts.update(compiled.findall(text))
    words = [list(chunk.encode('utf-8')) for chunk in counts]  # each chunk as a list of token ids
    freqs = list(counts.values())
    token_bytes = [bytes([i]) for i in range(256)]  # id -> byte string
    id_of = {b: i for i, b in enumerate(token_bytes)}

    pair_count = Counter()  # (a, b) -> occurrences, weighted by chunk frequency
    where = {}  # (a, b) -> indices of the chunks that contain it
    for i, (word, f) in enumerate(zip(words, freqs)):
        for pair in _pairs(word):
            pair_count[pair] += f
            where.setdefault(pair, set()).add(i)
    # max-heap by count via negation; ties go to the smaller (a, b) ids, so training is deterministic.
    # Entries go stale when a count changes; a popped entry is used only if it still matches.
    heap = [(-c, pair) for pair, c in pair_count.items()]
    heapq.heapify(heap)

    merges = []
    while len(merges) < n_merges and heap:
        neg, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -neg:
            continue
        merged = token_bytes[pair[0]] + token_bytes[pair[1]]
        # two different pairs can spell the same bytes ("a"+"bc", "ab"+"c"); reuse that token
        new = id_of.get(merged)
        if new is None:
            new = id_of[merged] = len(token_bytes)
            token_bytes.append(merged)
            merges.append(merged)
        changed = set()
        for i in where.pop(pair):
            old, f = words[i], freqs[i]
            word, j = [], 0
            while j < len(old):
                if j + 1 < len(old) and (old[j], old[j + 1]) == pair:
                    word.append(new)
                    j += 2
                else:
                    word.append(old[j])
                    j += 1
            for p in _pairs(old):
                pair_count[p] -= f
                changed.add(p)
            for p in _pairs(word):
                pair_count[p] += f
                changed.add(p)
            old_set, new_set = set(_pairs(old)), set(_pairs(word))
            for p in old_set - new_set:
                if p != pair:
                    where[p].discard(i)
            for p in new_set - old_set:
                where.setdefault(p, set()).add(i)
            words[i] = word
        for p in changed:
            c = pair_count[p]
            if c > 0:
                heapq.heappush(heap, (-c, p))
            else:
                del pair_count[p]
                where.pop(p, None)
    return merges


def train_tokenizer(texts, vocab_size):
    """Train a tokenizer whose vocabulary (256 bytes + merges + 2 specials) is at most `vocab_size`."""
    if vocab_size < 256 + len(SPECIALS):
        raise ValueError(f'vocab_size must be at least {256 + len(SPECIALS)} (bytes + specials), got {vocab_size}')
    return Tokenizer(train_bpe(texts, vocab_size - 256 - len(SPECIALS)))


class Tokenizer:
    def __init__(self, merges, pattern=PATTERN):
        self.merges = list(merges)  # byte strings of ranks 256, 257, ...
        self.pattern = pattern
        ranks = {bytes([i]): i for i in range(256)}
        for b in self.merges:
            if b in ranks:
                raise ValueError(f'duplicate merge {b!r}')
            ranks[b] = len(ranks)
        self.eot_id, self.pad_id = len(ranks), len(ranks) + 1  # specials come right after the merges
        self.vocab_size = len(ranks) + len(SPECIALS)
        self.enc = tiktoken.Encoding(
            name='nano-r1', pat_str=pattern, mergeable_ranks=ranks,
            special_tokens={SPECIALS[0]: self.eot_id, SPECIALS[1]: self.pad_id})

    def encode(self, text):
        """Text -> ids. Special-token strings in the text are encoded as plain text."""
        return self.enc.encode_ordinary(text)

    def encode_batch(self, texts):
        return self.enc.encode_ordinary_batch(list(texts))

    def decode(self, ids):
        """Ids -> text; pad ids are dropped; bytes that are not valid UTF-8 become U+FFFD."""
        if hasattr(ids, 'tolist'):
            ids = ids.tolist()
        return self.enc.decode([i for i in ids if i != self.pad_id], errors='replace')

    def save(self, path):
        data = {'format': FORMAT, 'pattern': self.pattern, 'merges': [b.hex() for b in self.merges],
                'special_tokens': {SPECIALS[0]: self.eot_id, SPECIALS[1]: self.pad_id}}
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(data, f, indent=0)

    @classmethod
    def load(cls, path):
        try:
            with open(path, encoding='utf-8') as f:
                data = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f'tokenizer file not found: {path}') from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f'tokenizer file {path} is truncated or corrupt: {e}') from None
        if not isinstance(data, dict) or data.get('format') != FORMAT:
            raise ValueError(f'tokenizer file {path} is not a {FORMAT} tokenizer')
        try:
            tok = cls([bytes.fromhex(h) for h in data['merges']], data['pattern'])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f'tokenizer file {path} is corrupt: {e!r}') from None
        if data.get('special_tokens') != {SPECIALS[0]: tok.eot_id, SPECIALS[1]: tok.pad_id}:
            raise ValueError(f'tokenizer file {path} has inconsistent special token ids')
        return tok
