#!/usr/bin/env bash
# Installs the XLA CPU PJRT plugin into .pjrt/ (idempotent, checksummed).
# Source: PyPI wheel xla-cpu-pjrt==0.0.1 (Google's official CPU plugin).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.pjrt"
so="$dest/pjrt_c_api_cpu_plugin.so"
wheel_name=xla_cpu_pjrt-0.0.1-py3-none-manylinux_2_27_x86_64.whl
wheel_sha=55837b6b7b47daa717f2d9a5a03563ea0ceaa338d06a81a1e2d3f060d960decc
stamp="$dest/.installed-$wheel_sha"
if [ -f "$so" ] && [ -f "$stamp" ]; then
  exit 0
fi
mkdir -p "$dest/wheel"
if [ "$(uname -m)" != x86_64 ] || [ "$(uname -s)" != Linux ]; then
  echo "setup-pjrt: the xla-cpu-pjrt wheel is for Linux x86-64 only; dmseg will use the pure-Go backend" >&2
  exit 0
fi
wheel="$dest/wheel/$wheel_name"
if [ ! -f "$wheel" ] || ! echo "$wheel_sha  $wheel" | sha256sum -c --status; then
  pip=""
  for p in pip3 pip "python3 -m pip" "/usr/bin/python3 -m pip"; do
    if $p --version >/dev/null 2>&1; then pip=$p; break; fi
  done
  if [ -z "$pip" ]; then
    echo "setup-pjrt: no pip found; install python3-pip, or put pjrt_c_api_cpu_plugin.so into $dest yourself" >&2
    exit 1
  fi
  echo "setup-pjrt: downloading xla-cpu-pjrt==0.0.1 from PyPI (63.5 MB) ..." >&2
  $pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_27_x86_64 \
       --python-version 3.11 xla-cpu-pjrt==0.0.1 -d "$dest/wheel" >&2
fi
if ! echo "$wheel_sha  $wheel" | sha256sum -c --status; then
  echo "setup-pjrt: sha256 mismatch for $wheel (expected $wheel_sha); refusing to install" >&2
  rm -f "$wheel"
  exit 1
fi
tmp=$(mktemp -d "$dest/extract.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
python3 - "$wheel" "$tmp" <<'PY' 2>/dev/null || (cd "$tmp" && unzip -q -o "$wheel" 'xla_plugins/*')
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so", sys.argv[2])
PY
mv -f "$tmp/xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so" "$so.tmp"
chmod 0755 "$so.tmp"
mv -f "$so.tmp" "$so"
rm -f "$dest"/.installed-*
touch "$stamp"
echo "setup-pjrt: installed $so" >&2
