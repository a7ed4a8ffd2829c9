#!/usr/bin/env bash
# Installs what executing the GoNB notebooks needs, idempotently:
#   Jupyter's nbconvert (Debian package jupyter-nbconvert), goimports, GoNB v0.11.1 and its kernelspec.
# Facts behind each step: ../shared/notes/notebooks.md (e.g. `go install gonb@v0.11.1` is refused by the
# proxy here, so GoNB is built from a throw-away module).
set -euo pipefail
GOBIN="$(go env GOPATH)/bin"
export PATH="$GOBIN:$PATH"

if ! jupyter nbconvert --version >/dev/null 2>&1; then
  echo "install-notebook-tools: installing jupyter-nbconvert (apt)" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends jupyter-nbconvert >/dev/null
fi

if ! command -v goimports >/dev/null 2>&1; then
  echo "install-notebook-tools: installing goimports" >&2
  go install golang.org/x/tools/cmd/goimports@v0.52.0
fi

if [[ "$(gonb --version 2>&1 || true)" != *v0.11.1* ]]; then
  echo "install-notebook-tools: building GoNB v0.11.1" >&2
  d="$(mktemp -d)"
  (cd "$d" && go mod init tools >/dev/null 2>&1 && go get github.com/janpfeifer/gonb@v0.11.1 >/dev/null 2>&1 && go install github.com/janpfeifer/gonb)
  rm -rf "$d"
fi

kdir="$(jupyter --data-dir)/kernels/gonb"
if [ ! -f "$kdir/kernel.json" ] || ! grep -q "$GOBIN/gonb" "$kdir/kernel.json"; then
  echo "install-notebook-tools: installing the GoNB kernelspec" >&2
  gonb --install --force_deps >/dev/null
fi
echo "install-notebook-tools: jupyter nbconvert $(jupyter nbconvert --version), $(gonb --version 2>&1 | head -1), goimports ok" >&2
