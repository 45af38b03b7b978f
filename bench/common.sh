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
[classes.confidential]
models = ["openai/gpt-4o*"]
providers = ["openai"]
zdr = true
max_tokens = 1024
redact = "placeholder"
[[keys]]
id = "bench"
service = "bench"
sha256 = "$sha"
TOML
}

# body BYTES: a chat request with about BYTES of prompt text (SHAPE=rich: a whole conversation).
body() {
  python3 - "$1" "${SHAPE:-plain}" <<'PY'
import json, sys
n, shape = int(sys.argv[1]), sys.argv[2]
para = "The quarterly report is attached; revenue grew 12% and churn fell to 3.1%. Please review section 4 before the sync. "
text = (para * (n // len(para) + 1))[:n]
if shape != "rich":
    print(json.dumps({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": text}]}))
    sys.exit()
# A realistic request of about n bytes: the prompt text spread over a conversation.
k = max(1, n // 8)
print(json.dumps({
    "model": "openai/gpt-4o", "temperature": 0.2, "user": "svc-user-41",
    "metadata": {"team": "finance", "ticket": "FIN-2207"},
    "tools": [{"type": "function", "function": {"name": "lookup_account", "description": "Look up an account by its id.",
               "parameters": {"type": "object", "properties": {"id": {"type": "string", "description": "Account id"}}, "required": ["id"]}}}],
    "messages": [
        {"role": "system", "content": "You are the finance team's assistant. " + text[:k]},
        {"role": "user", "content": text[k:3 * k]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "lookup_account", "arguments": json.dumps({"id": "ACC-1042", "note": text[3 * k:4 * k]})}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": text[4 * k:5 * k]},
        {"role": "assistant", "content": text[5 * k:6 * k]},
        {"role": "user", "content": [{"type": "text", "text": text[6 * k:]}]},
    ]}))
PY
}
