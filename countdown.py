"""The countdown puzzle's arithmetic: the expressions some numbers reach (tasks.py draws targets
from them, traces.py searches them) and the evaluator of a model's answer (rewards.py): our own
recursive-descent parser in exact rational arithmetic, never eval."""
import re
from fractions import Fraction

_EXPR_MAX_CHARS = 200
_EXPR_MAX_DEPTH = 16


def reachable(nums):
    """Every (value, expression) that uses all of nums, combined left to right in some order with
    + - * and never a negative value on the way."""
    out = []
    def go(value, text, rest):
        if not rest:
            out.append((value, text))
        for i, x in enumerate(rest):
            nxt = rest[:i] + rest[i + 1:]
            for op in '+-*':
                v = value + x if op == '+' else value - x if op == '-' else value * x
                if v >= 0:
                    go(v, f'({text}) * {x}' if op == '*' and ' ' in text else f'{text} {op} {x}', nxt)
    for i, x in enumerate(nums):
        go(x, str(x), nums[:i] + nums[i + 1:])
    return out


class _Expression:
    """expr := term (('+'|'-') term)* ; term := atom (('*'|'/') atom)* ;
    atom := integer | '(' expr ')'. No unary minus, no other operators."""

    def __init__(self, text):
        self.tokens = re.findall(r'[0-9]+|\S', text)
        self.pos, self.depth, self.used = 0, 0, []

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self):
        token = self.peek()
        self.pos += 1
        return token

    def expr(self):
        value = self.term()
        while self.peek() in ('+', '-'):
            value = value + self.term() if self.take() == '+' else value - self.term()
        return value

    def term(self):
        value = self.atom()
        while self.peek() in ('*', '/'):
            op, right = self.take(), self.atom()
            if op == '/' and right == 0:
                raise ValueError('division by zero')
            value = value * right if op == '*' else value / right
        return value

    def atom(self):
        token = self.take()
        if token is not None and token.isascii() and token.isdigit() and len(token) <= 9:
            self.used.append(int(token))
            return Fraction(int(token))
        if token != '(':
            raise ValueError(f'unexpected {token!r}')
        self.depth += 1
        if self.depth > _EXPR_MAX_DEPTH:
            raise ValueError('nested too deep')
        value = self.expr()
        if self.take() != ')':
            raise ValueError('unclosed (')
        self.depth -= 1
        return value


def eval_countdown(text):
    """(value, numbers used) of an expression, or None if it is not a valid expression."""
    if len(text) > _EXPR_MAX_CHARS:
        return None
    parser = _Expression(text)
    try:
        value = parser.expr()
    except ValueError:  # the parser's own refusals: nothing else in it raises ValueError
        return None
    return (value, parser.used) if parser.pos == len(parser.tokens) else None  # "... = 24": invalid
