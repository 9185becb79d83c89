//! The `wxrefund-sim` command line: help, version, errors, `--orders`, `--config-out`,
//! signals, and README.md's simulator section against `--help`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SIM: &str = env!("CARGO_BIN_EXE_wxrefund-sim");

fn run(args: &[&str]) -> Output {
    Command::new(SIM).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A fresh directory under the target directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running simulator and the first line it printed on stdout.
struct Running {
    child: Child,
    first_line: String,
    stdout: BufReader<std::process::ChildStdout>,
}

fn start(args: &[&str]) -> Running {
    let mut child = Command::new(SIM)
        .args(["--settle-ms", "50"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first_line = String::new();
    stdout.read_line(&mut first_line).unwrap();
    assert!(!first_line.is_empty(), "the simulator printed nothing");
    Running {
        child,
        first_line,
        stdout,
    }
}

impl Running {
    /// Sends `signal`, waits for the exit; returns the exit code, the rest of stdout and
    /// all of stderr.
    fn stop(mut self, signal: libc::c_int) -> (Option<i32>, String, String) {
        // SAFETY: kill on our own child's process id.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the simulator did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status.code(), rest, stderr)
    }
}

#[test]
fn help_and_version() {
    for flag in ["--help", "-h"] {
        let out = run(&[flag]);
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out.stdout).contains("Usage: wxrefund-sim [OPTIONS]"));
        assert!(out.stderr.is_empty());
    }
    let long = text(&run(&["--help"]).stdout);
    for needle in [
        "\"domestic\"",
        "paid_days_ago",
        "final_status",
        "config: PATH",
        "SIGTERM",
    ] {
        assert!(long.contains(needle), "--help does not mention {needle}");
    }
    let out = run(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "wxrefund-sim 0.1.0\n");
}

#[test]
fn a_bad_command_line_exits_2_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--bogus"], "--bogus"),
        (&["--family", "hk"], "--family"),
        (&["--port", "x"], "--port"),
        (&["--settle-ms"], "--settle-ms"),
        (
            &["--mode", "institution"],
            "--mode institution needs --family global",
        ),
    ];
    for (args, needle) in cases {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

fn example_orders() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/orders.json")
}

#[test]
fn orders_file_seeds_refundable_orders() {
    let dir = scratch("orders");
    let config = dir.join("config.json");
    let orders = example_orders();
    let sim = start(&[
        "--orders",
        orders.to_str().unwrap(),
        "--config-out",
        config.to_str().unwrap(),
    ]);
    let client = wxrefund::Client::from_json(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let refund = client
        .create_refund_json(
            r#"{"out_trade_no":"T20261129000001","out_refund_no":"R-cli-1",
                "amount":{"refund":20000,"total":20000,"currency":"CNY"}}"#,
        )
        .unwrap();
    assert_eq!(refund.field("out_refund_no"), Some("R-cli-1"));
    // The demo orders are still there.
    client
        .create_refund_json(
            r#"{"out_trade_no":"T20261122000001","out_refund_no":"R-cli-2",
                "amount":{"refund":1,"total":10000,"currency":"CNY"}}"#,
        )
        .unwrap();
    let (code, _, stderr) = sim.stop(libc::SIGTERM);
    assert_eq!(code, Some(0));
    assert!(
        stderr.contains("seeded 2 domestic, 2 global and 1 wecom orders"),
        "{stderr}"
    );
}

#[test]
fn a_bad_orders_file_exits_2_naming_file_order_and_field() {
    let dir = scratch("bad-orders");
    let cases = [
        (
            r#"{"global":[{"out_trade_no":"G1","transaction_id":"1","total":1,"currency":"USD","payer_currency":"CNY","settlement_currency":"HKD","rate":-5}]}"#,
            "global[0].rate",
        ),
        (
            r#"{"domestic":[{"out_trade_no":"T1","transaction_id":"1","total":1},{"out_trade_no":"T2","transaction_id":"2","total":1,"colour":"red"}]}"#,
            "domestic[1].colour: unknown field",
        ),
        (
            r#"{"wecom":[{"out_trade_no":"W1","total":1}]}"#,
            "wecom[0].transaction_id: missing",
        ),
    ];
    for (index, (body, needle)) in cases.into_iter().enumerate() {
        let file = dir.join(format!("bad-{index}.json"));
        std::fs::write(&file, body).unwrap();
        let out = run(&["--orders", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{body}");
        assert!(out.stdout.is_empty());
        let stderr = text(&out.stderr);
        let expected = format!("{}: {needle}", file.display());
        assert!(stderr.contains(&expected), "{stderr} lacks {expected}");
    }
    let missing = dir.join("missing.json");
    let out = run(&["--orders", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(missing.to_str().unwrap()));
}

#[test]
fn config_out_keeps_the_key_off_stdout_and_stderr() {
    let dir = scratch("config-out");
    let config = dir.join("config.json");
    // An existing, world-readable file is replaced by a private one.
    std::fs::write(&config, "old").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    for family in ["domestic", "global", "wecom"] {
        let sim = start(&["--family", family, "--config-out", config.to_str().unwrap()]);
        let line = sim.first_line.clone();
        let port = line
            .strip_prefix("wxrefund-sim ready on http://127.0.0.1:")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("not a ready line: {line}"));
        let expected = format!(
            "wxrefund-sim ready on http://127.0.0.1:{port} (families: domestic, global, wecom; config: {})\n",
            config.display()
        );
        assert_eq!(line, expected);
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let json = std::fs::read_to_string(&config).unwrap();
        assert!(json.ends_with('\n'));
        let client = wxrefund::Client::from_json(&json).unwrap();
        assert_eq!(format!("{:?}", client.family()).to_lowercase(), family);
        let (code, rest, stderr) = sim.stop(libc::SIGINT);
        assert_eq!(code, Some(0));
        assert_eq!(rest, "", "stdout holds only the ready line");
        for output in [&line, &stderr] {
            assert!(!output.contains("PRIVATE KEY"), "{output}");
            assert!(!output.contains("MII"), "{output}");
            assert!(!output.contains("apiv3_key"), "{output}");
        }
        assert!(!stderr.contains("PlatformCertificate"), "{stderr}");
        assert!(stderr.contains("platform certificate"), "{stderr}");
    }
}

#[test]
fn without_config_out_stdout_has_the_configuration() {
    let sim = start(&["--verification", "pubkey"]);
    let config: serde_json::Value = serde_json::from_str(&sim.first_line).unwrap();
    assert!(config["base_url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    let (code, rest, stderr) = sim.stop(libc::SIGTERM);
    assert_eq!(code, Some(0));
    assert_eq!(rest, "");
    assert!(stderr.contains("WeChat Pay public key"), "{stderr}");
    assert!(!stderr.contains("PublicKey"), "{stderr}");
}

#[test]
fn sigterm_and_sigint_stop_it_cleanly() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let sim = start(&[]);
        let config: serde_json::Value = serde_json::from_str(&sim.first_line).unwrap();
        let address = config["base_url"]
            .as_str()
            .unwrap()
            .trim_start_matches("http://")
            .to_string();
        let (code, _, stderr) = sim.stop(signal);
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stderr.contains("stopped"), "{stderr}");
        // The server is gone.
        assert!(std::net::TcpStream::connect(&address).is_err());
    }
}

#[test]
fn exit_on_stdin_eof_still_exits_0() {
    let mut child = Command::new(SIM)
        .arg("--exit-on-stdin-eof")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with('{'));
    drop(child.stdin.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// The `--flags` in `text`.
fn flags(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (start, _) in text.match_indices("--") {
        let name: String = text[start + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        let name = name.trim_end_matches('-');
        if !name.is_empty() {
            found.insert(format!("--{name}"));
        }
    }
    found
}

#[test]
fn readme_simulator_section_matches_help() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme
        .find("\n## The simulator\n")
        .expect("README has no simulator section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    // The short help, verbatim.
    let short = text(&run(&["-h"]).stdout);
    assert!(
        section.contains(short.trim_end()),
        "README.md's simulator section must hold `wxrefund-sim -h` verbatim:\n{short}"
    );
    // Every flag of --help in the section, and every flag of the section (outside ```sh
    // blocks, which hold other commands) in --help.
    let help = flags(&text(&run(&["--help"]).stdout));
    let mut outside_sh = String::new();
    let mut in_sh = false;
    for line in section.lines() {
        if line.starts_with("```") {
            in_sh = !in_sh && line == "```sh";
        } else if !in_sh {
            outside_sh.push_str(line);
            outside_sh.push('\n');
        }
    }
    let readme_flags = flags(&outside_sh);
    assert_eq!(
        help, readme_flags,
        "flags of --help vs README.md's simulator section"
    );
}
