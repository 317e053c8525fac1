#!/usr/bin/env bash
# Measures two foliolab binaries side by side on the figures of issue 13, in paired,
# interleaved runs (OLD, NEW, OLD, NEW, ...) so that a loaded machine slows both alike:
#   - fuzz statements per CPU-second with every scheme (200 steps per case),
#   - the per-statement cost at 1000 steps per case over the cost at 200,
#   - checked / unchecked `run` of 1 GiB of 4K pages (map, write, fork, child exit, munmap),
#   - checked / unchecked `run` of FORKS forks from one parent.
# Times are user CPU seconds (/usr/bin/time %U), the median of REPS runs; say in any record
# whether the machine was loaded.
# Usage: tools/perf/compare.sh OLD_BINARY NEW_BINARY   (env: REPS=3 FORKS=5000 OLD_FORKS=1000)
set -euo pipefail
old=$(realpath "$1")
new=$(realpath "$2")
reps=${REPS:-3}
forks=${FORKS:-5000}
old_forks=${OLD_FORKS:-1000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cpu() { # cpu BINARY ARGS... : user seconds of one run
  /usr/bin/time -f %U -o "$work/t" "$@" > /dev/null 2>&1 || true
  tail -1 "$work/t"
}
median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
paired() { # paired NAME ARGS... : median user seconds of OLD and NEW, interleaved
  local name=$1; shift
  : > "$work/$name.old"; : > "$work/$name.new"
  for _ in $(seq "$reps"); do
    cpu "$old" "$@" >> "$work/$name.old"
    cpu "$new" "$@" >> "$work/$name.new"
  done
  echo "$(median < "$work/$name.old") $(median < "$work/$name.new")"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

gib_4k() {
  cat <<'SCN'
scenario 1
spawn p
p: map a 1G
p: advise a nohugepage
p: write a 0x1
p: fork c
c: exit
p: unmap a
SCN
}
forks_scn() {
  printf 'scenario 1\nspawn p\np: map a 2M\np: write a 0x1\n'
  for i in $(seq "$1"); do printf 'p: fork c%d\n' "$i"; done
}
gib_4k > "$work/gib-4k.scn"
forks_scn "$forks" > "$work/forks.scn"
forks_scn "$old_forks" > "$work/forks-old.scn"

echo "# paired, interleaved runs (old, new) x $reps; user CPU seconds, median"
echo "# host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
fuzz=(fuzz --seed 0x5eed --jobs 1 --no-shrink)
read -r o200 n200 < <(cd / && paired f200 "${fuzz[@]}" --steps 200 --seeds 5)
read -r o1000 n1000 < <(cd / && paired f1000 "${fuzz[@]}" --steps 1000 --seeds 1)
statements() { (cd / && "$new" "${fuzz[@]}" "$@" 2>/dev/null | sed -n 's/^summary: [0-9]* cases, \([0-9]*\) statements.*/\1/p'); }
stmts=$(statements --steps 200 --seeds 5)
stmts1000=$(statements --steps 1000 --seeds 1)
echo "fuzz, every scheme, 200 steps x 5 cases ($stmts statements) and 1000 x 1 ($stmts1000):"
echo "  old $(awk -v s="$stmts" -v t="$o200" 'BEGIN{printf "%.0f", s/t}') statements/CPU-s   new $(awk -v s="$stmts" -v t="$n200" 'BEGIN{printf "%.0f", s/t}') statements/CPU-s   speed-up $(ratio "$o200" "$n200")x"
echo "per-statement cost at 1000 steps / at 200 steps:"
per200() { awk -v t="$1" -v s="$stmts" -v t2="$2" -v s2="$stmts1000" 'BEGIN { printf "%.2f", (t2 / s2) / (t / s) }'; }
echo "  old $(per200 "$o200" "$o1000")   new $(per200 "$n200" "$n1000")"

read -r oc nc < <(paired gibc run "$work/gib-4k.scn")
read -r ou nu < <(paired gibu run --no-check "$work/gib-4k.scn")
echo "1 GiB of 4K (map, write, fork, child exit, munmap): checked / unchecked"
echo "  old ${oc}s / ${ou}s = $(ratio "$oc" "$ou")   new ${nc}s / ${nu}s = $(ratio "$nc" "$nu")"

alone() { # alone BINARY SCENARIO : median checked and unchecked user seconds, interleaved
  : > "$work/c"; : > "$work/u"
  for _ in $(seq "$reps"); do
    cpu "$1" run "$2" >> "$work/c"
    cpu "$1" run --no-check "$2" >> "$work/u"
  done
  echo "$(median < "$work/c") $(median < "$work/u")"
}
read -r oc ou < <(alone "$old" "$work/forks-old.scn")
echo "$old_forks forks from one parent, old binary: checked ${oc}s / unchecked ${ou}s = $(ratio "$oc" "$ou")"
read -r nc nu < <(alone "$new" "$work/forks.scn")
echo "$forks forks from one parent, new binary: checked ${nc}s / unchecked ${nu}s = $(ratio "$nc" "$nu")"
