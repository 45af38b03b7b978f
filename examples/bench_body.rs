//! Prints one benchmark chat body: `bench_body BYTES plain|rich SEED`.
//!
//! `bench/run.sh` and `bench/instructions.sh` send these bodies, the same generator the
//! criterion benches use (`benches/support`): varied text in several languages, code, logs,
//! config, CSV and JSON with the odd e-mail address, phone number and credential, so the
//! whole-path figures are not those of one paragraph repeated, which lets caches and branch
//! predictors flatter the detectors.

// The shared body builder unwraps on what it generated itself.
#![allow(clippy::unwrap_used)]

use std::io::Write;

#[allow(dead_code)]
#[path = "../benches/support/textgen.rs"]
mod textgen;

#[path = "../benches/support/chat.rs"]
mod chat;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let bytes = args.get(1).and_then(|a| a.parse::<usize>().ok());
    let rich = match args.get(2).map(String::as_str) {
        Some("plain") => Some(false),
        Some("rich") => Some(true),
        _ => None,
    };
    let seed = args.get(3).and_then(|a| a.parse::<u64>().ok());
    let (Some(bytes), Some(rich), Some(seed)) = (bytes, rich, seed) else {
        eprintln!("usage: bench_body BYTES plain|rich SEED");
        return std::process::ExitCode::from(2);
    };
    let mut out = chat::body(bytes, rich, seed);
    out.push(b'\n');
    match std::io::stdout().write_all(&out) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_body: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
