"""The toy world: synthetic reasoning problems in English and Chinese (DESIGN.md section 3).

(being written; the Problem record below is the contract shared with rewards.py)
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    id: str              # stable hash of family + canonical form (also decides the held-out split)
    family: str          # 'math' | 'countdown' | 'code' | 'chat'
    lang: str            # 'en' | 'zh'
    difficulty: int      # family-specific knob: steps, numbers, list length...
    prompt: str          # the user's question; goes into the R1-Zero template
    answer: str = ''     # gold: the integer for math, the target for countdown, a reference solution for code
    numbers: tuple = ()  # countdown: the numbers the expression must use
    entry: str = ''      # code: the function name the hidden tests call
    tests: tuple = ()    # code: hidden tests, ((args_tuple, expected), ...), JSON-able values
    rubric: tuple = ()   # chat: what the hidden rubric checks (see chat_rubric)
