"""Tests for config.py: overrides, types, bounds, choices, presets and their precedence, --help.

Run: .venv/bin/pytest tests/test_config.py
"""
import json
import os
import subprocess
import sys

import pytest
import torch

import config
import grpo
import train_zero
from config import autocast_ctx, configure, print_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = '''"""A toy script.

Second paragraph, not shown by --help."""
import json, sys
sys.path.insert(0, {root!r})
from config import configure, input_errors

preset = 'auto'      # 'auto' picks 'gpu' when CUDA is present, else 'cpu'
n_layer = 4          # transformer blocks
lr = 3e-4            # peak learning rate
compile = False      # use torch.compile
out_dir = 'out/base' # run folder
init_from = None     # optional checkpoint path
with input_errors():
    cfg = configure(globals(),
                    presets={{'cpu': {{'n_layer': 2}}, 'gpu': {{'n_layer': 12, 'lr': 1e-3}}}},
                    bounds={{'lr': (0, 1), 'n_layer': (1, None)}},
                    choices={{'preset': ('auto', 'cpu', 'gpu')}})
print(json.dumps(dict(vars(cfg), n_layer_global=n_layer)))
'''


@pytest.fixture
def script(tmp_path):
    path = tmp_path / 'toy.py'
    path.write_text(SCRIPT.format(root=ROOT))

    def run(*args):
        return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True)
    return run


def test_defaults_preset_and_overrides(script):
    r = script('--lr=0.01', '--compile', '--init_from=ckpt.pt')
    assert r.returncode == 0, r.stderr
    cfg = json.loads(r.stdout)
    assert cfg['preset'] in ('cpu', 'gpu')  # 'auto' resolved and recorded
    assert cfg['lr'] == 0.01 and cfg['compile'] is True and cfg['init_from'] == 'ckpt.pt'
    # the plain names are the declaration: configure never writes them
    assert cfg['n_layer_global'] == 4


@pytest.mark.parametrize('args, needle', [
    (['--lrr=0.1'], "unknown key 'lrr' (did you mean 'lr'?)"),
    (['--n_layer=3.5'], "--n_layer expects int, got '3.5'"),
    (['--lr=5'], '--lr=5 is out of range [0, 1]'),
    (['--n_layer=0'], '--n_layer=0 is out of range [1, inf]'),
    (['--preset=tpu'], "--preset=tpu is not one of 'auto', 'cpu', 'gpu'"),
    (['--compile=maybe'], "--compile expects bool, got 'maybe'"),
    (['--lr'], '--lr needs a value'),
    (['lr=0.1'], "expected --key=value, got 'lr=0.1'"),
])
def test_bad_input_exits_2_naming_the_key(script, args, needle):
    r = script(*args)
    assert r.returncode == 2
    assert r.stderr.startswith(f'config error: {needle}')
    assert r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr


def test_help_lists_keys_defaults_and_comments(script):
    r = script('--help')
    assert r.returncode == 0
    assert r.stdout.startswith('A toy script.') and 'Second paragraph' not in r.stdout
    assert '--lr=0.0003' in r.stdout and 'peak learning rate' in r.stdout
    assert '--init_from=None' in r.stdout and 'optional checkpoint path' in r.stdout
    assert 'preset gpu: n_layer=12 lr=0.001' in r.stdout


def g(**kw):
    return dict(__name__='x', __doc__='doc', json=json, configure=configure, _private=1, **kw)


def test_keys_and_types_in_process():
    ns = g(a=1, b=2.0, c='s', d=True, e=None)
    cfg = configure(ns, ['--a=3', '--b=4', '--c=hello', '--d=no', '--e=None'])
    assert vars(cfg) == {'a': 3, 'b': 4.0, 'c': 'hello', 'd': False, 'e': None}
    assert type(cfg.b) is float and ns['a'] == 1 and ns['_private'] == 1
    assert configure(g(e=None), ['--e=7']).e == '7'  # None-default keys take any string
    for text, value in [('true', True), ('1', True), ('YES', True), ('0', False), ('False', False)]:
        assert configure(g(d=False), [f'--d={text}']).d is value


def test_constants_are_not_keys():
    # an UPPER_CASE module constant (sft.py imports IGNORE_INDEX, sample.py has COMPACT_AT)
    # is no knob
    ns = g(lr=0.1, IGNORE_INDEX=-100, COMPACT_AT=0.75)
    assert vars(configure(ns, [])) == {'lr': 0.1}
    with pytest.raises(config.ConfigError, match="unknown key 'COMPACT_AT'"):
        configure(g(lr=0.1, COMPACT_AT=0.75), ['--COMPACT_AT=0.5'])


def test_precedence_defaults_preset_cli(monkeypatch):
    presets = {'cpu': {'n': 2, 'lr': 1}, 'gpu': {'n': 12}}
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = configure(g(preset='auto', n=4, lr=0.5), [], presets=presets)
    assert vars(cfg) == {'preset': 'cpu', 'n': 2, 'lr': 1.0}
    cfg = configure(g(preset='auto', n=4, lr=0.5), ['--n=7'], presets=presets)
    assert cfg.n == 7 and cfg.lr == 1.0
    cfg = configure(g(preset='auto', n=4, lr=0.5), ['--preset=gpu'], presets=presets)
    assert vars(cfg) == {'preset': 'gpu', 'n': 12, 'lr': 0.5}
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert configure(g(preset='auto', n=4, lr=0.5), [], presets=presets).preset == 'gpu'


@pytest.mark.parametrize('preset, needle', [({'m': 1}, "unknown key 'm' in preset 'cpu'"),
                                            ({'n': 'x'}, "preset 'cpu': n expects int, got 'x'"),
                                            ({'n': 0}, "preset 'cpu': n=0 is out of range [1, 9]")])
def test_presets_are_validated(preset, needle):
    with pytest.raises(config.ConfigError) as e:
        configure(g(preset='cpu', n=4), [], presets={'cpu': preset}, bounds={'n': (1, 9)})
    assert needle in str(e.value)


def test_script_mistakes_raise():
    with pytest.raises(ValueError, match='nope'):
        configure(g(n=1), [], bounds={'nope': (0, 1)})


def test_help_reads_indented_defaults_of_a_main_block(tmp_path, capsys):
    path = tmp_path / 'lib.py'
    path.write_text("if __name__ == '__main__':\n    top_k = 0  # 0 = off\n"
                    "    if top_k == 1:  # not a default\n")
    with pytest.raises(SystemExit) as e:
        configure(dict(__file__=str(path), __doc__='Lib.', top_k=0), ['--help'])
    lines = capsys.readouterr().out.splitlines()
    assert (e.value.code == 0 and lines[0] == 'Lib.'
            and lines[3].split() == ['--top_k=0', '0', '=', 'off'])


def test_print_config(capsys):
    print_config(config.Config(lr=0.1, out_dir='out/x'))
    assert capsys.readouterr().out == "lr      = 0.1\nout_dir = 'out/x'\n"


def test_device_and_autocast():
    assert config.get_device() in ('cuda', 'mps', 'cpu')
    with autocast_ctx('cpu', 'bfloat16'):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast_ctx('cpu', 'float32'):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    with pytest.raises(ValueError, match='float8'):
        autocast_ctx('cpu', 'float8')


@pytest.mark.parametrize('native', [True, False])
def test_auto_dtype_on_cpu_follows_native_bf16(monkeypatch, native):
    # bf16 autocast only where the CPU has bf16 matrix units: emulated, it made a step 21x slower
    monkeypatch.setattr(torch.cpu, '_is_amx_tile_supported', lambda: native)
    monkeypatch.setattr(torch.cpu, '_is_avx512_bf16_supported', lambda: False)
    assert config.resolve_dtype('auto', 'cpu') == ('bfloat16' if native else 'float32')
    assert (config.resolve_dtype('float32', 'cpu') == 'float32'
            and config.resolve_dtype('bfloat16', 'cpu') == 'bfloat16')
    assert config.resolve_dtype('auto', 'mps') == 'float32'


# ---------------------------------------------------------------------------- a loop's Options

LOOP = config.Options({'steps': config.Key(100, 'optimizer steps', (0, None)),
                       'agg': config.Key('token', 'how to reduce', choices=('token', 'grpo'))},
                      presets={'gpu': {'steps': 1000}})


def _script_globals(**own):
    return {'__doc__': 'A script.', 'preset': 'auto', **own}


def test_options_join_the_command_line_with_their_bounds_choices_and_presets():
    g = _script_globals(out_dir='out/x')
    cfg = configure(g, ['--preset=cpu', '--agg=grpo'], presets={'cpu': {}, 'gpu': {}},
                    options=LOOP)
    assert (vars(cfg) == {'preset': 'cpu', 'out_dir': 'out/x', 'steps': 100, 'agg': 'grpo'}
            and 'agg' not in g)
    # the loop's gpu preset applies, and the script's own preset overrides it
    assert configure(_script_globals(), ['--preset=gpu'], presets={'cpu': {}, 'gpu': {}},
                     options=LOOP).steps == 1000
    assert configure(_script_globals(), ['--preset=gpu'],
                     presets={'cpu': {}, 'gpu': {'steps': 500}}, options=LOOP).steps == 500
    # a preset only the loop names is still offered when the script lists none of its own
    assert configure(_script_globals(), ['--preset=gpu'], presets={'cpu': {}},
                     options=LOOP).steps == 1000
    for bad, said in (('--steps=-1', 'out of range'), ('--agg=mean', 'not one of'),
                      ('--stepz=3', "did you mean 'steps'")):
        with pytest.raises(config.ConfigError, match=said):
            configure(_script_globals(), [bad], options=LOOP)


def test_a_script_restating_a_loop_key_is_refused():
    with pytest.raises(ValueError, match="'steps' is defined both"):
        configure(_script_globals(steps=3), [], options=LOOP)


def test_help_shows_the_loop_keys_with_their_help(capsys):
    with pytest.raises(SystemExit):
        configure(_script_globals(), ['--help'], options=LOOP)
    out = capsys.readouterr().out
    assert '--steps=100' in out and 'optimizer steps' in out and 'how to reduce' in out


def test_settings_and_of_give_the_loop_keys_with_overrides():
    assert vars(LOOP.settings()) == {'steps': 100, 'agg': 'token'}
    assert vars(LOOP.settings('gpu', out_dir='o')) == {'steps': 1000, 'agg': 'token',
                                                       'out_dir': 'o'}
    mine = config.Config(steps=7, agg='grpo', other=1)
    assert vars(LOOP.of(mine, lr=1)) == {'steps': 7, 'agg': 'grpo', 'lr': 1}
    with pytest.raises(ValueError, match='unknown keys'):
        config.Options({'a': config.Key(1, 'a')}, presets={'gpu': {'b': 2}})


def test_train_zero_takes_every_grpo_key_and_grpo_train_needs_them():
    """The stages run one recipe: train_zero's command line is grpo.OPTIONS plus its own keys, and
    grpo.train refuses a config that lacks any of them."""
    cfg = configure(dict(vars(train_zero)), ['--preset=cpu'], presets=train_zero.PRESETS,
                    bounds=train_zero.BOUNDS, choices=train_zero.CHOICES, options=grpo.OPTIONS)
    assert grpo.OPTIONS.of(cfg) == grpo.OPTIONS.settings('cpu')
    with pytest.raises(ValueError, match='config lacks.*beta'):
        lacking = config.Config(**{k: v for k, v in vars(cfg).items() if k != 'beta'})
        grpo.train(None, None, lacking, draw_prompts=None, reward_fn=None)
