"""Which language a text's words are in, for R1's language-consistency reward (R1 2.3.2: target
language words / all words) and the chat rubric's language check; rewards.py and tasks.py import it.

A word is one Han character (Chinese is written without spaces) or a run of other letters; digits,
symbols and punctuation count as nothing. Latin words are English, Han characters Chinese, anything
else (Cyrillic, kana...) neither, so it counts against both. A lone "x" is an equation's unknown
("所以 x > 4"), a symbol in either language that counts as nothing ("I" and "a" stay words)."""
import regex

LANGS = ('en', 'zh')
_WORD = regex.compile(r'\p{Han}|[\p{L}--\p{Han}]+', regex.V1)
_LATIN = regex.compile(r'\p{Latin}+')
_HAN = regex.compile(r'\p{Han}')


def word_share(text, lang):
    """The share of text's words that are in `lang`; 1.0 when it has no words (nothing is mixed)."""
    words = [w for w in _WORD.findall(text) if w not in ('x', 'X')]
    if not words:
        return 1.0
    script = _HAN if lang == 'zh' else _LATIN
    return sum(1 for w in words if script.fullmatch(w)) / len(words)
