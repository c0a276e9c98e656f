"""Published base models in, our checkpoints out: Hugging Face folders, Qwen2 and Llama families.

R1 starts from a pretrained base (DeepSeek-V3-Base; its distilled students from Qwen2.5 and Llama 3,
section 2.4). `model.Transformer` is that architecture, named as in Qwen2, so a Hugging Face folder
(config.json, *.safetensors sharded or not, tokenizer.json) loads by mapping config keys, stripping
the weights' `model.` prefix. Refused, naming the key: other model types, rope scaling, sliding
windows, Llama's attention or MLP biases, a head_dim other than hidden_size / num_attention_heads.

    model = load_hf('Qwen2.5-0.5B')                    # weights keep their stored dtype
    export_hf(model, tok, 'out/zero/hf')               # transformers' from_pretrained reads it

Every error here is an HFError (a config.InputError) naming the file or key; scripts turn it into a
one-line message and exit status 2."""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file

from config import InputError, input_errors
from model import ModelConfig, Transformer

SUPPORTED = ('qwen2', 'llama')
CONFIG, INDEX, WEIGHTS = 'config.json', 'model.safetensors.index.json', 'model.safetensors'


class HFError(InputError):
    pass


def is_hf_folder(path):
    """A folder with no ckpt.pt of ours but safetensors weights, or a config.json with a model_type
    (our run folders write a config.json of their own before their first checkpoint). A partial
    one counts, so that loading it names what is missing instead of pretraining into it."""
    if not os.path.isdir(path) or os.path.exists(os.path.join(path, 'ckpt.pt')):
        return False
    if any(os.path.exists(os.path.join(path, f)) for f in (INDEX, WEIGHTS)):
        return True
    try:
        with open(os.path.join(path, CONFIG), encoding='utf-8') as f:
            return 'model_type' in json.load(f)
    except (OSError, ValueError):
        return False


def _read_json(path):
    if not os.path.exists(path):
        raise HFError(f'{path} not found')
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HFError(f'{path} is not valid JSON: {e}') from None


def model_config(hf, where=CONFIG):
    """ModelConfig from a Hugging Face config dict; what we would compute differently is refused."""
    def need(key):
        if key not in hf:
            raise HFError(f'{where}: missing key {key!r}')
        return hf[key]
    kind = need('model_type')
    if kind not in SUPPORTED:
        raise HFError(f'{where}: model_type {kind!r} is not supported '
                      f'(only {", ".join(SUPPORTED)})')
    rope = hf.get('rope_parameters') or {}  # transformers 5 writes rope_theta in here
    if hf.get('rope_scaling') or rope.get('rope_type', 'default') != 'default':
        raise HFError(f'{where}: rope_scaling / rope_parameters.rope_type is not supported '
                      '(plain RoPE only)')
    if hf.get('use_sliding_window') or 'sliding_attention' in (hf.get('layer_types') or ()):
        raise HFError(f'{where}: use_sliding_window / layer_types: sliding-window attention '
                      'is not supported')
    if hf.get('hidden_act', 'silu') != 'silu':
        raise HFError(f"{where}: hidden_act {hf['hidden_act']!r} is not supported "
                      "(SwiGLU with silu only)")
    for key in ('attention_bias', 'mlp_bias'):  # Qwen2's q/k/v biases are its own, fixed pattern
        if kind == 'llama' and hf.get(key):
            raise HFError(f'{where}: {key}=true is not supported')
    for key in ('num_experts', 'num_local_experts', 'n_routed_experts'):
        if hf.get(key):
            raise HFError(f'{where}: {key}: mixture-of-experts layers are not supported')
    if hf.get('pretraining_tp', 1) != 1:
        raise HFError(f'{where}: pretraining_tp != 1 is not supported')
    n_embd, n_head = need('hidden_size'), need('num_attention_heads')
    if hf.get('head_dim') not in (None, n_embd // n_head):
        raise HFError(f"{where}: head_dim {hf['head_dim']} is not "
                      "hidden_size / num_attention_heads")
    try:
        return ModelConfig(
            vocab_size=need('vocab_size'), n_layer=need('num_hidden_layers'), n_head=n_head,
            n_kv_head=hf.get('num_key_value_heads') or n_head, n_embd=n_embd,
            block_size=need('max_position_embeddings'), mlp_hidden=need('intermediate_size'),
            rope_theta=float(rope.get('rope_theta', hf.get('rope_theta', 10000.0))),
            qkv_bias=kind == 'qwen2', tie_embeddings=bool(hf.get('tie_word_embeddings', False)),
            norm_eps=float(hf.get('rms_norm_eps', 1e-6)))
    except ValueError as e:
        raise HFError(f'{where}: {e}') from None


def read_weights(folder):
    """name -> tensor from model.safetensors, or from every shard its index names."""
    index = os.path.join(folder, INDEX)
    if os.path.exists(index):
        weight_map = _read_json(index).get('weight_map')
        if not isinstance(weight_map, dict):
            raise HFError(f'{index}: no weight_map')
        files = sorted(set(weight_map.values()))
    elif os.path.exists(os.path.join(folder, WEIGHTS)):
        files, weight_map = [WEIGHTS], None
    else:
        raise HFError(f'{folder}: no {WEIGHTS} or {INDEX} (only safetensors weights are read)')
    tensors = {}
    for name in files:
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            raise HFError(f'{path}: shard named by {INDEX} is missing')
        try:
            tensors.update(load_file(path))
        except Exception as e:  # safetensors raises its own error types for a truncated header
            raise HFError(f'{path} is unreadable ({type(e).__name__}: {e})') from None
    if weight_map is not None:
        missing = sorted(set(weight_map) - set(tensors))
        if missing:
            raise HFError(f'{index} names {missing[0]!r} but no shard holds it')
    return tensors


def load_hf(folder, device='cpu'):
    """A Transformer with the folder's weights, in the dtype they are stored in."""
    cfg = model_config(_read_json(os.path.join(folder, CONFIG)), os.path.join(folder, CONFIG))
    # old exports saved the rotary table; we compute it from rope_theta
    state = {name.removeprefix('model.'): t for name, t in read_weights(folder).items()
             if not name.endswith('rotary_emb.inv_freq')}
    if cfg.tie_embeddings:
        state.pop('lm_head.weight', None)  # some tied exports store the shared matrix twice
        state['lm_head.weight'] = state.get('embed_tokens.weight')
    with torch.device('meta'):  # no random init of weights that are about to be replaced
        model = Transformer(cfg)
    expected = model.state_dict()
    for name in sorted(set(expected) | set(state)):
        if name not in state or state[name] is None:
            raise HFError(f'{folder}: weight {name!r} is missing')
        if name not in expected:
            raise HFError(f'{folder}: unexpected weight {name!r} (not a {cfg} model)')
        if tuple(state[name].shape) != tuple(expected[name].shape):
            raise HFError(f'{folder}: weight {name!r} has shape {tuple(state[name].shape)}, '
                          f'config.json implies {tuple(expected[name].shape)}')
    model.load_state_dict(state, assign=True)
    if cfg.tie_embeddings:
        model.lm_head.weight = model.embed_tokens.weight  # assign=True replaced the tied Parameter
    return model.to(device).eval()


def hf_config(cfg, dtype, eos_id=None, pad_id=None):
    """The config.json of our ModelConfig: Qwen2 when it has q/k/v biases, else Llama."""
    kind = 'qwen2' if cfg.qkv_bias else 'llama'
    out = {'architectures': ['Qwen2ForCausalLM' if cfg.qkv_bias else 'LlamaForCausalLM'],
           'model_type': kind, 'vocab_size': cfg.vocab_size, 'hidden_size': cfg.n_embd,
           'intermediate_size': cfg.mlp_hidden, 'num_hidden_layers': cfg.n_layer,
           'num_attention_heads': cfg.n_head, 'num_key_value_heads': cfg.n_kv_head,
           'head_dim': cfg.head_dim, 'max_position_embeddings': cfg.block_size,
           'rms_norm_eps': cfg.norm_eps, 'rope_theta': cfg.rope_theta,
           'tie_word_embeddings': cfg.tie_embeddings, 'hidden_act': 'silu',
           'torch_dtype': str(dtype).removeprefix('torch.'),
           'eos_token_id': eos_id, 'bos_token_id': None, 'pad_token_id': pad_id}
    if kind == 'llama':
        out.update(attention_bias=False, mlp_bias=False)
    return out


def export_hf(model, tok, folder):
    """Write model (and tokenizer) as a Hugging Face folder that from_pretrained loads."""
    os.makedirs(folder, exist_ok=True)
    cfg = model.config
    state = {('' if n == 'lm_head.weight' else 'model.') + n: t.detach().contiguous().cpu()
             for n, t in model.state_dict().items()}
    if cfg.tie_embeddings:
        del state['lm_head.weight']  # one shared matrix; safetensors refuses to store it twice
    save_file(state, os.path.join(folder, WEIGHTS), metadata={'format': 'pt'})
    dtype = next(model.parameters()).dtype
    with open(os.path.join(folder, CONFIG), 'w') as f:
        json.dump(hf_config(cfg, dtype, tok.eot_id if tok else None,
                            tok.pad_id if tok else None), f, indent=2)
    if tok is not None:
        tok.save_hf(folder)


def n_params(cfg):
    """Parameter count of a ModelConfig, from its shapes (tied embeddings counted once)."""
    attn = cfg.n_embd * cfg.head_dim * (2 * cfg.n_head + 2 * cfg.n_kv_head)  # q, o and k, v
    bias = cfg.head_dim * (cfg.n_head + 2 * cfg.n_kv_head) if cfg.qkv_bias else 0
    per_layer = attn + bias + 3 * cfg.n_embd * cfg.mlp_hidden + 2 * cfg.n_embd
    embed = cfg.vocab_size * cfg.n_embd * (1 if cfg.tie_embeddings else 2)
    return cfg.n_layer * per_layer + embed + cfg.n_embd


def memory_estimate(cfg, rows, tokens, micro_batch):
    """GiB one GPU needs per GRPO step, by parts: float32 weights, gradients and AdamW's two moments
    (grpo.train keeps float32 master weights); the float32 reference model (--beta > 0); the bf16
    rollout KV cache of `rows` sequences of `tokens`; the float32 logits of one micro-batch (the
    largest activation at a big vocabulary). Not counted, so a floor: other activations, data
    parallelism's float32 gradients (4 bytes a parameter), the CUDA context, allocator slack."""
    gib = 2 ** 30
    n = n_params(cfg)
    kv = rows * tokens * cfg.n_layer * 2 * cfg.n_kv_head * cfg.head_dim * 2
    parts = {'weights+grads+adam': 16 * n, 'reference': 4 * n, 'kv_cache': kv,
             'logits': micro_batch * tokens * cfg.vocab_size * 4}
    return {'params_B': round(n / 1e9, 3), **{k: round(v / gib, 1) for k, v in parts.items()},
            'total': round(sum(parts.values()) / gib, 1)}


def main(argv):
    """python hf.py export RUN OUT: one of our run folders -> a Hugging Face folder
       python hf.py estimate FOLDER [ROWS TOKENS MICRO_BATCH]: memory_estimate of its config.json"""
    if len(argv) >= 3 and argv[0] == 'export':
        from checkpoint import load_model  # here, not at the top: checkpoint imports hf
        model, tok = load_model(argv[1])
        export_hf(model, tok, argv[2])
        print(f'wrote {argv[2]} '
              f'({hf_config(model.config, next(model.parameters()).dtype)["architectures"][0]})')
    elif len(argv) in (2, 5) and argv[0] == 'estimate':
        if len(argv) == 5 and not all(x.isdigit() and int(x) > 0 for x in argv[2:]):
            raise InputError(f'hf.py estimate: ROWS TOKENS MICRO_BATCH must be positive integers, '
                             f'got {" ".join(argv[2:])}')
        rows, tokens, micro = (int(x) for x in argv[2:]) if len(argv) == 5 else (32 * 16, 1024, 8)
        est = memory_estimate(model_config(_read_json(os.path.join(argv[1], CONFIG))),
                              rows, tokens, micro)
        print(f'{argv[1]}: {est} GiB (a floor; rows={rows} tokens={tokens} micro_batch={micro})')
    else:
        raise InputError('usage: python hf.py export RUN OUT | '
                         'estimate FOLDER [ROWS TOKENS MICRO_BATCH]')


if __name__ == '__main__':
    with input_errors():
        main(sys.argv[1:])
