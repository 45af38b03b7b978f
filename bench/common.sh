# Shared by bench/run.sh and bench/instructions.sh: the gateway config every benchmark
# runs (the shipped policy, redaction and audit) and the request bodies it sends.

# bench_config DIR LISTEN MOCK KEY: writes DIR/orguard.toml (audit in DIR/audit).
bench_config() {
  local dir="$1" gw="$2" mock="$3" key="$4" sha
  sha=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
  printf 'bench hmac key' > "$dir/hmac.key"
  cat > "$dir/orguard.toml" <<TOML
[server]
listen = "$gw"
max_body_bytes = 8388608
max_decompressed_bytes = 8388608
[upstream]
base_url = "http://$mock/api/v1"
allow_insecure_http = true
credit_poll_seconds = 0
providers_refresh_seconds = 0
[log]
level = "warn"
[policy]
user_hmac_key_file = "$dir/hmac.key"
[audit]
dir = "$dir/audit"
fsync = "${FSYNC:-always}"
[resilience]
max_in_flight = 4096
[classes.internal]
models = ["openai/*", "anthropic/*"]
providers = ["openai", "anthropic"]
max_tokens = 1024
redact = "redact"
# The generated bodies carry the odd credential, as real traffic does: redacted and
# forwarded here (SECRET is otherwise blocked in every class), so every body runs the
# whole path instead of stopping at a 403.
redact_types = { SECRET = "redact" }
[classes.confidential]
models = ["openai/gpt-4o*"]
providers = ["openai"]
zdr = true
max_tokens = 1024
redact = "placeholder"
redact_types = { SECRET = "redact" }
[[keys]]
id = "bench"
service = "bench"
sha256 = "$sha"
TOML
}

# body BYTES [VARIANT]: a chat request of about BYTES of varied generated text (prose in
# several languages, code, logs, config, CSV, JSON, the odd e-mail, phone number and
# credential), one of many (VARIANT picks the seed); SHAPE=rich spreads it over a whole
# conversation. The bench_body example writes it: the generator the criterion benches use.
body() {
  "${CARGO_TARGET_DIR:-target}/release/examples/bench_body" "$1" "${SHAPE:-plain}" "$((${2:-0} * 7919 + $1))"
}
