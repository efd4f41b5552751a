#!/bin/sh
# Installs the peers of `python -m tests.bench.run_bench --peers` (never at test time; needs network once):
#   - Portkey's gateway, pinned in tests/bench/peers/portkey/package-lock.json, with `npm ci`
#     (into tests/bench/peers/portkey/node_modules, ignored by git);
#   - LiteLLM's proxy, the same pin as pyproject.toml (litellm==1.106.2) with its proxy extra, in its own
#     virtualenv (default /tmp/bench-litellm-venv; override with BENCH_LITELLM_VENV).
# Usage: sh tests/bench/peers/setup.sh            (from the repository root)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${BENCH_LITELLM_VENV:-/tmp/bench-litellm-venv}
litellm_pin=$(grep -o '"litellm==[^"]*"' "$here/../../../pyproject.toml" | head -1 | tr -d '"')
(cd "$here/portkey" && npm ci --no-audit --no-fund --ignore-scripts)
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "${litellm_pin%%==*}[proxy]==${litellm_pin#*==}"
echo "peers installed: portkey in $here/portkey/node_modules, litellm proxy in $venv"
