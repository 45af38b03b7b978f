#!/usr/bin/env bash
# Instructions per request, counted by callgrind: a figure that does not move with the
# machine's noise (this VM's CPU time per request varies by ±10 % between identical runs),
# for pricing a change to orguard's own code. It counts user-space instructions only: the
# kernel's side (fsync, loopback) and waiting are not in it, so the load benchmark
# (bench/run.sh) stays the measure of the whole; this one says whether a change moved
# orguard's own work, and by how much.
#
#   bench/instructions.sh [requests per size]          (needs valgrind, python3)
#
# Each binary (the tree's release build, and BASELINE_BIN=/path/to/orguard if set) runs
# under callgrind behind the same mock upstream and config as bench/run.sh. Counting starts
# after a warm-up (config compile, automata, first connections) and stops after the
# requests, one at a time on one keep-alive connection, for each of SIZES (default
# "1024 65536") and SHAPE (plain or rich, as in bench/run.sh). KEEP=1 keeps the work
# directory and each size's callgrind dump (WORK/NAME/SIZE/) for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
N="${1:-200}"
command -v valgrind >/dev/null || { echo "install valgrind (Debian package)"; exit 2; }
cargo build --release --quiet --bin orguard --example mock_upstream --example bench_body
REL="${CARGO_TARGET_DIR:-target}/release"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
MOCK=127.0.0.1:18111; GW=127.0.0.1:18113
KEY=ogk_bench_client_key_0123456789
"$REL"/examples/mock_upstream "$MOCK" 20 20 & MOCK_PID=$!
# BODIES different bodies per size (default 8; bench/common.sh), sent in turn.
for size in ${SIZES:-1024 65536}; do
  for v in $(seq "${BODIES:-8}"); do body "$size" "$v" > "$WORK/body-$size-$v.json"; done
done

# send BYTES COUNT: COUNT requests of the BYTES bodies in turn, one at a time on one connection.
send() {
  python3 - "$GW" "$KEY" "$2" "$WORK"/body-"$1"-*.json <<'PY'
import http.client, sys
host, port = sys.argv[1].split(":")
key, n = sys.argv[2], int(sys.argv[3])
bodies = [open(f, "rb").read() for f in sorted(sys.argv[4:])]
c = http.client.HTTPConnection(host, int(port), timeout=120)
for i in range(n):
    body = bodies[i % len(bodies)]
    c.request("POST", "/api/v1/chat/completions", body,
              {"Content-Type": "application/json", "Authorization": "Bearer " + key})
    r = c.getresponse(); r.read()
    if r.status != 200:
        sys.exit(f"status {r.status}")
PY
}

# count NAME BINARY: prints instructions per request for each size.
count() {
  local name="$1" bin="$2" dir="$WORK/$1" pid size ir
  mkdir -p "$dir"
  bench_config "$dir" "$GW" "$MOCK" "$KEY"
  OPENROUTER_API_KEY=bench-upstream-key valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$dir/callgrind.%p" "$bin" --config "$dir/orguard.toml" serve \
    2> "$dir/valgrind.log" & pid=$!
  for _ in $(seq 600); do
    python3 -c "import socket,sys; socket.create_connection(('${GW%:*}', ${GW#*:}), 1)" 2>/dev/null && break
    sleep 0.2
  done
  for size in ${SIZES:-1024 65536}; do
    send "$size" 20
    callgrind_control --zero "$pid" >/dev/null
    callgrind_control --instr=on "$pid" >/dev/null
    send "$size" "$N"
    callgrind_control --instr=off "$pid" >/dev/null
    callgrind_control --dump="$name-$size" "$pid" >/dev/null
    # The dump (callgrind.PID.N) totals every thread's instructions since the zeroing. Each
    # size's dump is moved aside (KEEP=1) or removed, so the next size reads only its own.
    ir=$( (cat "$dir"/callgrind.*.* 2>/dev/null || true) | awk '/^totals:/ {s += $2} END {print s + 0}')
    if [ -n "${KEEP:-}" ]; then
      mkdir -p "$dir/$size"; mv "$dir"/callgrind.*.* "$dir/$size/" 2>/dev/null || true
    else
      rm -f "$dir"/callgrind.*
    fi
    [ "$ir" != 0 ] || { echo "no instruction count (see $dir/valgrind.log; KEEP=1 keeps it)"; exit 1; }
    printf '%-8s %-6s %14.0f instructions per request\n' "$name" "$size" "$(awk -v i="$ir" -v n="$N" 'BEGIN { print i / n }')"
  done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
}

count orguard "$REL/orguard"
if [ -n "${BASELINE_BIN:-}" ]; then count baseline "$BASELINE_BIN"; fi
