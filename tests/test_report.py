"""report.py: the page of a run, read from its files and checked in a real browser.

The run folders here are written by hand (config.json, eval.json, metrics.jsonl, samples.jsonl,
eval_samples.jsonl in the shapes the loops write; tests/test_scripts.py checks that the scripts
write them). The browser tests open the page in headless Chromium (Debian's `chromium`, driven
by Playwright); they skip, saying so, where no Chromium is installed. .ci/run installs it.

Run: .venv/bin/pytest tests/test_report.py
"""
import json
import os
import shutil

import pytest

import report
from config import InputError

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
STEPS, GROUPS, G = 4, 2, 3


def write_jsonl(path, rows):
    with open(path, 'w', encoding='utf-8') as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + '\n' for r in rows)


def make_run(folder, samples=True):
    """A small R1-Zero-shaped run: 4 steps, 2 prompts x 3 rollouts kept a step, base and zero."""
    os.makedirs(folder)
    json.dump({'preset': 'cpu', 'steps': STEPS, 'family': 'findx'},
              open(folder / 'config.json', 'w'))
    block = lambda acc: {'findx': {'n': 2, 'k': 2, 'pass@1': acc, 'pass@k': acc, 'maj@k': acc,
                                   'greedy': acc, 'format': 1.0, 'lang_mixed': 0.0,
                                   'mean_len': 40.0, 'reflection_rate': acc}}
    json.dump({'models': {'base': {'step': 0, 'checkpoint': 'b', 'tasks': block(0.25)},
                          'zero': {'step': STEPS, 'checkpoint': 'z', 'tasks': block(0.75)}},
               'seconds': {'eval_base': 1.5}}, open(folder / 'eval.json', 'w'))
    write_jsonl(folder / 'metrics.jsonl',
                [{'step': s, 'reward': 0.2 * s, 'accuracy': 0.2 * s, 'format': 0.9,
                  'mean_len': 40 + 5 * s, 'reflection_rate': 0.2 * s, 'gen_s': 1.0, 'train_s': 0.5,
                  **({'eval_pass@1': 0.2 * s} if s % 2 == 0 else {})} for s in range(STEPS)])
    if samples:
        rows = []
        for s in range(STEPS):
            for g in range(GROUPS):
                for i in range(G):
                    right = (s + g + i) % 3 == 0
                    rows.append({'step': s, 'group': g, 'id': f'p{g}', 'family': 'findx',
                                 'lang': 'en' if g == 0 else 'zh',
                                 'prompt': f'Template. User: Find x: x + {g} = 5. Assistant:',
                                 'response': f'<think> try 2: 2 + {g} = {2 + g}. wait, try 3 '
                                             f'</think> <answer> {3 if right else 4} </answer>',
                                 'reward': float(right),
                                 'parts': {'accuracy': float(right), 'format': 1.0},
                                 'correct': right, 'length': 20 + i, 'stopped': True,
                                 'reflective': i != 1})
        write_jsonl(folder / 'samples.jsonl', rows)
    write_jsonl(folder / 'eval_samples.jsonl',
                [{'model': m, 'id': f'q{j}', 'index': j, 'family': 'findx', 'lang': 'en',
                  'question': f'Find x: x + {j} = 9',
                  'sample': k, 'text': f'<think> {m} thinks </think> <answer> {9 - j} </answer>',
                  'tokens': 12, 'correct': 1.0 if m == 'zero' else 0.0, 'answer': str(9 - j),
                  'format': 1.0, 'mixed': 0.0, 'reflect': 0.0, 'direct': 1.0}
                 for m in ('base', 'step 0', 'zero') for j in range(3) for k in range(2)])
    return folder


def test_load_run_reads_every_file_and_counts_broken_lines(tmp_path):
    run = make_run(tmp_path / 'zero')
    with open(run / 'samples.jsonl', 'a') as f:
        f.write('{"step": 3, "respo\n')  # a write cut short
    data = report.load_run(str(run))
    assert len(data['samples']) == STEPS * GROUPS * G and data['skipped'] == {'samples.jsonl': 1}
    assert [r['step'] for r in data['stages'][0]['metrics']] == list(range(STEPS))
    assert 'gen_s' not in data['stages'][0]['metrics'][0]  # timings go to the timing line
    assert data['stages'][0]['timing'] == {'gen_s': 4.0, 'train_s': 2.0}
    assert {r['sample'] for r in data['eval_samples']} == {0}  # one response a problem is inlined
    assert set(data['models']) == {'base', 'zero'}


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(InputError, match=str(tmp_path)):
        report.load_run(str(tmp_path))


HOSTILE = ['</script><script>window.PWNED = 1</script>', '--><img src=x onerror="window.PWNED=1">',
           '<!-- <script>', '{{data}} {{title}}']


def hostile_run(folder):
    """A run whose model text tries to end the page's script or comment, and a row without the
    fields the page reads."""
    run = make_run(folder)
    with open(run / 'samples.jsonl', 'a') as f:
        for i, text in enumerate(HOSTILE):
            f.write(json.dumps({'step': 0, 'prompt': f'User: {text} Assistant:', 'response': text,
                                'correct': None, 'reflective': False, 'parts': {}}) + '\n')
        f.write(json.dumps({'step': 0, 'response': 'no prompt'}) + '\n')
    return run


def test_the_page_is_one_file_whose_data_cannot_end_its_script(tmp_path):
    page = open(report.write_report([str(hostile_run(tmp_path / 'zero'))], quiet=True),
                encoding='utf-8').read()
    assert page.count('</script>') == 2 and page.count('<script') == 2 and '<!--' in page[:200]
    assert page.count('<!--') == 1 and '{{data}}' not in page.split('<body>')[0]
    assert 'http://' not in page.replace('http://www.w3.org/2000/svg', '')


@pytest.fixture
def browser():
    if not CHROMIUM:
        pytest.skip('no Chromium installed (Debian: apt-get install chromium); .ci/run installs it')
    sync_playwright = pytest.importorskip('playwright.sync_api').sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox', '--disable-gpu'])
        yield b
        b.close()


def open_page(browser, path):
    """The page, with every console error and every request it made."""
    page = browser.new_page(viewport={'width': 1200, 'height': 900})
    errors, requests = [], []
    page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)
    page.on('pageerror', lambda e: errors.append(str(e)))
    page.on('request', lambda r: requests.append(r.url))
    page.goto('file://' + os.path.abspath(path))
    page.wait_for_function('window.reportReady !== undefined')
    return page, errors, requests


def test_the_page_in_a_browser(browser, tmp_path):
    run = make_run(tmp_path / 'zero')
    page, errors, requests = open_page(browser, report.write_report([str(run)], quiet=True))
    rows = [json.loads(line) for line in open(run / 'samples.jsonl')]
    for step in (0, 2):  # the slider's position is an index into the steps
        page.eval_on_selector(
            '#step', f'e => {{ e.value = {step}; e.dispatchEvent(new Event("input")); }}')
        at = [r for r in rows if r['step'] == step]
        assert page.locator('#samples .sample').count() == len(at) == GROUPS * G
        page.select_option('#outcome', 'correct')
        assert page.locator('#samples .sample').count() == sum(r['correct'] for r in at)
        page.select_option('#reflective', 'no')
        shown = page.locator('#samples .sample').count()
        assert shown == sum(r['correct'] and not r['reflective'] for r in at)
        page.select_option('#outcome', 'all')
        page.select_option('#reflective', 'all')
    page.select_option('#lang', 'zh')
    zh = sum(r['step'] == 2 and r['lang'] == 'zh' for r in rows)
    assert page.locator('#samples .sample').count() == zh
    # the reflection marker, highlighted
    assert page.locator('#samples mark').first.inner_text().lower() == 'wait'
    # before and after: the same held-out problem, base then zero
    panes = page.locator('#pair .pane')
    ids = lambda: panes.evaluate_all('ps => ps.map(p => p.dataset.id)')
    assert panes.count() == 2 and len(set(ids())) == 1
    page.select_option('#problem', 'findx:2')  # a problem is its family and place in the set
    assert ids() == ['q2', 'q2']
    assert 'base: wrong' in panes.nth(0).inner_text()
    assert 'zero: correct' in panes.nth(1).inner_text()
    assert page.locator('#curves svg').count() >= 3
    assert 'reflective > 1/2 at step 3' in page.locator('#curves').text_content()
    assert page.locator('#runs table').first.inner_text().count('findx') == 2
    page.screenshot(path=str(tmp_path / 'report.png'), full_page=True)
    assert os.path.getsize(tmp_path / 'report.png') > 10_000
    assert errors == [] and all(u.startswith('file://') for u in requests), (errors, requests)
    print(f"page ready {page.evaluate('window.reportReady'):.0f} ms after navigation")


def test_hostile_text_stays_text(browser, tmp_path):
    page, errors, requests = open_page(browser, report.write_report(
        [str(hostile_run(tmp_path / 'zero'))], quiet=True))
    page.eval_on_selector('#step', 'e => { e.value = 0; e.dispatchEvent(new Event("input")); }')
    shown = page.locator('#samples').inner_text()
    assert all(text in shown for text in HOSTILE) and page.evaluate('window.PWNED') is None
    assert '1 malformed line skipped in samples.jsonl' in page.inner_text('#runs')  # no prompt
    # chat-like rows (correct: null) are neither correct nor wrong
    page.select_option('#outcome', 'wrong')
    assert not any(text in page.locator('#samples').inner_text() for text in HOSTILE)
    assert errors == [] and all(u.startswith('file://') for u in requests), (errors, requests)


def test_a_run_without_samples_or_with_broken_lines_still_shows_what_it_has(browser, tmp_path):
    old = make_run(tmp_path / 'old', samples=False)  # a run folder from before samples were kept
    page, errors, _ = open_page(browser, report.write_report([str(old)], quiet=True))
    assert 'no rollouts recorded' in page.inner_text('#browser')
    assert page.locator('#curves svg').count() >= 3 and page.locator('#runs table').count() >= 1
    assert errors == []
    run = make_run(tmp_path / 'zero')
    with open(run / 'samples.jsonl', 'a') as f:
        f.write('not json at all\n{"step": 1, "respo\n')
    page, errors, _ = open_page(browser, report.write_report([str(run), str(old)], quiet=True))
    assert '2 malformed lines skipped in samples.jsonl' in page.inner_text('#runs')
    # the two runs' curves overlaid
    assert page.locator('#curves .legend span').filter(has_text='old accuracy').count() == 1
    assert errors == []
