"""Byte-level BPE: trained by the readable code below, served by `tiktoken` (as nanochat does).

Training (`train_tokenizer`) splits text into chunks with a GPT-4-style regex, counts each distinct
chunk once with its frequency, then repeatedly merges the most frequent adjacent pair of tokens,
updating pair counts incrementally (a merge touches only the chunks with the pair): 2k merges on a
few MB take seconds. `tiktoken` encodes with the resulting ranks in fast Rust code.

Digits are split one per token (`\\p{N}`, where GPT-4 has `\\p{N}{1,3}`): with multi-digit tokens
"57" and "5", "7" are unrelated symbols and arithmetic gets much harder to learn.

Tags (<think>, <answer>) are plain text, not special tokens, on purpose: rewards read decoded text,
so nothing a user or the model writes can inject a control token, and malformed tags ("<thin",
"</answer") stay representable and penalisable. The only special tokens, <|endoftext|> (ends a
document or response) and <|pad|>, never come out of `encode`, even for the text "<|endoftext|>".

    tok = train_tokenizer(texts, vocab_size=2048)
    ids = tok.encode('12 + 30 = 42')
    tok.save('out/base/tokenizer.json'); tok = Tokenizer.load('out/base/tokenizer.json')

A published model's byte-level BPE (Qwen2's or Llama 3's `tokenizer.json`) is served alike by
`HFTokenizer`: its vocabulary becomes tiktoken's ranks (exact: those files number merged tokens
in merge order, checked on load). `Tokenizer.load` reads either; `save_hf` writes ours for hf.py."""
import heapq
import json
import os
import unicodedata
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
    """Learn up to `n_merges` new tokens; their byte strings in rank order (ranks 256, 257, ...)."""
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
    # max-heap by count via negation; ties go to smaller (a, b) ids, so training is deterministic.
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
    """A tokenizer whose vocabulary (256 bytes + merges + 2 specials) is at most `vocab_size`."""
    if vocab_size < 256 + len(SPECIALS):
        raise ValueError(f'vocab_size must be at least {256 + len(SPECIALS)} (bytes + specials), '
                         f'got {vocab_size}')
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
        self.eot_id, self.pad_id = len(ranks), len(ranks) + 1  # specials right after the merges
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

    def save_hf(self, folder):
        """tokenizer.json + tokenizer_config.json in Hugging Face's byte-level BPE format."""
        ranks = self.enc._mergeable_ranks
        vocab = {_to_unicode(b): r for b, r in ranks.items()}
        merges = [[_to_unicode(part) for part in _split_in_two(b, rank, ranks)]
                  for rank, b in enumerate(self.merges, 256)]
        added = [{'id': i, 'content': s, 'single_word': False, 'lstrip': False, 'rstrip': False,
                  'normalized': False, 'special': True}
                 for s, i in zip(SPECIALS, (self.eot_id, self.pad_id))]
        data = {'version': '1.0', 'truncation': None, 'padding': None, 'added_tokens': added,
                'normalizer': None, 'post_processor': None,
                'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
                    {'type': 'Split', 'pattern': {'Regex': self.pattern}, 'behavior': 'Isolated',
                     'invert': False},
                    {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True,
                     'use_regex': False}]},
                'decoder': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True,
                            'use_regex': True},
                'model': {'type': 'BPE', 'dropout': None, 'unk_token': None,
                          'continuing_subword_prefix': None, 'end_of_word_suffix': None,
                          'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': True,
                          'vocab': vocab, 'merges': merges}}
        _write_hf(folder, data, SPECIALS[0], SPECIALS[1])

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
        if isinstance(data, dict) and 'model' in data and 'format' not in data:
            try:
                return HFTokenizer(path, data)
            except (KeyError, TypeError, AttributeError) as e:  # a field of the wrong shape
                raise ValueError(f'{path}: malformed tokenizer.json ({type(e).__name__}: {e})') from None
        if not isinstance(data, dict) or data.get('format') != FORMAT:
            raise ValueError(f'tokenizer file {path} is not a {FORMAT} tokenizer')
        try:
            tok = cls([bytes.fromhex(h) for h in data['merges']], data['pattern'])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f'tokenizer file {path} is corrupt: {e!r}') from None
        if data.get('special_tokens') != {SPECIALS[0]: tok.eot_id, SPECIALS[1]: tok.pad_id}:
            raise ValueError(f'tokenizer file {path} has inconsistent special token ids')
        return tok


# ---- Hugging Face byte-level BPE files (tokenizer.json), served by tiktoken ------------------

def _byte_chars():
    """GPT-2's byte -> printable character table, the alphabet of byte-level BPE vocabularies."""
    keep = [*range(ord('!'), ord('~') + 1), *range(ord('¡'), ord('¬') + 1),
            *range(ord('®'), ord('ÿ') + 1)]
    extra = iter(range(256, 512))
    return {b: chr(b) if b in keep else chr(next(extra)) for b in range(256)}


BYTE_CHAR = _byte_chars()
CHAR_BYTE = {c: b for b, c in BYTE_CHAR.items()}
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def _to_unicode(b):
    return ''.join(BYTE_CHAR[x] for x in b)


def _split_in_two(token, rank, ranks):
    """The merge that made `token`: BPE on its bytes with lower-ranked tokens stops at two parts."""
    parts = [bytes([x]) for x in token]
    while len(parts) > 2:
        found = [(ranks[parts[i] + parts[i + 1]], i) for i in range(len(parts) - 1)
                 if ranks.get(parts[i] + parts[i + 1], rank) < rank]
        if not found:
            break
        i = min(found)[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    if len(parts) != 2:
        raise ValueError(f'token {token!r} is not the merge of two lower-ranked tokens')
    return parts


def _write_hf(folder, data, eos, pad):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'tokenizer.json'), 'w', encoding='utf-8') as f:
        json.dump(data, f, ensure_ascii=False)
    with open(os.path.join(folder, 'tokenizer_config.json'), 'w', encoding='utf-8') as f:
        json.dump({'eos_token': eos, 'pad_token': pad, 'add_bos_token': False,
                   'clean_up_tokenization_spaces': False,
                   'tokenizer_class': 'PreTrainedTokenizerFast'}, f, ensure_ascii=False, indent=2)


def _pattern_of(pre, where):
    """The split regex of a byte-level pre-tokenizer (Qwen2: Split, ByteLevel; GPT-2: ByteLevel)."""
    steps = pre.get('pretokenizers', []) if pre and pre.get('type') == 'Sequence' else [pre]
    pattern = None
    for step in steps:
        kind = (step or {}).get('type')
        if (kind == 'Split' and 'Regex' in step.get('pattern', {})
                and step.get('behavior') == 'Isolated' and not step.get('invert')
                and pattern is None):
            pattern = step['pattern']['Regex']
        elif kind == 'ByteLevel' and not step.get('add_prefix_space'):
            if step.get('use_regex', True):
                if pattern is not None:
                    raise ValueError(f'{where}: pre_tokenizer splits twice '
                                     '(Split and ByteLevel use_regex)')
                pattern = GPT2_PATTERN
        else:
            raise ValueError(f'{where}: pre_tokenizer step {step!r} is not supported (byte-level '
                             'BPE only: Split(Regex, Isolated) + ByteLevel without prefix space)')
    if pattern is None or 'ByteLevel' not in json.dumps(pre):
        raise ValueError(f'{where}: pre_tokenizer is not byte-level (a SentencePiece-style BPE?)')
    return pattern


def _token_name(value):
    return value.get('content') if isinstance(value, dict) else value


class HFTokenizer:
    """A Hugging Face byte-level BPE tokenizer.json, behind the same interface as Tokenizer.

    As in ours, special added tokens (end of text, pad, chat markers) never come from text: a
    literal "<|endoftext|>" in a prompt is plain text; non-special ones are matched, as in
    `tokenizers`. No BOS is prepended (base models get the R1-Zero template as plain text). eos and
    pad come from tokenizer_config.json beside it, else config.json's eos; pad defaults to eos."""

    def __init__(self, path, data):
        model = data.get('model') or {}
        if model.get('type') != 'BPE':
            raise ValueError(f"{path}: model.type {model.get('type')!r} is not supported "
                             '(byte-level BPE only)')
        if (model.get('byte_fallback') or model.get('continuing_subword_prefix')
                or model.get('end_of_word_suffix')):
            raise ValueError(f'{path}: byte_fallback / subword prefixes are not byte-level BPE')
        norm = data.get('normalizer')
        if norm not in (None, {'type': 'NFC'}):
            raise ValueError(f"{path}: normalizer {norm.get('type')!r} is not supported (none or NFC)")
        self.nfc = norm is not None
        self.pattern = _pattern_of(data.get('pre_tokenizer'), path)
        added = {t['content']: t for t in data.get('added_tokens', [])}
        ranks = {}
        for text, i in model.get('vocab', {}).items():
            if text not in added:
                try:
                    ranks[bytes(CHAR_BYTE[c] for c in text)] = i
                except KeyError:
                    raise ValueError(f'{path}: vocab entry {text!r} is not byte-level') from None
        missing = [b for b in range(256) if bytes([b]) not in ranks]
        if missing:
            raise ValueError(f'{path}: vocab lacks the byte token {missing[0]:#04x}')
        last = -1
        for m in model.get('merges', []):
            a, b = m.split(' ') if isinstance(m, str) else m
            r = ranks.get(bytes(CHAR_BYTE[c] for c in a + b))
            if r is None or r <= last:  # tiktoken ranks tokens, not pairs: ids follow merge order
                raise ValueError(f'{path}: merge {a!r} + {b!r} is not numbered in merge order')
            last = r
        self.special = {s for s, t in added.items() if t.get('special')}
        self.allowed = frozenset(added) - self.special
        ids = {s: t['id'] for s, t in added.items()}
        self.vocab_size = 1 + max([*ranks.values(), *ids.values()])
        # a model's embedding can be larger than its tokenizer (Qwen2.5: 151936 rows, ids up to
        # 151664): an id the tokenizer lacks can be sampled, and decodes to nothing
        self.known = frozenset(ranks.values()) | set(ids.values())
        self.enc = tiktoken.Encoding(
            name=os.path.basename(os.path.dirname(os.path.abspath(path))) or 'hf',
            pat_str=self.pattern, mergeable_ranks=ranks, special_tokens=ids)
        self.data = data
        folder = os.path.dirname(path)
        conf = _read_optional(os.path.join(folder, 'tokenizer_config.json'))
        eos_id = ids.get(_token_name(conf.get('eos_token')))
        if eos_id is None:
            eos_id = _read_optional(os.path.join(folder, 'config.json')).get('eos_token_id')
            eos_id = eos_id[0] if isinstance(eos_id, list) else eos_id
        if not isinstance(eos_id, int):
            raise ValueError(f'{path}: no end-of-text token (eos_token in tokenizer_config.json, '
                             f'or eos_token_id in config.json)')
        self.eot_id = eos_id
        self.pad_id = ids.get(_token_name(conf.get('pad_token')), eos_id)

    def _norm(self, text):
        return unicodedata.normalize('NFC', text) if self.nfc else text

    def encode(self, text):
        return self.enc.encode(self._norm(text), allowed_special=self.allowed, disallowed_special=())

    def encode_batch(self, texts):
        return self.enc.encode_batch([self._norm(t) for t in texts], allowed_special=self.allowed,
                                     disallowed_special=())

    def decode(self, ids):
        if hasattr(ids, 'tolist'):
            ids = ids.tolist()
        ids = [i for i in ids if i in self.known and (i != self.pad_id or self.pad_id == self.eot_id)]
        return self.enc.decode(ids, errors='replace')

    def save_hf(self, folder):
        inv = {t['id']: t['content'] for t in self.data.get('added_tokens', [])}
        _write_hf(folder, self.data, inv.get(self.eot_id), inv.get(self.pad_id))

    def save(self, path):
        """Save the file as it came, with tokenizer_config.json beside it for eos and pad."""
        self.save_hf(os.path.dirname(path) or '.')


def _read_optional(path):
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f'{path} is not valid JSON: {e}') from None
    if not isinstance(data, dict):
        raise ValueError(f'{path} is not a JSON object')
    return data
