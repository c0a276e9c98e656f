"""Configuration shared by every script, nanoGPT-style: each takes `--key=value` and `--help`.

A script writes its defaults as plain names at the top, one comment each, then calls

    cfg = configure(globals(), presets={'cpu': {...}, 'gpu': {...}},
                    bounds={'lr': (0, 1)}, choices={'preset': ('auto', 'cpu', 'gpu')})

Precedence: defaults < preset < `--key=value`. Plain names declare the keys and stay as written; the
code reads the final values by name from the returned `cfg` (`cfg.lr`), which config.json records.

A loop that several scripts run (GRPO, SFT) owns its keys in one `Options` table: default, help,
bounds, choices and presets, each written once. A script takes them onto its command line with
`configure(globals(), options=grpo.OPTIONS)`; a stage that runs the loop with a few keys changed
calls `grpo.OPTIONS.settings(preset, lr=...)` and inherits the rest. `--help` prints each key's
default and comment. A bad key or value raises ConfigError, which `input_errors()` (around every
main()) turns into one line naming it and exit status 2 (a plain check: `python -O` strips asserts).
"""
import contextlib
import difflib
import re
import sys
from dataclasses import dataclass
from types import SimpleNamespace

import torch

_TYPES = (bool, int, float, str, type(None))
_TRUE, _FALSE = ('true', '1', 'yes'), ('false', '0', 'no')


class InputError(ValueError):
    """A bad input (a key, a value, a file or folder): the message names it."""
    label = 'error'


class ConfigError(InputError):
    """A bad --key=value or preset entry."""
    label = 'config error'


@contextlib.contextmanager
def input_errors():
    """Around every main(): a bad input exits with status 2 and one line naming the key or file."""
    try:
        yield
    except (InputError, FileNotFoundError) as e:
        print(f"{getattr(e, 'label', 'error')}: {e}", file=sys.stderr)
        sys.exit(2)


class Config(SimpleNamespace):
    """A script's or a loop's settings, read by name: cfg.lr. vars(cfg) is the plain dict."""


@dataclass(frozen=True)
class Key:
    """One setting of a loop: its default, what it does, and the values it may take."""
    default: object
    help: str
    bounds: tuple = None   # (low, high), None for an open end
    choices: tuple = None


class Options:
    """One loop's settings: {name: Key} plus presets ({'gpu': {name: value}}) over the defaults."""

    def __init__(self, keys, presets=None):
        self.keys, self.presets = dict(keys), presets or {}
        for name, values in self.presets.items():
            if set(values) - set(self.keys):  # a mistake in the table itself
                raise ValueError(f'Options preset {name!r}: unknown keys '
                                 f'{sorted(set(values) - set(self.keys))}')

    def settings(self, preset='cpu', **over):
        """The defaults, then the preset, then `over` (which may add run keys such as out_dir)."""
        return Config(**{**{k: key.default for k, key in self.keys.items()},
                         **self.presets.get(preset, {}), **over})

    def of(self, cfg, **over):
        """The loop's keys as a script's config (built with options=self) has them, then `over`."""
        return Config(**{**{k: getattr(cfg, k) for k in self.keys}, **over})


def fail(msg):
    """Refuse a bad key or value: input_errors() prints `config error: ...`, exit status 2."""
    raise ConfigError(msg)


def _parse(key, text, default):
    """Turn the command-line string for `key` into a value of its default's type."""
    kind = type(default)
    try:
        if kind is bool:
            if text.lower() in _TRUE + _FALSE:
                return text.lower() in _TRUE
            raise ValueError
        if kind is int:
            return int(text)  # int('3.5') raises: an int knob never silently truncates
        if kind is float:
            return float(text)
    except ValueError:
        fail(f'--{key} expects {kind.__name__}, got {text!r}')
    if default is None and text == 'None':
        return None
    return text  # str keys, and None-default keys, which take any string


def _check(key, value, default, bounds, choices, where, shown=None):
    """Validate a value from a preset or the command line (type, range, allowed set)."""
    kind = type(default)
    shown = repr(value) if shown is None else shown  # the command line echoes what was typed
    ok = (default is None and (value is None or isinstance(value, str))
          or kind is float and type(value) in (int, float)
          or type(value) is kind)
    if not ok:
        fail(f'{where}{key} expects {kind.__name__}, got {value!r}')
    if key in bounds and value is not None:
        lo, hi = bounds[key]
        if not ((lo is None or value >= lo) and (hi is None or value <= hi)):  # NaN fails too
            fail(f"{where}{key}={shown} is out of range "
                 f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]")
    if key in choices and value not in choices[key]:
        fail(f'{where}{key}={shown} is not one of {", ".join(map(repr, choices[key]))}')
    return float(value) if kind is float else value


def _unknown(key, keys, where=''):
    close = difflib.get_close_matches(key, keys, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ''
    fail(f'unknown key {key!r}{where}{hint}')


def _help(g, defaults, presets, options=None):
    """Print the docstring's first paragraph, then `--key=default  comment` for every key."""
    comments = {}
    try:
        with open(g.get('__file__') or '', encoding='utf-8') as f:
            for line in f:  # `name = value  # comment` lines, indented too (a __main__ block)
                m = re.match(r'\s*(\w+)\s*=(?!=)[^#]*#\s*(.*)$', line)
                if m and m.group(1) not in comments:
                    comments[m.group(1)] = m.group(2).strip()
    except OSError:
        pass  # no source file (e.g. an interactive session): print keys without comments
    doc = (g.get('__doc__') or '').strip().split('\n\n')[0]
    if doc:
        print(doc + '\n')
    print('options (--key=value):')
    width = max((len(f'{k}={v!r}') for k, v in defaults.items()), default=0) + 4
    helps = {k: key.help for k, key in (options.keys.items() if options else ())}
    for k, v in defaults.items():
        print(f'  --{f"{k}={v!r}":<{width}}{helps.get(k) or comments.get(k, "")}')
    for name, values in (presets or {}).items():
        print(f'preset {name}: ' + ' '.join(f'{k}={v!r}' for k, v in values.items()))
    sys.exit(0)


def configure(g, argv=None, *, presets=None, bounds=None, choices=None, options=None):
    """The script's defaults (plain names in `g`, never written), then the preset and `--key=value`:
    a Config. options: a loop's Options, whose keys join the script's (the script's presets win)."""
    bounds, choices = dict(bounds or {}), dict(choices or {})
    # UPPER_CASE names are constants (an imported IGNORE_INDEX, COMPACT_AT), never keys
    defaults = {k: v for k, v in g.items()
                if not k.startswith('_') and not k.isupper() and type(v) in _TYPES}
    if options is not None:
        for k, key in options.keys.items():
            if k in defaults:  # one place per key: a script restating a loop's key is a mistake
                raise ValueError(f'configure: {k!r} is defined both by the script and by its '
                                 f'loop\'s Options')
            defaults[k] = key.default
            if key.bounds:
                bounds[k] = key.bounds
            if key.choices:
                choices[k] = key.choices
        mine = presets or {}  # a preset only the loop names still applies (the script's values win)
        presets = {name: {**options.presets.get(name, {}), **mine.get(name, {})}
                   for name in {**options.presets, **mine}}
    for k in list(bounds) + list(choices) + (['preset'] if presets else []):
        if k not in defaults:  # a mistake in the script itself, not in the user's input
            raise ValueError(f'configure: {k!r} is not a config key of this script')
    argv = sys.argv[1:] if argv is None else list(argv)
    if '--help' in argv or '-h' in argv:
        _help(g, defaults, presets, options)
    overrides = {}
    for arg in argv:
        if not arg.startswith('--'):
            fail(f'expected --key=value, got {arg!r}')
        key, eq, text = arg[2:].partition('=')
        if key not in defaults:
            _unknown(key, defaults)
        if not eq:
            if type(defaults[key]) is not bool:
                fail(f'--{key} needs a value: --{key}=...')
            text = 'true'  # a bare --flag switches a bool on
        value = _parse(key, text, defaults[key])
        overrides[key] = _check(key, value, defaults[key], bounds, choices, '--', text)
    cfg = dict(defaults)
    if presets:
        name = overrides.get('preset', defaults['preset'])
        if name == 'auto' and 'auto' not in presets:
            name = 'gpu' if torch.cuda.is_available() else 'cpu'
        if name not in presets:
            fail(f"--preset={name} is not one of {', '.join(map(repr, presets))}")
        for k, v in presets[name].items():
            if k not in defaults:
                _unknown(k, defaults, where=f' in preset {name!r}')
            cfg[k] = _check(k, v, defaults[k], bounds, choices, f'preset {name!r}: ')
        overrides['preset'] = name  # the resolved name, never 'auto', is what gets recorded
    cfg.update(overrides)
    return Config(**cfg)


def print_config(cfg):
    """One `key = value` line per key, names aligned."""
    width = max(map(len, vars(cfg)), default=0)
    for k, v in vars(cfg).items():
        print(f'{k:<{width}} = {v!r}')


def get_device():
    """The best available device (cuda, mps, cpu): the same script runs on a GPU or a laptop."""
    if torch.cuda.is_available():
        return 'cuda'
    if getattr(torch.backends, 'mps', None) is not None and torch.backends.mps.is_available():
        return 'mps'
    return 'cpu'


def autocast_ctx(device, dtype_name):
    """Mixed precision context for 'bfloat16'/'float16'; a no-op for 'float32'."""
    if dtype_name == 'float32':
        return contextlib.nullcontext()
    if dtype_name not in ('bfloat16', 'float16'):
        raise ValueError(f"dtype must be 'float32', 'bfloat16' or 'float16', got {dtype_name!r}")
    return torch.autocast(device_type=str(device).split(':')[0],  # 'cuda:0' -> 'cuda'
                          dtype=getattr(torch, dtype_name))


def resolve_dtype(name, device):
    """'auto': bfloat16 autocast on CUDA GPUs that have it and on CPUs with native bf16 matrix units
    (AMX or AVX512-BF16), where a training step measured 1.32x faster than float32, same first loss
    (`python bench.py dtype`). Else float32: on an AVX2-only CPU (a 2-core AMD EPYC) bf16 autocast
    emulates each matmul, 21x slower. The sampler stays in float32: decoding is overhead-bound."""
    if name != 'auto':
        return name
    if device == 'cuda':
        return 'bfloat16' if torch.cuda.is_bf16_supported() else 'float32'
    return 'bfloat16' if device == 'cpu' and cpu_has_bf16() else 'float32'


def cpu_has_bf16():
    """True when the CPU multiplies bf16 matrices natively (AMX tiles or AVX512-BF16)."""
    probes = ('_is_amx_tile_supported', '_is_avx512_bf16_supported')  # torch.cpu has them since 2.1
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)
