#!/usr/bin/env bash
# Writes every output a refactor must keep byte-identical into OUTDIR: `run --json` of every
# repository scenario under every scheme, `compare --json` of every scenario in both modes,
# and a fixed-seed fuzz campaign (its clock-dependent `progress:`/`timing:` lines dropped).
# Usage: tools/same-output.sh FOLIOLAB_BINARY OUTDIR   (run from the repository root)
# Then:  diff -r OUTDIR_BEFORE OUTDIR_AFTER            (must print nothing)
set -euo pipefail
bin=$(realpath "$1")
out=$2
mkdir -p "$out"
mapfile -t files < <(find examples tests -name '*.scn' | LC_ALL=C sort)
[ "${#files[@]}" -ge 850 ] || { echo "only ${#files[@]} scenarios found" >&2; exit 2; }
schemes="linux-5.7 linux-6.1 linux-6.5 linux-6.14 linux-6.18 linux-6.18-npm rfc-2026 vma-count rmap-id exact"
for s in $schemes; do
  for f in "${files[@]}"; do
    echo "== $f"
    "$bin" run --json --scheme "$s" "$f" 2>&1 || echo "exit $?"
  done > "$out/run-$s.jsonl"
done
for mode in shadow drive; do
  for f in "${files[@]}"; do
    echo "== $f"
    "$bin" compare --json --mode "$mode" "$f" 2>&1 || echo "exit $?"
  done > "$out/compare-$mode.jsonl"
done
# `cd /` so that the fuzz banner's commit reads `unknown` on both sides.
(cd / && "$bin" fuzz --seed 0x5eed --seeds 20 --steps 200 --jobs 1 --no-shrink -v 2>&1) \
  | grep -v -e '^progress:' -e '^timing:' > "$out/fuzz.txt" || true
wc -l "$out"/* | tail -1
