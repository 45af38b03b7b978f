#!/usr/bin/env bash
# Load benchmark: wrk -> {mock directly, nginx -> mock, orguard -> mock} on loopback, in one
# run, so the figures are ratios against baselines measured under the same noise.
# orguard runs the shipped policy, redaction and audit (fsync = always) on every request.
#
#   bench/run.sh [seconds per run]     (needs: nginx, wrk from Debian packages)
#
# BASELINE_BIN=/path/to/other/orguard runs that binary too, with the same config, as target
# `baseline`, in the same run (e.g. the previous commit's build, to price a change). The two
# run in A-B-B-A order and a `ratio` line gives orguard's mean CPU per request over the
# baseline's: whichever runs second in a pair measured ~10 % slower here with identical
# binaries, so a single A-B pair flatters the first.
# The bodies are varied generated text (bench/common.sh: prose in several languages, code,
# logs, config, CSV, JSON, the odd e-mail, phone number and credential), BODIES of them per
# size (default 8) sent in turn; SHAPE=rich spreads each over a realistic conversation
# (system prompt, history, tool call and result, tool definitions, metadata) instead of one
# long user message.
# Streams (20 events) are measured paced (20 ms apart) and in a burst (all at once), at
# STREAM_CONNS connections (default "1 32"); STREAMS=paced or STREAMS=burst runs one kind.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
DUR="${1:-10}"
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "install nginx and wrk (Debian packages)"; exit 2; }
cargo build --release --quiet --bin orguard --example mock_upstream --example bench_body
# DESIGN §9: load generator and mock on one core, the target on another, where the machine
# has two (PIN=0 turns it off). A pinned orguard sizes its runtime to its one core, as it
# would in a one-core sidecar; nginx runs one worker either way.
# With three cores or more, wrk, the mock and the target each get their own.
GEN=""; MOCKPIN=""; TARGET=""
if [ "${PIN:-1}" != 0 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  if [ "$(nproc)" -ge 3 ]; then
    GEN="taskset -c 0"; MOCKPIN="taskset -c 1"; TARGET="taskset -c 2"
  else
    GEN="taskset -c 0"; MOCKPIN="taskset -c 0"; TARGET="taskset -c 1"
  fi
fi
REL="${CARGO_TARGET_DIR:-target}/release"
# 1,000 idle streams need about 2,000 descriptors in orguard and 1,000 in the mock.
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; nginx -c "$WORK/nginx.conf" -s stop 2>/dev/null || true; rm -rf "$WORK"' EXIT
MOCK=127.0.0.1:18101; NGINX=127.0.0.1:18102; GW=127.0.0.1:18103
KEY=ogk_bench_client_key_0123456789

$MOCKPIN "$REL"/examples/mock_upstream "$MOCK" 20 20 & MOCK_PID=$!

cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/body; proxy_temp_path $WORK/proxy;
  fastcgi_temp_path $WORK/fcgi; uwsgi_temp_path $WORK/uwsgi; scgi_temp_path $WORK/scgi;
  client_max_body_size 8m;
  upstream mock { server $MOCK; keepalive 256; }
  server {
    listen $NGINX;
    location / {
      proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_buffering off; proxy_request_buffering off;
    }
  }
}
NGINX
$TARGET nginx -c "$WORK/nginx.conf"
NGINX_PID=$(cat "$WORK/nginx.pid")
NGINX_PIDS="$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"

bench_config "$WORK" "$GW" "$MOCK" "$KEY"
OPENROUTER_API_KEY=bench-upstream-key $TARGET "$REL"/orguard --config "$WORK/orguard.toml" serve 2> "$WORK/orguard.log" & GW_PID=$!
BASE=127.0.0.1:18104
if [ -n "${BASELINE_BIN:-}" ]; then
  sed -e "s#^listen = \"$GW\"#listen = \"$BASE\"#" -e "s#^dir = \"$WORK/audit\"#dir = \"$WORK/audit-baseline\"#" \
    "$WORK/orguard.toml" > "$WORK/baseline.toml"
  OPENROUTER_API_KEY=bench-upstream-key $TARGET "$BASELINE_BIN" --config "$WORK/baseline.toml" serve 2> "$WORK/baseline.log" & BASE_PID=$!
fi
sleep 1

mklua() { # $@ = body files: each connection sends them in turn
  local files="" f
  for f in "$@"; do files="$files\"$f\", "; done
  cat > "$WORK/post.lua" <<LUA
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer $KEY" }
local bodies, requests, i = {}, {}, 0
for _, name in ipairs({ $files }) do
  local f = io.open(name, "r"); bodies[#bodies + 1] = f:read("*a"); f:close()
end
function init(args)
  for n, body in ipairs(bodies) do requests[n] = wrk.format("POST", nil, headers, body) end
  i = math.random(#requests) - 1
end
function request()
  i = i % #requests + 1
  return requests[i]
end
LUA
}
cpu_ticks() { # total user+system ticks of the given PIDs
  local t=0 p
  for p in $1; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
TCK=$(getconf CLK_TCK)

rss() { awk '/^'"$1"':/ {printf "%.1f MiB", $2/1024}' "/proc/$GW_PID/status"; }
echo "pinned: ${TARGET:-no} (targets), ${GEN:-no} (wrk), ${MOCKPIN:-no} (mock)"
echo "orguard RSS at idle: $(rss VmRSS)"
printf '%-8s %-6s %-5s %10s %9s %9s %12s\n' target body conns req/s p50_ms p99_ms cpu_us/req
run() { # $1 name $2 pid $3 url $4 conns $5 bodyname
  local before after out reqs rps p50 p99
  before=$(cpu_ticks "$2")
  out=$($GEN wrk -t"$(( $4 < 2 ? $4 : 2 ))" -c"$4" -d"${DUR}s" --latency -s "$WORK/post.lua" "$3" 2>&1)
  after=$(cpu_ticks "$2")
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  if echo "$out" | grep -q "Non-2xx"; then
    echo "warning: $1 answered $(echo "$out" | awk '/Non-2xx/ {print $NF}') requests with a non-2xx status (see its log)" >&2
  fi
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  to_ms() { echo "$1" | awk '/us$/ {sub("us",""); print $1/1000; next} /ms$/ {sub("ms",""); print $1; next} /s$/ {sub("s",""); print $1*1000}'; }
  LAST_CPU=$(awk -v t=$((after - before)) -v r="$reqs" -v hz="$TCK" 'BEGIN { print (r > 0 ? t / hz / r * 1e6 : 0) }')
  printf '%-8s %-6s %-5s %10s %9.3f %9.3f %12.1f\n' "$1" "$5" "$4" "$rps" "$(to_ms "$p50")" "$(to_ms "$p99")" "$LAST_CPU"
}
against_baseline() { # $1 url path $2 conns $3 bodyname: orguard and baseline, A-B-B-A
  local a1 b1 b2 a2
  run orguard "$GW_PID" "http://$GW$1" "$2" "$3"; a1=$LAST_CPU
  run baseline "$BASE_PID" "http://$BASE$1" "$2" "$3"; b1=$LAST_CPU
  run baseline "$BASE_PID" "http://$BASE$1" "$2" "$3"; b2=$LAST_CPU
  run orguard "$GW_PID" "http://$GW$1" "$2" "$3"; a2=$LAST_CPU
  printf '%-8s %-6s %-5s %s\n' ratio "$3" "$2" \
    "$(awk -v a="$a1" -v b="$a2" -v c="$b1" -v d="$b2" 'BEGIN { if (c + d > 0) printf "orguard/baseline CPU per request %.3f (%.1f / %.1f us)", (a + b) / (c + d), (a + b) / 2, (c + d) / 2; else printf "baseline served no requests (see its log)" }')"
}
for size in ${SIZES:-1024 65536}; do
  # BODIES different bodies of this size (default 8), sent in turn on every connection.
  files=()
  for v in $(seq "${BODIES:-8}"); do body "$size" "$v" > "$WORK/body-$v.json"; files+=("$WORK/body-$v.json"); done
  mklua "${files[@]}"
  name=$([ "$size" = 1024 ] && echo 1KB || echo 64KB)
  for conns in ${CONNS:-1 32 256}; do
    run direct "$MOCK_PID" "http://$MOCK/api/v1/chat/completions" "$conns" "$name"
    run nginx "$NGINX_PIDS" "http://$NGINX/api/v1/chat/completions" "$conns" "$name"
    if [ -n "${PERF:-}" ]; then perf record -q -F 999 ${PERF_CALLGRAPH:--g} -p "$GW_PID" -o /tmp/orguard-perf.data -- sleep "$DUR" 2>/dev/null & fi
    if [ -n "${BASELINE_BIN:-}" ]; then
      against_baseline /api/v1/chat/completions "$conns" "$name"
    else
      run orguard "$GW_PID" "http://$GW/api/v1/chat/completions" "$conns" "$name"
    fi
  done
done

# Streamed answers through each target: 20 events, either 20 ms apart (paced: what a model
# does) or all at once (burst: the mock writes them back to back, so they arrive coalesced).
# A stream's latency is its whole answer; CPU per request is per stream.
for mode in ${STREAMS:-paced burst}; do
  word=$([ "$mode" = burst ] && echo burst || echo count)
  printf '{"model":"openai/gpt-4o","stream":true,"messages":[{"role":"user","content":"%s"}]}' "$word" > "$WORK/stream.json"
  mklua "$WORK/stream.json"
  for conns in ${STREAM_CONNS:-1 32}; do
    run direct "$MOCK_PID" "http://$MOCK/api/v1/chat/completions" "$conns" "$mode"
    run nginx "$NGINX_PIDS" "http://$NGINX/api/v1/chat/completions" "$conns" "$mode"
    if [ -n "${BASELINE_BIN:-}" ]; then
      against_baseline /api/v1/chat/completions "$conns" "$mode"
    else
      run orguard "$GW_PID" "http://$GW/api/v1/chat/completions" "$conns" "$mode"
    fi
  done
done

echo "orguard RSS after the load: $(rss VmRSS) (peak $(rss VmHWM))"
if [ -n "${THREADS:-}" ]; then
  echo "orguard CPU by thread (ticks):"
  for t in /proc/$GW_PID/task/*; do echo "  $(cat $t/comm): $(awk '{print $14 + $15}' $t/stat)"; done | sort -t: -k2 -n -r | head -8
fi
echo
echo "paced stream, one at a time: time to first byte and total, mean of 20"
stream() { # $1 name $2 url
  local s='{"model":"openai/gpt-4o","stream":true,"messages":[{"role":"user","content":"count"}]}'
  for _ in $(seq 20); do
    curl -s -o /dev/null -w '%{time_starttransfer} %{time_total}\n' -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$s" "$2"
  done | awk -v n="$1" '{a+=$1; b+=$2} END {printf "%-8s ttfb %.2f ms  total %.1f ms\n", n, a/NR*1000, b/NR*1000}'
}
stream direct "http://$MOCK/api/v1/chat/completions"
stream nginx "http://$NGINX/api/v1/chat/completions"
stream orguard "http://$GW/api/v1/chat/completions"

# Memory with many streams open at once: the mock restarts slow (one event a second), and
# 1,000 clients each read their stream's first event and then just hold it.
IDLE_STREAMS=${IDLE_STREAMS:-1000}
kill "$MOCK_PID" 2>/dev/null; wait "$MOCK_PID" 2>/dev/null || true
$MOCKPIN "$REL"/examples/mock_upstream "$MOCK" 1000 600 & MOCK_PID=$!
sleep 0.5
python3 - "$GW" "$KEY" "$IDLE_STREAMS" "$WORK/streams-open" <<'PY' & HOLD_PID=$!
import asyncio, pathlib, sys
host, port = sys.argv[1].split(":")
key, n, marker = sys.argv[2], int(sys.argv[3]), pathlib.Path(sys.argv[4])
body = b'{"model":"openai/gpt-4o","stream":true,"messages":[{"role":"user","content":"count"}]}'
head = (f"POST /api/v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
async def one(gate):
    async with gate:
        r, w = await asyncio.open_connection(host, int(port))
        w.write(head + body)
        await w.drain()
        # The headers and the first event are through (an error answer never gets there).
        await asyncio.wait_for(r.readuntil(b"data:"), 30)
    return r, w
async def main():
    gate = asyncio.Semaphore(100)
    held = await asyncio.gather(*(one(gate) for _ in range(n)), return_exceptions=True)
    marker.write_text(str(sum(1 for h in held if not isinstance(h, BaseException))))
    await asyncio.sleep(60)
asyncio.run(main())
PY
for _ in $(seq 1 120); do [ -f "$WORK/streams-open" ] && break; sleep 0.5; done
echo
if [ -f "$WORK/streams-open" ]; then
  echo "orguard RSS with $(cat "$WORK/streams-open") idle open streams: $(rss VmRSS)"
else
  echo "the $IDLE_STREAMS idle streams did not all open"
fi
kill "$HOLD_PID" 2>/dev/null || true
# The cancelled streams' response records are written and synced before the chain is read.
sleep 3

echo
echo "audit: $("$REL"/orguard audit verify "$WORK/audit" | head -1)"
