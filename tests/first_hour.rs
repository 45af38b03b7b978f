//! The README's "Try it without OpenRouter" section, run as written: every fenced `sh`
//! block of that section, in order, in one bash shell, against the real `orguard` and
//! `orguard-demo-upstream` binaries, with each step's outcome asserted. Only the two
//! loopback ports are substituted (free ones), so parallel runs cannot collide.
//!
//! A README edit that breaks a step, or drops one, fails here. Needs the Python `openai`
//! package (`.ci/run` installs it); without it the test says loudly that it was skipped,
//! and under `CI=true` it fails.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECTION: &str = "## Try it without OpenRouter";
const GATEWAY_ADDR: &str = "127.0.0.1:8080";
const UPSTREAM_ADDR: &str = "127.0.0.1:18080";
const MARK: &str = "@@first-hour step";

/// What each block must contain (so the steps cannot silently shift), its exit code, and
/// what its output must show.
struct Step {
    runs: &'static str,
    exit: i32,
    shows: &'static [&'static str],
    hides: &'static [&'static str],
}

const STEPS: &[Step] = &[
    Step {
        runs: "orguard keys new",
        exit: 0,
        shows: &[],
        hides: &[],
    },
    Step {
        runs: "orguard serve",
        exit: 0,
        shows: &["\"status\":\"ok\""],
        hides: &[],
    },
    Step {
        runs: "orguard check",
        exit: 0,
        shows: &[
            "PASS  upstream_auth",
            "PASS  credit_limit",
            "PASS  models_exist",
            "PASS  test_request",
            "WARN  upstream_url",
            "0 fail",
        ],
        hides: &["FAIL"],
    },
    Step {
        runs: "client.models.list()",
        exit: 0,
        shows: &[
            "'openai/gpt-4o-mini'",
            "'google/gemini-2.0-flash-001'",
            "\nopenai/gpt-4o\n",
            "Demo answer from openai/gpt-4o-mini via OpenAI. You wrote: \"Hello\"",
            "class: internal | decisions: provider_pinned,max_tokens_injected",
        ],
        // The class internal may not use these: the list is filtered.
        hides: &["mistralai/", "meta-llama/", "Traceback"],
    },
    Step {
        runs: "/demo/last",
        exit: 0,
        shows: &[
            "via OpenAI. You wrote: \"Write to jane.doe@example.com about the invoice\"",
            "class: confidential | decisions: class_raised_by_content,provider_pinned,max_tokens_injected,redacted:EMAIL",
            "'content': 'Write to [EMAIL_1] about the invoice'",
        ],
        hides: &["Traceback"],
    },
    Step {
        runs: "PermissionDeniedError",
        exit: 0,
        shows: &[
            "403 model_not_allowed |",
            "not allowed for class confidential",
            "the key's default class is internal, raised to confidential by detected EMAIL",
            "class confidential allows models anthropic/claude-*, openai/gpt-4o*",
        ],
        hides: &["jane.doe", "Traceback"],
    },
    Step {
        runs: "policy explain --key-id trial -",
        exit: 1,
        shows: &[
            "decision: DENY (403 model_not_allowed)",
            "class:    confidential",
            "because:  the key's default class is internal, raised to confidential by detected EMAIL",
            "class confidential allows models: anthropic/claude-*, openai/gpt-4o*",
        ],
        hides: &["jane.doe"],
    },
    Step {
        runs: "tool_calls",
        exit: 0,
        shows: &["tool call: get_weather {\"city\":\"Paris\"}"],
        hides: &["Traceback"],
    },
    Step {
        runs: "orguard audit verify audit/",
        exit: 0,
        shows: &[
            "7 records (seq 1..7) [denied=1, request=3, response=3]",
            "OK: every hash matches and every link holds",
        ],
        hides: &[],
    },
];

/// The fenced `sh` blocks of one `## ` section of the README, in order.
fn section_blocks(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README has no section {heading:?}"));
    let body = &readme[start + heading.len() + 2..];
    let body = body.find("\n## ").map_or(body, |end| &body[..end]);
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in body.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), l) => {
                block.push_str(l);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```sh block in {heading:?}");
    blocks
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn python_openai_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import openai"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the Python `openai` package is not installed, and CI=true: .ci/run must install it"
        );
        eprintln!("\n*** SKIPPED: the Python `openai` package is not installed; run .ci/run (or pip install 'openai>=2,<4') to walk the README's first hour ***\n");
    }
    ok
}

/// Kills the shell's whole process group (the backgrounded servers too) when dropped, so a
/// failed assertion leaves nothing running.
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0)])
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn the_readme_first_hour_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = section_blocks(&readme, SECTION);
    assert_eq!(
        blocks.len(),
        STEPS.len(),
        "the section's sh blocks and this test's steps must match one to one:\n{blocks:#?}"
    );
    for (i, (block, step)) in blocks.iter().zip(STEPS).enumerate() {
        assert!(
            block.contains(step.runs),
            "step {} should run {:?}:\n{block}",
            i + 1,
            step.runs
        );
    }
    if !python_openai_available() {
        return;
    }

    // "From the repository root": a scratch copy of what the steps read from it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::copy(
        root.join("config/orguard.toml"),
        dir.path().join("config/orguard.toml"),
    )
    .unwrap();

    let gateway = format!("127.0.0.1:{}", free_port());
    let upstream = format!("127.0.0.1:{}", free_port());
    let mut script = String::new();
    for (i, block) in blocks.iter().enumerate() {
        let block = block
            .replace(UPSTREAM_ADDR, &upstream)
            .replace(GATEWAY_ADDR, &gateway);
        script.push_str(&format!(
            "echo '{MARK} {i} begin'\n{block}\necho \"{MARK} {i} exit $?\"\n"
        ));
    }

    // The installed binaries, as `cargo install` would put them on PATH.
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_orguard")).parent().unwrap();
    assert!(
        bin_dir.join("orguard-demo-upstream").is_file(),
        "orguard-demo-upstream is built beside orguard"
    );
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", path)
        .env(
            "HOME",
            std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()),
        )
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().unwrap();
    let group = Group(child.id());
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The shell is done (or overdue): end anything it left running, so the pipes close.
    drop(group);
    let out = out_reader.join().unwrap();
    let err = err_reader.join().unwrap();
    let logs = || {
        let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap_or_default();
        format!(
            "stdout:\n{out}\nstderr:\n{err}\nupstream.log:\n{}\norguard.log:\n{}",
            read("upstream.log"),
            read("trial/orguard.log")
        )
    };
    assert!(
        status.is_some(),
        "the README steps did not finish in 120 s\n{}",
        logs()
    );

    for (i, step) in STEPS.iter().enumerate() {
        let begin = format!("{MARK} {i} begin\n");
        let end = format!("{MARK} {i} exit ");
        let from = out
            .find(&begin)
            .unwrap_or_else(|| panic!("step {} never started\n{}", i + 1, logs()))
            + begin.len();
        let to = out[from..]
            .find(&end)
            .unwrap_or_else(|| panic!("step {} never finished\n{}", i + 1, logs()))
            + from;
        let output = &out[from..to];
        let code: i32 = out[to + end.len()..]
            .lines()
            .next()
            .and_then(|c| c.trim().parse().ok())
            .unwrap();
        assert_eq!(
            code,
            step.exit,
            "step {} ({}) exit code; its output:\n{output}\n{}",
            i + 1,
            step.runs,
            logs()
        );
        for want in step.shows {
            assert!(
                output.contains(want),
                "step {} ({}) should show {want:?}; it printed:\n{output}\n{}",
                i + 1,
                step.runs,
                logs()
            );
        }
        for unwanted in step.hides {
            assert!(
                !output.contains(unwanted),
                "step {} ({}) must not show {unwanted:?}; it printed:\n{output}",
                i + 1,
                step.runs
            );
        }
    }

    // The e-mail address reached neither the upstream nor any log or audit record.
    let audit_dir = dir.path().join("trial/audit");
    let mut audit = String::new();
    for entry in std::fs::read_dir(&audit_dir).unwrap() {
        audit.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
    }
    assert!(audit.contains("\"type\":\"denied\""), "{audit}");
    let gateway_log = std::fs::read_to_string(dir.path().join("trial/orguard.log")).unwrap();
    for (what, text) in [("audit", &audit), ("gateway log", &gateway_log)] {
        assert!(
            !text.contains("jane.doe"),
            "{what} holds the address:\n{text}"
        );
    }
}
