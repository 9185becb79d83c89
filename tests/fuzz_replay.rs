//! Replays the fuzz corpora and regression inputs on stable Rust, without libFuzzer: every
//! file under `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through the
//! very function the fuzz target `<target>` calls (`fuzz/src/targets.rs`, included below),
//! which panics on a `PANIC`/`INTERNAL` status, a broken ABI contract, a secret echoed in
//! an error, or a request accepted against the rules. `wecom_callback` also gets inputs
//! generated here, too large to commit (XML nested 1,000,000 deep, and as deep as fits in
//! 1 MiB).
//!
//! Each target runs in a child process (this test binary, running the ignored test
//! `replay_child`), and each input in a thread of its own with Rust's default 2 MiB stack,
//! named after the input: a panic is reported with the input's path, and so is an input
//! that kills the process (a stack overflow aborts), after which the child is started
//! again to replay the remaining inputs. `cargo test --test fuzz_replay -- --ignored
//! --nocapture` replays everything in one process instead.

#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 6] = [
    ("config_json", targets::config_json),
    ("refund_request", targets::refund_request),
    ("query_json", targets::query_json),
    ("apiv3_notification", targets::apiv3_notification),
    ("wecom_callback", targets::wecom_callback),
    ("http_answers", targets::http_answers),
];

/// Stack of the thread each input runs on: the default of Rust's spawned threads (a C
/// host's threads often have less, rarely much more).
const STACK_BYTES: usize = 2 << 20;

/// Set in a child: the target to replay.
const TARGET_ENV: &str = "WXREFUND_FUZZ_REPLAY_TARGET";
/// Set in a child: inputs not to replay again (they killed an earlier child), one a line.
const SKIP_ENV: &str = "WXREFUND_FUZZ_REPLAY_SKIP";

/// One input: a file, or bytes made here.
struct Input {
    name: String,
    bytes: Box<dyn Fn() -> Vec<u8>>,
}

/// `"<a>"` nested `depth` deep, as a raw WeCom callback body (mode 0).
fn nested_xml(depth: usize) -> Vec<u8> {
    let mut body = b"0".to_vec();
    body.extend(b"<a>".repeat(depth));
    body
}

fn inputs(target: &str) -> Vec<Input> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs = Vec::new();
    for dir in ["corpus", "regressions"] {
        let dir = root.join("fuzz").join(dir).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.is_file())
            .filter(|path| {
                !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        for path in files {
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            inputs.push(Input {
                name,
                bytes: Box::new(move || {
                    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path:?}: {e}"))
                }),
            });
        }
    }
    if target == "wecom_callback" {
        inputs.push(Input {
            name: "(generated) XML body nested 1,000,000 deep".into(),
            bytes: Box::new(|| nested_xml(1_000_000)),
        });
        inputs.push(Input {
            name: "(generated) XML body nested as deep as fits in 1 MiB".into(),
            bytes: Box::new(|| nested_xml(((1 << 20) - 1) / 3)),
        });
    }
    inputs
}

/// Replays `target`'s inputs in this process, printing `REPLAY name`, then `PASS name`
/// or `FAIL name` and the panic message on lines starting with `  | `. Returns the
/// names of the inputs that failed.
fn replay_here(target: &str, function: Target, skip: &[String]) -> Vec<String> {
    let mut failed = Vec::new();
    let mut out = std::io::stdout();
    for input in inputs(target) {
        if skip.contains(&input.name) {
            continue;
        }
        let _ = writeln!(out, "REPLAY {}", input.name);
        let _ = out.flush();
        let bytes = (input.bytes)();
        let outcome = std::thread::Builder::new()
            .name(format!("replay {}", input.name))
            .stack_size(STACK_BYTES)
            .spawn(move || function(&bytes))
            .expect("spawn a replay thread")
            .join();
        match outcome {
            Ok(()) => {
                let _ = writeln!(out, "PASS {}", input.name);
            }
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(a panic without a message)".into());
                let _ = writeln!(out, "FAIL {}", input.name);
                for line in message.lines() {
                    let _ = writeln!(out, "  | {line}");
                }
                failed.push(input.name);
            }
        }
        let _ = out.flush();
    }
    failed
}

/// Run by [`replay_isolated`] in a child process; by hand, replays every target here.
#[test]
#[ignore = "started by the other tests of this file in a child process"]
fn replay_child() {
    let skip: Vec<String> = std::env::var(SKIP_ENV)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let wanted = std::env::var(TARGET_ENV).ok();
    let mut failed = Vec::new();
    for (target, function) in TARGETS {
        if wanted.as_deref().is_none_or(|wanted| wanted == target) {
            failed.extend(replay_here(target, function, &skip));
        }
    }
    assert!(failed.is_empty(), "inputs failed: {failed:#?}");
}

/// Replays `target` in child processes and fails with every failing input, named.
fn replay_isolated(target: &str) {
    let exe = std::env::current_exe().expect("the test binary's path");
    // Every input replayed so far, in order; a restarted child skips them.
    let mut seen: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    loop {
        let failures_before = failures.len();
        let output = Command::new(&exe)
            .args([
                "replay_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(TARGET_ENV, target)
            .env(SKIP_ENV, seen.join("\n"))
            .output()
            .expect("start the replay child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut running: Option<String> = None;
        for line in stdout.lines() {
            if let Some(name) = line.strip_prefix("REPLAY ") {
                seen.push(name.to_string());
                running = Some(name.to_string());
            } else if line.starts_with("PASS ") {
                running = None;
            } else if let Some(name) = line.strip_prefix("FAIL ") {
                running = None;
                failures.push(format!("{name}:"));
            } else if let Some(message) = line.strip_prefix("  | ") {
                if let Some(last) = failures.last_mut() {
                    last.push_str("\n    ");
                    last.push_str(message);
                }
            }
        }
        match running {
            Some(name) => {
                // The process died on this input: no panic to catch (e.g. a stack overflow).
                let stderr = String::from_utf8_lossy(&output.stderr);
                let tail: Vec<&str> = stderr.lines().rev().take(4).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                failures.push(format!(
                    "{name}:\n    the process died ({}) replaying it:\n    {}",
                    output.status,
                    tail.join("\n    ")
                ));
            }
            None if output.status.success() || failures.len() > failures_before => break,
            None => panic!(
                "the replay child failed outside any input ({}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }
    assert!(
        seen.iter().any(|name| name.starts_with("fuzz/corpus/")),
        "fuzz/corpus/{target}/ has no input to replay"
    );
    assert!(
        failures.is_empty(),
        "{} of the {} inputs of fuzz target {target} fail:\n{}",
        failures.len(),
        seen.len(),
        failures.join("\n")
    );
}

#[test]
fn config_json() {
    replay_isolated("config_json");
}

#[test]
fn refund_request() {
    replay_isolated("refund_request");
}

#[test]
fn query_json() {
    replay_isolated("query_json");
}

#[test]
fn apiv3_notification() {
    replay_isolated("apiv3_notification");
}

#[test]
fn wecom_callback() {
    replay_isolated("wecom_callback");
}

#[test]
fn http_answers() {
    replay_isolated("http_answers");
}
