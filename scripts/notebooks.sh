#!/usr/bin/env bash
# Executes every notebooks/*.ipynb headless with nbconvert (GoNB kernel) and writes the executed
# notebook, with its outputs, back in place. Fails if any notebook has an error output, a "panic:"
# or an "exit status N" line in its stderr: nbconvert itself exits 0 after a Go panic or os.Exit.
# Each executed notebook is also rendered to notebooks/html/NAME.html for readers without Go.
# Usage: scripts/notebooks.sh [notebook.ipynb ...]   (default: all of notebooks/)
#   NOTEBOOK_TIMEOUT    per-cell timeout in seconds (default 600)
#   NOTEBOOK_INPLACE    0: leave the committed notebooks untouched, only check (default 1)
#   NOTEBOOK_HTML_ONLY  1: only render the committed (already executed) notebooks to HTML
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
./scripts/install-notebook-tools.sh
export PATH="$(go env GOPATH)/bin:$PATH"
export GOMLX_NO_AUTO_INSTALL=1
# Headless: GoNB widgets wait for a browser front-end, so interactive cells draw their default view only.
export DMSEG_HEADLESS=1
export DMSEG_PJRT_DIR="${DMSEG_PJRT_DIR:-$ROOT/.pjrt}"
export PJRT_PLUGIN_LIBRARY_PATH="${PJRT_PLUGIN_LIBRARY_PATH:-$ROOT/.pjrt}"
timeout="${NOTEBOOK_TIMEOUT:-600}"
inplace="${NOTEBOOK_INPLACE:-1}"

if [ $# -gt 0 ]; then nbs=("$@"); else nbs=(notebooks/*.ipynb); fi
if [ ! -e "${nbs[0]}" ]; then
  echo "notebooks.sh: no notebooks found" >&2
  exit 0
fi

# html NB: renders an executed notebook to notebooks/html/ (written to a temp name, then renamed).
html() {
  mkdir -p notebooks/html
  local base; base="$(basename "$1" .ipynb)"
  jupyter nbconvert --to html --output-dir notebooks/html --output "$base.tmp" "$1" 2>/dev/null &&
    mv "notebooks/html/$base.tmp.html" "notebooks/html/$base.html" && echo "notebooks.sh: wrote notebooks/html/$base.html" >&2
}

if [ "${NOTEBOOK_HTML_ONLY:-0}" = 1 ]; then
  for nb in "${nbs[@]}"; do html "$nb" || exit 1; done
  exit 0
fi

fail=0
for nb in "${nbs[@]}"; do
  out="$(mktemp -d)"
  start=$(date +%s)
  echo "notebooks.sh: executing $nb" >&2
  if ! jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout="$timeout" \
      --ExecutePreprocessor.kernel_name=gonb --output-dir "$out" --output executed.ipynb "$nb" 2>"$out/nbconvert.log"; then
    tail -30 "$out/nbconvert.log" >&2
    echo "notebooks.sh: FAIL $nb: nbconvert failed (log above)" >&2
    fail=1
    continue
  fi
  if ! python3 scripts/check-notebook.py "$out/executed.ipynb" "$nb"; then
    echo "notebooks.sh: FAIL $nb" >&2
    fail=1
    [ "$inplace" = 1 ] && cp "$out/executed.ipynb" "$nb.failed.ipynb" && echo "notebooks.sh: executed copy in $nb.failed.ipynb" >&2
    continue
  fi
  if [ "$inplace" = 1 ]; then
    cp "$out/executed.ipynb" "$nb.tmp" && mv "$nb.tmp" "$nb"
    html "$nb" || fail=1
  fi
  echo "notebooks.sh: ok $nb ($(( $(date +%s) - start ))s)" >&2
  rm -rf "$out"
done
exit $fail
