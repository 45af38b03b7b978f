//! The strings a model reads, in a fixed order (DESIGN.md §4): message contents (strings
//! and text parts), names, tool-call arguments, tool results, `prompt`, `input` (strings
//! and Responses-API items), `instructions`, and tool descriptions.
//!
//! Tool-call arguments are JSON inside a string: their own strings are visited, and when
//! one changes the arguments are re-serialised, so they stay valid JSON. Scanning and
//! rewriting visit the same strings in the same order, which is what lets one scan's
//! findings be applied by index.

use serde_json::{Map, Value};

/// Visits every model-read string of `body`, mutably, in order.
pub fn walk(body: &mut Map<String, Value>, f: &mut dyn FnMut(&mut String)) {
    if let Some(Value::Array(messages)) = body.get_mut("messages") {
        for m in messages {
            message(m, f);
        }
    }
    if let Some(prompt) = body.get_mut("prompt") {
        strings(prompt, f);
    }
    if let Some(input) = body.get_mut("input") {
        match input {
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Object(_) => message(item, f),
                        other => strings(other, f),
                    }
                }
            }
            other => strings(other, f),
        }
    }
    if let Some(Value::String(s)) = body.get_mut("instructions") {
        f(s);
    }
    if let Some(Value::Array(tools)) = body.get_mut("tools") {
        for t in tools {
            if let Some(Value::String(s)) = t.pointer_mut("/function/description") {
                f(s);
            }
            if let Some(Value::String(s)) = t.get_mut("description") {
                f(s);
            }
            // JSON schemas carry descriptions, enums and examples the model reads.
            if let Some(schema) = t.pointer_mut("/function/parameters") {
                all_strings(schema, f);
            }
            if let Some(schema) = t.get_mut("parameters") {
                all_strings(schema, f);
            }
        }
    }
    if let Some(format) = body.get_mut("response_format") {
        all_strings(format, f);
    }
    if let Some(prediction) = body
        .get_mut("prediction")
        .and_then(|p| p.get_mut("content"))
    {
        match prediction {
            Value::String(s) => f(s),
            other => all_strings(other, f),
        }
    }
}

/// A chat message or a Responses-API input item.
fn message(m: &mut Value, f: &mut dyn FnMut(&mut String)) {
    let Value::Object(m) = m else { return };
    match m.get_mut("content") {
        Some(Value::String(s)) => f(s),
        Some(Value::Array(parts)) => {
            for part in parts {
                if let Some(Value::String(s)) = part.get_mut("text") {
                    f(s);
                }
            }
        }
        _ => {}
    }
    if let Some(Value::String(s)) = m.get_mut("name") {
        f(s);
    }
    // Responses-API tool results.
    if let Some(Value::String(s)) = m.get_mut("output") {
        f(s);
    }
    // Reasoning carried back into the conversation.
    if let Some(Value::String(s)) = m.get_mut("reasoning") {
        f(s);
    }
    for field in ["reasoning_details", "summary"] {
        if let Some(Value::Array(items)) = m.get_mut(field) {
            for item in items {
                if let Some(Value::String(s)) = item.get_mut("text") {
                    f(s);
                }
            }
        }
    }
    if let Some(Value::Array(calls)) = m.get_mut("tool_calls") {
        for call in calls {
            if let Some(Value::String(args)) = call.pointer_mut("/function/arguments") {
                embedded_json(args, f);
            }
        }
    }
    if let Some(Value::String(args)) = m.get_mut("arguments") {
        embedded_json(args, f);
    }
    if let Some(Value::String(args)) = m
        .get_mut("function_call")
        .and_then(|c| c.get_mut("arguments"))
    {
        embedded_json(args, f);
    }
}

fn strings(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => {
            for i in items {
                if let Value::String(s) = i {
                    f(s);
                }
            }
        }
        _ => {}
    }
}

/// Arguments that parse as JSON are visited value by value — object keys and numbers
/// included, since a card number can be a JSON number — and always re-serialised, so the
/// upstream reads exactly what was scanned (with duplicate keys inside the arguments, the
/// parsed value, not the raw text, is what goes on). Anything else is plain text.
fn embedded_json(args: &mut String, f: &mut dyn FnMut(&mut String)) {
    match serde_json::from_str::<Value>(args) {
        Ok(mut parsed) if parsed.is_object() || parsed.is_array() => {
            embedded_values(&mut parsed, f);
            if let Ok(text) = serde_json::to_string(&parsed) {
                *args = text;
            }
        }
        _ => f(args),
    }
}

fn embedded_values(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Number(n) => {
            let before = n.to_string();
            let mut text = before.clone();
            f(&mut text);
            if text != before {
                *v = Value::String(text);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| embedded_values(i, f)),
        Value::Object(m) => {
            let old = std::mem::take(m);
            for (mut key, mut value) in old {
                f(&mut key);
                embedded_values(&mut value, f);
                m.insert(key, value);
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

fn all_strings(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|i| all_strings(i, f)),
        Value::Object(m) => m.values_mut().for_each(|i| all_strings(i, f)),
        _ => {}
    }
}

/// Every string anywhere in `v` (for restoring placeholders in a response).
pub fn every_string(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
    all_strings(v, f);
}
