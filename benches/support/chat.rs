//! Chat request bodies for the benchmarks, in two shapes: `plain` (one long user message) and
//! `rich` (system prompt, history, a tool call and its result, tool definitions, metadata),
//! filled with varied generated text ([`textgen`](super::textgen)). The criterion benches
//! use them directly; `bench/run.sh` and `bench/instructions.sh` get them from the
//! `bench_body` example, so the load test sends the bodies the per-phase figures time.

use serde_json::json;

use super::textgen;

/// A chat request of about `bytes` bytes of varied text (`textgen`, from `seed`), in one of
/// two shapes.
pub fn body(bytes: usize, rich: bool, seed: u64) -> Vec<u8> {
    let text = textgen::text(bytes, seed);
    // Cut where a message would end: after a line, or a word when no line ends near (a
    // value split between messages is refused, since a reader puts it back together).
    let cut = |from: usize, to: usize| -> String {
        let at = |i: usize| {
            let after = |c: u8| {
                (i..=text.len())
                    .find(|&j| j == 0 || j == text.len() || text.as_bytes()[j - 1] == c)
                    .unwrap()
            };
            // The next line break when it is near, else the next space.
            let line = after(b'\n');
            if line - i <= 96 {
                line
            } else {
                after(b' ')
            }
        };
        text[at(from.min(text.len()))..at(to.min(text.len()))].to_owned()
    };
    let v = if rich {
        let k = (bytes / 8).max(1);
        json!({
            "model": "openai/gpt-4o", "temperature": 0.2, "user": "svc-user-41",
            "metadata": {"team": "finance", "ticket": "FIN-2207"},
            "tools": [{"type": "function", "function": {"name": "lookup_account",
                "description": "Look up an account by its id.",
                "parameters": {"type": "object", "properties": {"id": {"type": "string",
                    "description": "Account id"}}, "required": ["id"]}}}],
            "messages": [
                {"role": "system", "content": format!("You are the finance team's assistant. {}", cut(0, k))},
                {"role": "user", "content": cut(k, 3 * k)},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "lookup_account",
                        "arguments": json!({"id": "ACC-1042", "note": cut(3 * k, 4 * k)}).to_string()}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": cut(4 * k, 5 * k)},
                {"role": "assistant", "content": cut(5 * k, 6 * k)},
                {"role": "user", "content": [{"type": "text", "text": cut(6 * k, text.len())}]},
            ]
        })
    } else {
        json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": text}]})
    };
    serde_json::to_vec(&v).unwrap()
}
