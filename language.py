"""Which language a text's words are in: the measure behind R1's language-consistency reward
(section 2.3.2, target-language words / all words) and the chat rubric's language check.
Below both rewards.py and tasks.py, which import it.

A word is one Han character (Chinese is not written with spaces, so a character is the unit)
or a run of other letters. Digits, symbols and punctuation count as nothing. A run of Latin
letters is English, a Han character Chinese, anything else (Cyrillic, kana...) neither, so it
counts against both. A lone "x" is the unknown of an equation ("所以 x > 4"), a symbol in
either language, so it counts as nothing (other lone letters, "I" and "a", stay words).
"""
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
