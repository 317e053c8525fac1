#!/usr/bin/env bash
# Re-records the workload corpus (tests/workloads/*.scn.gz, docs/workloads.md) with
# `foliolab record`. Root. Installs what it needs from Debian's packages, starts servers on
# loopback only, drives them with bounded loads, and stops them.
#
#   tools/workloads/record.sh                 # every workload
#   tools/workloads/record.sh redis zygote    # some
#
# Each recording's summary (JSON) goes to tests/workloads/NAME.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT="$ROOT/tests/workloads"
HERE="$ROOT/tools/workloads"
FOLIOLAB=${FOLIOLAB:-$ROOT/target/release/foliolab}
ALL=(redis-bgsave postgres-pgbench make-kconfig python-pool zygote)

[ "$(id -u)" = 0 ] || { echo "record.sh: needs root (tracefs)" >&2; exit 2; }
if [ ! -x "$FOLIOLAB" ]; then
    (cd "$ROOT" && cargo build --release -q -p foliolab)
fi
packages=(redis-server redis-tools postgresql postgresql-contrib linux-source-6.1 flex bison bc
          python3 gcc make)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

TMP=$(mktemp -d /tmp/foliolab-workloads.XXXXXX)
chmod 755 "$TMP"
SERVER=""
cleanup() {
    if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
        kill -INT "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# record NAME CMD...: records in the foreground.
record() {
    local name=$1
    shift
    "$FOLIOLAB" record --quiet --json -o "$OUT/$name.scn.gz" -- "$@" 2> "$TMP/$name.err"
    tail -n 1 "$TMP/$name.err" > "$OUT/$name.json"
    echo "record.sh: $name: $(cat "$OUT/$name.json")" >&2
}

# record_bg NAME CMD...: records a server in the background (its pid in SERVER).
record_bg() {
    local name=$1
    shift
    "$FOLIOLAB" record --quiet --json -o "$OUT/$name.scn.gz" -- "$@" 2> "$TMP/$name.err" &
    SERVER=$!
}

finish_bg() {
    local name=$1
    wait "$SERVER"
    SERVER=""
    tail -n 1 "$TMP/$name.err" > "$OUT/$name.json"
    echo "record.sh: $name: $(cat "$OUT/$name.json")" >&2
}

wait_for() {
    for _ in $(seq 1 300); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "record.sh: timed out waiting for: $*" >&2
    return 1
}

# Redis: 800,000 keys; a client writes over them while BGSAVE's child saves them, so the
# parent's writes copy pages the child still maps.
redis-bgsave() {
    local port=6391 dir="$TMP/redis"
    mkdir -p "$dir"
    record_bg redis-bgsave redis-server --port $port --bind 127.0.0.1 --protected-mode yes \
        --save "" --appendonly no --dir "$dir" --enable-debug-command local --daemonize no
    wait_for redis-cli -p $port ping
    redis-cli -p $port DEBUG POPULATE 800000 key 256 >/dev/null
    redis-benchmark -h 127.0.0.1 -p $port -t set -n 200000 -r 800000 -d 256 -c 4 -q \
        >/dev/null &
    local bench=$!
    sleep 0.5
    redis-cli -p $port BGSAVE >/dev/null
    wait $bench
    wait_for sh -c "redis-cli -p $port INFO persistence | grep -q 'rdb_bgsave_in_progress:0'"
    redis-cli -p $port SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    finish_bg redis-bgsave
}

# PostgreSQL 15: pgbench scale 10 initialised, then 8 clients for 15 s.
postgres-pgbench() {
    local port=5491 bin=/usr/lib/postgresql/15/bin data="$TMP/pg/data"
    mkdir -p "$TMP/pg" && chown postgres "$TMP/pg"
    runuser -u postgres -- "$bin/initdb" -D "$data" -A trust >/dev/null
    record_bg postgres-pgbench setpriv --reuid=postgres --regid=postgres --init-groups \
        "$bin/postgres" -D "$data" -k "$TMP/pg" -c listen_addresses=127.0.0.1 -p $port \
        -c shared_buffers=128MB -c fsync=off
    wait_for "$bin/pg_isready" -h 127.0.0.1 -p $port
    pgbench -i -q -s 10 -h 127.0.0.1 -p $port -U postgres postgres >/dev/null 2>&1
    pgbench -c 8 -j 2 -T 15 -h 127.0.0.1 -p $port -U postgres postgres >/dev/null 2>&1
    runuser -u postgres -- "$bin/pg_ctl" -D "$data" stop -m fast >/dev/null
    finish_bg postgres-pgbench
}

# make -j2 defconfig of Linux 6.1 (Debian's linux-source-6.1): make builds the kernel's host
# programs (fixdep, kconfig's conf with its flex lexer and bison parser) with gcc, two jobs
# at a time, then runs them over every Kconfig file: about 600 processes.
make-kconfig() {
    local src=linux-source-6.1
    (cd "$TMP" && tar -xf /usr/src/$src.tar.xz --wildcards "$src/scripts/*" "$src/Makefile" \
        "$src/arch/x86/*" "$src/include/*" "*Kconfig*" "*/Kbuild" "$src/tools/include/*")
    record make-kconfig make -C "$TMP/$src" -j2 -s defconfig
}

# Python 3 (Debian's), a multiprocessing fork pool of 4 over a table of objects.
python-pool() {
    record python-pool /usr/bin/python3 "$HERE/pool.py"
}

# A zygote-style fork server: 192 MiB heap, 24 children each writing its slice.
zygote() {
    gcc -O1 -o "$TMP/zygote" "$HERE/zygote.c"
    record zygote "$TMP/zygote" 192 24
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
mkdir -p "$OUT"
for n in "${names[@]}"; do
    case " ${ALL[*]} " in
        *" $n "*) "$n" ;;
        *) echo "record.sh: unknown workload $n (one of: ${ALL[*]})" >&2; exit 2 ;;
    esac
done
