//! Settings a snippet is embedded in: chat prose in several languages, source code, logs,
//! config files, CSV, JSON, emails, tickets, stack traces, markdown.
//!
//! Carriers are neutral: they add no PII or secrets of their own and label their slot
//! neutrally (`note`, `content`, `message`), so they never turn a clean value into a
//! positive. Noise they add (timestamps, ticket numbers, versions) is itself part of the test.
//! A snippet goes only into carriers whose syntax can hold it verbatim (no escaping), so the
//! expected values always appear unchanged in the text.

use super::{Rng, Snippet, HEX};

struct Carrier {
    name: &'static str,
    template: &'static str,
    /// Substrings the snippet must not contain to sit in this template unescaped.
    forbid: &'static [&'static str],
    /// File-like carriers take only line-oriented snippets.
    file: bool,
}

const NO_NL: &[&str] = &["\n"];
const JSON_STR: &[&str] = &["\n", "\"", "\\", "\t"];

const CARRIERS: &[Carrier] = &[
    Carrier { name: "chat_en", template: "Hi! Quick question about my account. {s}\nCan you check that everything is fine?", forbid: &[], file: false },
    Carrier { name: "chat_en", template: "Please help me fix this: {s}", forbid: &[], file: false },
    Carrier { name: "chat_en", template: "Summarize the following note for me in two sentences.\n\n{s}\n\nKeep it short, thanks.", forbid: &[], file: false },
    Carrier { name: "chat_en_fence", template: "Why does this fail when I deploy?\n\n```\n{s}\n```\n\nIt worked yesterday on staging.", forbid: &["```"], file: false },
    Carrier { name: "chat_de", template: "Hallo, können Sie mir bitte helfen? {s}\nVielen Dank im Voraus und schöne Grüße.", forbid: &[], file: false },
    Carrier { name: "chat_de", template: "Bitte prüfe folgende Angaben und formuliere eine höfliche Antwort:\n{s}", forbid: &[], file: false },
    Carrier { name: "chat_fr", template: "Bonjour, voici les informations demandées : {s}\nMerci d'avance pour votre réponse rapide !", forbid: &[], file: false },
    Carrier { name: "chat_fr", template: "Peux-tu reformuler ce message de façon plus polie ? « {s} »", forbid: NO_NL, file: false },
    Carrier { name: "chat_es", template: "Hola, necesito ayuda con mi cuenta. {s}\n¡Muchas gracias por su atención!", forbid: &[], file: false },
    Carrier { name: "chat_pt", template: "Olá! Seguem os dados para o cadastro: {s}\nObrigado e até logo.", forbid: &[], file: false },
    Carrier { name: "chat_ja", template: "こんにちは。以下の内容を確認してください：{s}\nよろしくお願いいたします。", forbid: &[], file: false },
    Carrier { name: "chat_ja", template: "この設定で合っていますか？\n```\n{s}\n```\n本番環境で使う予定です。", forbid: &["```"], file: false },
    Carrier { name: "chat_hi", template: "नमस्ते, कृपया मेरी जानकारी अपडेट करें: {s}\nधन्यवाद, जल्दी जवाब दीजिए।", forbid: &[], file: false },
    Carrier { name: "email", template: "Subject: Re: your request #{n}\n\nHello team,\n\nas discussed on the call, here are the details:\n{s}\n\nKind regards,\nthe operations desk\n", forbid: &[], file: false },
    Carrier { name: "ticket", template: "Ticket #{n} | priority: high | status: open | opened {ts}\nCustomer message:\n{s}\n---\nInternal note: escalate if not solved within 24h.", forbid: &[], file: false },
    Carrier { name: "log", template: "{ts} INFO  [req-{id}] gateway: prompt received: {s}", forbid: NO_NL, file: false },
    Carrier { name: "log", template: "{ts} WARN  worker-3 retrying job {n} after upstream 503; payload={s}", forbid: NO_NL, file: false },
    Carrier { name: "log_json", template: "{\"ts\":\"{ts}\",\"level\":\"info\",\"span\":\"{id}\",\"msg\":\"{s}\"}", forbid: JSON_STR, file: false },
    Carrier { name: "json_compact", template: "{\"model\":\"openai/gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"{s}\"}],\"max_tokens\":512}", forbid: JSON_STR, file: false },
    Carrier { name: "json_pretty", template: "{\n  \"model\": \"anthropic/claude-sonnet-4\",\n  \"messages\": [\n    {\n      \"role\": \"user\",\n      \"content\": \"{s}\"\n    }\n  ],\n  \"temperature\": 0.2\n}", forbid: JSON_STR, file: false },
    Carrier { name: "csv", template: "id,created_at,channel,note\n{n},{ts},web,\"{s}\"\n", forbid: &["\"", "\n"], file: false },
    Carrier { name: "markdown_table", template: "| field | value |\n|---|---|\n| status | pending |\n| note | {s} |\n| retries | 3 |", forbid: &["|", "\n"], file: false },
    Carrier { name: "stack_trace", template: "Traceback (most recent call last):\n  File \"/srv/app/handlers.py\", line {n}, in submit\n    validate(payload)\n  File \"/srv/app/validate.py\", line 88, in validate\n    raise ValueError(msg)\nValueError: could not parse input: {s}", forbid: NO_NL, file: false },
    Carrier { name: "code_py", template: "def build_prompt():\n    return \"{s}\"\n\n\nprint(build_prompt())", forbid: &["\n", "\"", "\\"], file: false },
    Carrier { name: "code_py", template: "NOTES = \"\"\"\n{s}\n\"\"\"\n\nif __name__ == \"__main__\":\n    print(NOTES)", forbid: &["\"\"\"", "\\"], file: true },
    Carrier { name: "code_js", template: "const note = `{s}`;\nconsole.log(note.length);", forbid: &["`", "${", "\\"], file: true },
    Carrier { name: "code_go", template: "func main() {\n\tmsg := \"{s}\"\n\tfmt.Println(msg)\n}", forbid: &["\n", "\"", "\\"], file: false },
    Carrier { name: "code_rust", template: "let note = r#\"{s}\"#;\nprintln!(\"{}\", note.len());", forbid: &["\"#"], file: true },
    Carrier { name: "code_comment", template: "    // TODO(ops): remove before release — {s}\n    let retries = 3;", forbid: NO_NL, file: true },
    Carrier { name: "env_file", template: "# generated {ts}\nAPP_ENV=production\nLOG_LEVEL=info\n{s}\nPORT=8080\nWORKERS=4\n", forbid: &[], file: true },
    Carrier { name: "yaml_file", template: "service:\n  name: payments\n  replicas: 3\n  settings: |\n    see below\n{s}\nmetrics:\n  enabled: true\n", forbid: &[], file: true },
    Carrier { name: "toml_file", template: "[server]\nport = 8080\nworkers = 4\n\n[app]\n{s}\n\n[log]\nlevel = \"info\"\n", forbid: &[], file: true },
    Carrier { name: "shell", template: "#!/usr/bin/env bash\nset -euo pipefail\n{s}\n./bin/migrate --verbose\n", forbid: &[], file: true },
    Carrier { name: "dockerfile", template: "FROM python:3.12-slim\nWORKDIR /app\n{s}\nCOPY . .\nCMD [\"python\", \"main.py\"]", forbid: &[], file: true },
    Carrier { name: "terminal", template: "$ kubectl logs deploy/api --tail=20\n{s}\n$ echo $?\n0", forbid: &[], file: true },
];

fn timestamp(rng: &mut Rng) -> String {
    format!(
        "2024-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        rng.range(1, 12),
        rng.range(1, 28),
        rng.range(0, 23),
        rng.range(0, 59),
        rng.range(0, 59),
        rng.range(0, 999)
    )
}

/// Puts a snippet into a randomly chosen carrier that can hold it verbatim.
pub fn wrap(rng: &mut Rng, snippet: &Snippet) -> (String, &'static str) {
    let fits: Vec<&Carrier> = CARRIERS
        .iter()
        .filter(|c| !c.file || snippet.line)
        .filter(|c| !c.forbid.iter().any(|f| snippet.text.contains(f)))
        .collect();
    let Some(carrier) = fits.get(rng.below(fits.len())) else {
        return (snippet.text.clone(), "bare");
    };
    // Now and then the snippet stands alone: the shortest message there is.
    if rng.chance(8) {
        return (snippet.text.clone(), "bare");
    }
    let ts = timestamp(rng);
    let n = rng.range(100, 99_999).to_string();
    let id = rng.chars(HEX, 8);
    let text = carrier
        .template
        .replace("{ts}", &ts)
        .replace("{n}", &n)
        .replace("{id}", &id)
        .replace("{s}", &snippet.text);
    (text, carrier.name)
}
