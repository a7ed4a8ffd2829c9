#!/usr/bin/env bash
# Re-runs the reliability probe's classes of bad input and faults (issue 16) against bin/dmseg and
# counts, per class, the cases that give a named error or correct output with no panic and nothing
# half-written left behind. Exit status 1 if any case fails. About a minute on 2 cores
# (the resume cases train ch3-unet-tiny for a few steps).
#
#   scripts/probe-reliability.sh            (builds bin/dmseg first)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export GOMLX_NO_AUTO_INSTALL=1 DMSEG_PJRT_DIR="${DMSEG_PJRT_DIR:-$ROOT/.pjrt}" PJRT_PLUGIN_LIBRARY_PATH="${PJRT_PLUGIN_LIBRARY_PATH:-$ROOT/.pjrt}"
go build -o bin/dmseg ./kernels/cmd/dmseg || exit 1
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
DM="$ROOT/bin/dmseg"
declare -A pass fail
order=()
failed=0

# check CLASS NAME WANT_RC WANT_TEXT NOT_CREATED -- ARGS...: runs dmseg ARGS in $D; passes when the
# exit status is WANT_RC ("nz" = non-zero), the output contains WANT_TEXT, no panic is printed and
# NOT_CREATED (a path, or "") does not exist afterwards.
check() {
  local class=$1 name=$2 rc_want=$3 text=$4 absent=$5
  shift 6
  [[ -v "pass[$class]" ]] || { pass[$class]=0; fail[$class]=0; order+=("$class"); }
  local out rc why=""
  out=$(cd "$D" && timeout 300 "$DM" "$@" 2>&1)
  rc=$?
  if [ "$rc_want" = nz ] && [ "$rc" = 0 ]; then why="exit 0"; fi
  if [ "$rc_want" != nz ] && [ "$rc" != "$rc_want" ]; then why="exit $rc"; fi
  if grep -q -e "^panic:" -e "^goroutine " <<<"$out"; then why="panic"; fi
  if [ -n "$text" ] && ! grep -qF -- "$text" <<<"$out"; then why="${why:+$why, }no \"$text\""; fi
  if [ -n "$absent" ] && [ -e "$D/$absent" ]; then why="${why:+$why, }left $absent"; fi
  if [ -z "$why" ]; then
    pass[$class]=$((pass[$class] + 1))
  else
    fail[$class]=$((fail[$class] + 1)); failed=1
    printf 'FAIL [%s] %s: %s\n  dmseg %s\n  %s\n' "$class" "$name" "$why" "$*" "$(tail -2 <<<"$out")"
  fi
}
# record CLASS NAME OK WHY: a case checked by the caller.
record() {
  local class=$1 name=$2 ok=$3 why=$4
  [[ -v "pass[$class]" ]] || { pass[$class]=0; fail[$class]=0; order+=("$class"); }
  if [ "$ok" = 1 ]; then pass[$class]=$((pass[$class] + 1)); else fail[$class]=$((fail[$class] + 1)); failed=1; printf 'FAIL [%s] %s: %s\n' "$class" "$name" "$why"; fi
}

"$DM" data phantom --n 2 --out "$D/ph" >/dev/null 2>&1
IN="ph/images/$(ls "$D/ph/images" | head -1)"
python3 - "$D/one.png" <<'PY' 2>/dev/null || cp "$D/$IN" "$D/one.png"
import sys, zlib, struct
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
huge = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")
open(sys.argv[1].replace("one.png", "huge.png"), "wb").write(huge)
PY

C=panics
check $C "grid --size 0" nz "--size must be in" out.png -- data grid --size 0 --out out.png
check $C "grid --cols 0" nz "--cols must be in" out.png -- data grid --cols 0 --out out.png
check $C "grid --size -5" nz "--size must be in" out.png -- data grid --size -5 --out out.png
check $C "grid --zoom 100000" nz "--zoom must be in" out.png -- data grid --zoom 100000 --out out.png
check $C "clahe --tiles 1e9" nz "--tiles must be in" out.png -- clahe --tiles 1000000000 "$IN" out.png
check $C "clahe --tiles 100000 on 1x1" nz "--tiles must be in" out.png -- clahe --tiles 100000 one.png out.png
check $C "clahe --tiles 200 on 1x1" nz "more tiles than" out.png -- clahe --tiles 200 one.png out.png
check $C "a PNG header of 100000x100000" nz "above the limit of 64 megapixels" out.png -- clahe huge.png out.png
check $C "schedule ddpm --steps 2e9" nz "must be in 2..100000" "" -- schedule ddpm --steps 2000000000

C=silent-wrong
check $C "grid --cols -2" nz "--cols must be in" out.png -- data grid --cols -2 --out out.png
check $C "grid --n -5" nz "--n must be in" out.png -- data grid --n -5 --out out.png
check $C "params --in-channels 9e18" nz "--in-channels must be in" "" -- params --config unet-cpu --in-channels 9000000000000000000
check $C "train --steps 0" nz "--steps must be in" "" -- train --experiment ch3-unet-tiny --steps 0 --artifacts arts --out run0
check $C "train --steps -5" nz "--steps must be in" "" -- train --experiment ch3-unet-tiny --steps -5 --artifacts arts --out run0
check $C "train --stop-at -1" nz "--stop-at must be in" "" -- train --experiment ch3-unet-tiny --stop-at -1 --artifacts arts --out run0
check $C "verify a missing root" nz "does not exist" "" -- artifacts verify --artifacts /no/such/dir
[ -e "$D/arts" ] && record $C "refused trains publish nothing" 0 "arts/ exists" || record $C "refused trains publish nothing" 1 ""

# One real tiny artifact for the artifact and resume cases.
(cd "$D" && "$DM" train --experiment ch3-unet-tiny --artifacts arts --out run1 >/dev/null 2>&1)
A=$(ls "$D/arts" 2>/dev/null | grep -v '^\.' | head -1)
cp -r "$D/arts/$A" "$D/extra-src"
mkdir -p "$D/arts2" && cp -r "$D/arts/$A" "$D/arts2/$A" && echo x > "$D/arts2/$A/unlisted.txt"
check $C "unlisted file in an artifact" nz "unlisted.txt" "" -- artifacts verify --artifacts arts2

C=provenance
(cd "$D" && "$DM" train --experiment ch3-unet-tiny --artifacts arts3 --out run2 --stop-at 3 >/dev/null 2>&1)
check $C "resume on another backend" nz "backend" "arts3" -- train --experiment ch3-unet-tiny --artifacts arts3 --out run2 --resume --backend go
cp "$D/run2/loss.csv" "$D/loss.bak"; head -2 "$D/loss.bak" > "$D/run2/loss.csv"
check $C "resume after loss.csv was shortened" nz "loss.csv" "arts3" -- train --experiment ch3-unet-tiny --artifacts arts3 --out run2 --resume
check $C "resume a finished run says so" 0 "already finished" "" -- train --experiment ch3-unet-tiny --artifacts arts --out run1 --resume
n=$(ls "$D/arts" | grep -vc '^\.')
[ "$n" = 1 ] && record $C "no duplicate artifact from the finished run" 1 "" || record $C "no duplicate artifact from the finished run" 0 "$n artifacts"

C=half-written
mkdir -p "$D/arts4" && cp -r "$D/arts/$A" "$D/arts4/$A"
mkdir -p "$D/arts4/.incomplete-x-1" && cp "$D/arts/$A/checkpoint.dmck" "$D/arts4/.incomplete-x-1/"
mkdir -p "$D/arts4/stray"
check $C "leftover and stray folders are reported" nz "incomplete" "" -- artifacts verify --artifacts arts4
out=$(cd "$D" && "$DM" artifacts verify --artifacts arts4 2>&1)
grep -q "$A" <<<"$out" && record $C "the other artifacts are still verified" 1 "" || record $C "the other artifacts are still verified" 0 "$A not named"
touch "$D/run2/.checkpoint.dmck.tmp123"
(cd "$D" && cp loss.bak run2/loss.csv && "$DM" train --experiment ch3-unet-tiny --artifacts arts3 --out run2 --resume >/dev/null 2>&1)
[ -e "$D/run2/.checkpoint.dmck.tmp123" ] && record $C "stale checkpoint temp files are removed" 0 "still there" || record $C "stale checkpoint temp files are removed" 1 ""
if [ "$(id -u)" = 0 ] && mkdir -p "$D/full" && mount -t tmpfs -o size=48k tmpfs "$D/full" 2>/dev/null; then
  check $C "data phantom into a full disk fails" nz "no space left" "" -- data phantom --n 400 --out full/ph
  whole=1
  for f in "$D"/full/ph/images/*; do [ -e "$f" ] || continue; [ -e "$D/full/ph/masks/$(basename "$f")" ] || whole=0; done
  for f in "$D"/full/ph/masks/*; do [ -e "$f" ] || continue; [ -e "$D/full/ph/images/$(basename "$f")" ] || whole=0; done
  [ -z "$(find "$D/full" -name '*.tmp*')" ] || whole=0
  record $C "a full disk leaves whole pairs and no temp files" $whole "a half pair or a temp file"
  umount "$D/full"
fi

C=special-files
if [ "$(id -u)" = 0 ] && [ -c /dev/full ]; then
  check $C "clahe onto /dev/full" nz "not a regular file" "" -- clahe "$IN" /dev/full
  [ -c /dev/full ] && record $C "/dev/full is still a device" 1 "" || record $C "/dev/full is still a device" 0 "replaced"
fi
out=$(cd "$D" && "$DM" clahe "$IN" - 2>/dev/null | head -c 8 | od -An -c | tr -d ' ')
[[ "$out" == *PNG* ]] && record $C "clahe to - writes the PNG to stdout" 1 "" || record $C "clahe to - writes the PNG to stdout" 0 "got $out"

C=messages
mkdir -p "$D/adir"
check $C "output path is a folder" nz "it is a folder" "" -- clahe "$IN" adir
check $C "empty output path" nz "is not a file path" "" -- clahe "$IN" ""
mkdir -p "$D/arts5" && cp -r "$D/arts/$A" "$D/arts5/$A" && echo '{' > "$D/arts5/$A/manifest.json"
check $C "sample --artifact EXPERIMENT with a broken manifest" nz "could not be read" "" -- sample --artifact ch3-unet-tiny --artifacts arts5 --sampler ddim --n 1 --seed 1 --out s.png
check $C "--root is an alias of --artifacts" 0 "" "" -- artifacts list --root arts
ln -s "$D/loop" "$D/loop"
check $C "a symbolic link loop as a data folder" nz "symbolic link loop" "" -- data inspect loop

total_p=0; total_f=0
printf '\n%-14s %5s %5s\n' class pass fail
for c in "${order[@]}"; do
  printf '%-14s %5d %5d\n' "$c" "${pass[$c]}" "${fail[$c]}"
  total_p=$((total_p + pass[$c])); total_f=$((total_f + fail[$c]))
done
printf '%-14s %5d %5d\n' total "$total_p" "$total_f"
exit $failed
