//! `wxrefund`: the operator's command for WeChat Pay refunds, built only on
//! the `wxrefund` library's public API. Human-readable output by default,
//! `--json` for scripts (one JSON document on stdout).

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Map, Value};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wxrefund::{doctor, Client, Error, Family, Refund, RefundQuery};

/// Exit code when `doctor` found at least one problem.
const EXIT_DOCTOR_PROBLEM: u8 = 20;
/// Exit code of a command-line usage error (BSD `EX_USAGE`; clap's 2 would
/// collide with INVALID_JSON).
const EXIT_USAGE: u8 = 64;
/// Exit code when an input file cannot be read (BSD `EX_NOINPUT`).
const EXIT_NO_INPUT: u8 = 66;
/// Exit code when output cannot be written: INTERNAL, as the C ABI numbers it.
const EXIT_OUTPUT: u8 = 13;

const EXIT_CODES: &str = "\
Exit codes:
  0   success
  1   INVALID_ARGUMENT          9   RATE_LIMITED
  2   INVALID_JSON             10   VERIFICATION_FAILED
  3   INVALID_CONFIG           11   DECRYPTION_FAILED
  4   INVALID_REQUEST          12   PANIC
  5   INVALID_HANDLE           13   INTERNAL
  6   TRANSPORT                14   TIMESTAMP_OUT_OF_WINDOW
  7   API_ERROR                15   MALFORMED_NOTIFICATION
  8   NOT_FOUND                16   TIMEOUT (refund wait)
  20  doctor found at least one problem
  64  usage error (unknown option, missing argument)
  66  an input file cannot be read
Errors are printed as JSON on stdout with --json, else as a line on stderr.";

/// Refunds, notifications, certificates and configuration checks for WeChat
/// Pay (mainland APIv3, Global) and WeCom.
#[derive(Parser)]
#[command(name = "wxrefund", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Print the library's log records (attempts, retries, decisions) on stderr.
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply for, query, or wait for a refund.
    #[command(subcommand)]
    Refund(RefundCommand),
    /// Verify and decrypt a saved refund notification (APIv3 or WeCom callback).
    #[command(subcommand)]
    Notification(NotificationCommand),
    /// Platform certificates (APIv3 families).
    #[command(subcommand)]
    Certificates(CertificatesCommand),
    /// Check a configuration end to end and name each problem with its fix.
    Doctor(DoctorArgs),
}

#[derive(Subcommand)]
enum RefundCommand {
    /// Apply for a refund, from a JSON request (file or `-` for stdin) or flags.
    Create(CreateArgs),
    /// Query one refund.
    Query(QueryArgs),
    /// Query until the refund is final (SUCCESS, CLOSED) or needs action (ABNORMAL).
    Wait(WaitArgs),
}

#[derive(Subcommand)]
enum NotificationCommand {
    /// Verify and decrypt a saved notification; prints the refund and the reply to give.
    Parse(ParseArgs),
}

#[derive(Subcommand)]
enum CertificatesCommand {
    /// Download, verify and decrypt the platform certificates; write one PEM per serial.
    Download(DownloadArgs),
}

#[derive(Args)]
struct ConfigArg {
    /// The client configuration JSON file (as for `wxrefund_client_new`).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

#[derive(Args)]
struct CreateArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The refund request JSON, with WeChat's field names; `-` reads stdin.
    #[arg(long, value_name = "FILE|-", conflicts_with_all = [
        "out_trade_no", "transaction_id", "out_refund_no", "refund", "total",
        "currency", "reason", "notify_url", "funds_account", "sub_mchid"])]
    request: Option<String>,
    /// The merchant's order number (or give --transaction-id).
    #[arg(long)]
    out_trade_no: Option<String>,
    /// WeChat's order number (mainland, Global).
    #[arg(long)]
    transaction_id: Option<String>,
    /// The merchant's refund number: resend with the same one, never a new one.
    #[arg(long)]
    out_refund_no: Option<String>,
    /// The amount to refund, in the currency's smallest unit (fen, cents).
    #[arg(long)]
    refund: Option<i64>,
    /// The order's total, in the smallest unit.
    #[arg(long)]
    total: Option<i64>,
    /// ISO 4217 currency. Default CNY (mainland, WeCom); Global needs it.
    #[arg(long)]
    currency: Option<String>,
    /// Refund reason shown to the payer.
    #[arg(long)]
    reason: Option<String>,
    /// Where the platform sends the refund notification (APIv3).
    #[arg(long)]
    notify_url: Option<String>,
    /// Which funds to refund from, e.g. AVAILABLE (mainland).
    #[arg(long)]
    funds_account: Option<String>,
    /// Partner mode: the sub-merchant, when not the configured one.
    #[arg(long)]
    sub_mchid: Option<String>,
}

#[derive(Args)]
struct RefundRef {
    /// The merchant's refund number.
    #[arg(
        long,
        required_unless_present = "refund_id",
        conflicts_with = "refund_id"
    )]
    out_refund_no: Option<String>,
    /// WeChat's refund id (Global only).
    #[arg(long)]
    refund_id: Option<String>,
    /// Partner mode: the sub-merchant, when not the configured one.
    #[arg(long)]
    sub_mchid: Option<String>,
}

impl RefundRef {
    fn query(&self) -> RefundQuery {
        RefundQuery {
            out_refund_no: self.out_refund_no.clone(),
            refund_id: self.refund_id.clone(),
            sub_mchid: self.sub_mchid.clone(),
        }
    }
}

#[derive(Args)]
struct QueryArgs {
    #[command(flatten)]
    config: ConfigArg,
    #[command(flatten)]
    refund: RefundRef,
}

#[derive(Args)]
struct WaitArgs {
    #[command(flatten)]
    config: ConfigArg,
    #[command(flatten)]
    refund: RefundRef,
    /// Give up after this many seconds (exit 16, TIMEOUT, with the last refund seen).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    timeout: u64,
}

#[derive(Args)]
struct ParseArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The headers as a JSON object of strings (WeCom: the callback's query
    /// parameters msg_signature, timestamp, nonce).
    #[arg(long, value_name = "FILE")]
    headers: PathBuf,
    /// The exact body received.
    #[arg(long, value_name = "FILE")]
    body: PathBuf,
}

#[derive(Args)]
struct DownloadArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The directory the PEM files are written to (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Args)]
struct DoctorArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The merchant API certificate (apiclient_cert.pem), to check it matches
    /// the private key and merchant_serial_no.
    #[arg(long, value_name = "FILE")]
    merchant_certificate: Option<PathBuf>,
}

/// Why a command failed.
enum Failure {
    /// The library's error: exit with its C status number.
    Operation(Error),
    /// An input file (or stdin) could not be read.
    Input(String),
    /// The arguments do not make a command.
    Usage(String),
    /// Output could not be written (e.g. the certificate directory).
    Output(String),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::Operation(error)
    }
}

/// What a command prints on success, and its exit code.
struct Done {
    json: Value,
    text: String,
    code: u8,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version are not errors; everything else is misuse.
            let code = if error.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    install_logger(cli.verbose);
    let outcome = match &cli.command {
        Command::Refund(RefundCommand::Create(args)) => create(args),
        Command::Refund(RefundCommand::Query(args)) => query(args),
        Command::Refund(RefundCommand::Wait(args)) => wait(args),
        Command::Notification(NotificationCommand::Parse(args)) => parse_notification(args),
        Command::Certificates(CertificatesCommand::Download(args)) => download(args),
        Command::Doctor(args) => run_doctor(args),
    };
    match outcome {
        Ok(done) => {
            if cli.json {
                print_stdout(&done.json.to_string());
            } else {
                print_stdout(done.text.trim_end());
            }
            ExitCode::from(done.code)
        }
        Err(failure) => ExitCode::from(report(&failure, cli.json)),
    }
}

fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not worth a panic.
    let _ = writeln!(out, "{text}");
}

/// Prints a failure (JSON on stdout, or a line on stderr) and returns its exit code.
fn report(failure: &Failure, json: bool) -> u8 {
    let (code, document, line) = match failure {
        Failure::Operation(error) => {
            let mut document = error.to_json();
            redact(&mut document);
            (status_number(error), document, describe_error(error))
        }
        Failure::Input(message) => (
            EXIT_NO_INPUT,
            json!({"status": "NO_INPUT", "message": message}),
            format!("error: {message}"),
        ),
        Failure::Usage(message) => (
            EXIT_USAGE,
            json!({"status": "USAGE", "message": message}),
            format!("error: {message}\n(see wxrefund --help)"),
        ),
        Failure::Output(message) => (
            EXIT_OUTPUT,
            json!({"status": "INTERNAL", "message": message}),
            format!("error: {message}"),
        ),
    };
    if json {
        print_stdout(&document.to_string());
    } else {
        eprintln!("{line}");
    }
    code
}

/// The C status number of an error's kind (`wxrefund_status` in wxrefund.h).
fn status_number(error: &Error) -> u8 {
    match error.kind.name() {
        "INVALID_ARGUMENT" => 1,
        "INVALID_JSON" => 2,
        "INVALID_CONFIG" => 3,
        "INVALID_REQUEST" => 4,
        "INVALID_HANDLE" => 5,
        "TRANSPORT" => 6,
        "API_ERROR" => 7,
        "NOT_FOUND" => 8,
        "RATE_LIMITED" => 9,
        "VERIFICATION_FAILED" => 10,
        "DECRYPTION_FAILED" => 11,
        "PANIC" => 12,
        "TIMESTAMP_OUT_OF_WINDOW" => 14,
        "MALFORMED_NOTIFICATION" => 15,
        "TIMEOUT" => 16,
        // INTERNAL, and any kind a newer library adds.
        _ => 13,
    }
}

/// One readable error: status, message, then what the caller needs next.
fn describe_error(error: &Error) -> String {
    let mut line = format!(
        "error: {} (exit {}): {}",
        error.kind.name(),
        status_number(error),
        error.message
    );
    let mut facts = Vec::new();
    if let Some(field) = &error.field {
        facts.push(format!("field {field}"));
    }
    if let Some(status) = error.http_status {
        facts.push(format!("HTTP {status}"));
    }
    if let Some(code) = &error.code {
        facts.push(format!("code {code}"));
    }
    if let Some(id) = &error.request_id {
        facts.push(format!("request_id {id}"));
    }
    if error.attempts > 0 {
        facts.push(format!(
            "{} attempt(s) in {} ms",
            error.attempts, error.elapsed_ms
        ));
    }
    if !facts.is_empty() {
        line.push_str(&format!("\n  {}", facts.join(", ")));
    }
    if error.outcome_unknown {
        line.push_str(
            "\n  outcome unknown: the platform may have accepted it; query the refund \
             (or resend the SAME request, same out_refund_no) before anything else",
        );
    } else if error.retryable {
        line.push_str("\n  retryable: sending the same request again may succeed");
    }
    if let Some(refund) = &error.refund {
        line.push_str(&format!("\n  last refund seen: {}", refund.status.name()));
    }
    if let Some(reply) = &error.reply {
        line.push_str(&format!(
            "\n  reply to the platform: HTTP {} {}",
            reply.http_status, reply.body
        ));
    }
    line
}

/// Personal fields are never printed: the payer's account (mainland, Global).
const PERSONAL_FIELDS: [&str; 1] = ["user_received_account"];

/// Replaces personal fields anywhere in `value` with a note.
fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, field) in map.iter_mut() {
                if PERSONAL_FIELDS.contains(&name.as_str()) {
                    *field = json!("(personal data, not shown)");
                } else {
                    redact(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Reads a file, or stdin for `-`; a failure exits 66.
fn read_input(path: &str) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    let read = if path == "-" {
        std::io::stdin().read_to_end(&mut bytes).map(drop)
    } else {
        std::fs::read(path).map(|read| bytes = read)
    };
    read.map_err(|e| Failure::Input(format!("cannot read {path}: {e}")))?;
    Ok(bytes)
}

fn read_text(path: &Path) -> Result<String, Failure> {
    let shown = path.display().to_string();
    let bytes = read_input(&shown)?;
    String::from_utf8(bytes).map_err(|_| Failure::Input(format!("{shown} is not UTF-8 text")))
}

fn client(config: &ConfigArg) -> Result<Client, Failure> {
    Ok(Client::from_json(&read_text(&config.config)?)?)
}

fn create(args: &CreateArgs) -> Result<Done, Failure> {
    let client = client(&args.config)?;
    let request = match &args.request {
        Some(path) => String::from_utf8(read_input(path)?)
            .map_err(|_| Failure::Input(format!("{path} is not UTF-8 text")))?,
        None => request_from_flags(args, client.family())?.to_string(),
    };
    refund_done(&client.create_refund_json(&request)?, 0)
}

/// The request JSON (WeChat's field names) from the flags.
fn request_from_flags(args: &CreateArgs, family: Family) -> Result<Value, Failure> {
    let missing = |flag: &str| {
        Failure::Usage(format!(
            "{flag} is required (or give the whole request with --request FILE|-)"
        ))
    };
    let out_refund_no = args
        .out_refund_no
        .as_deref()
        .ok_or_else(|| missing("--out-refund-no"))?;
    let refund = args.refund.ok_or_else(|| missing("--refund"))?;
    let total = args.total.ok_or_else(|| missing("--total"))?;
    let currency = match (&args.currency, family) {
        (Some(currency), _) => currency.clone(),
        (None, Family::Global) => return Err(missing("--currency")),
        (None, _) => "CNY".to_string(),
    };
    let mut request = Map::new();
    request.insert("out_refund_no".into(), json!(out_refund_no));
    request.insert(
        "amount".into(),
        json!({"refund": refund, "total": total, "currency": currency}),
    );
    for (name, value) in [
        ("out_trade_no", &args.out_trade_no),
        ("transaction_id", &args.transaction_id),
        ("reason", &args.reason),
        ("notify_url", &args.notify_url),
        ("funds_account", &args.funds_account),
        ("sub_mchid", &args.sub_mchid),
    ] {
        if let Some(value) = value {
            request.insert(name.into(), json!(value));
        }
    }
    Ok(Value::Object(request))
}

fn query(args: &QueryArgs) -> Result<Done, Failure> {
    let client = client(&args.config)?;
    refund_done(&client.query_refund(&args.refund.query())?, 0)
}

fn wait(args: &WaitArgs) -> Result<Done, Failure> {
    let client = client(&args.config)?;
    let query = args.refund.query();
    let timeout = Duration::from_secs(args.timeout);
    let progress = Progress::start(
        query
            .out_refund_no
            .clone()
            .or(query.refund_id.clone())
            .unwrap_or_default(),
        timeout,
    );
    let outcome = client.wait_for_final(&query, timeout);
    drop(progress);
    refund_done(&outcome?, 0)
}

/// A progress line on stderr while waiting, only when stderr is a terminal.
struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(refund: String, timeout: Duration) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::io::stderr().is_terminal().then(|| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    eprint!(
                        "\rwaiting for {refund}: {} s of {} s ",
                        started.elapsed().as_secs(),
                        timeout.as_secs()
                    );
                    std::thread::sleep(Duration::from_millis(250));
                }
                // Clear the line before the result is printed.
                eprint!("\r\x1b[2K");
            })
        });
        Progress { stop, thread }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A refund as output: its JSON (personal fields redacted) and a summary.
fn refund_done(refund: &Refund, code: u8) -> Result<Done, Failure> {
    let mut json = refund.to_json();
    redact(&mut json);
    Ok(Done {
        text: refund_text(refund, &json),
        json,
        code,
    })
}

fn refund_text(refund: &Refund, json: &Value) -> String {
    let state = if refund.status.is_final() {
        "final"
    } else if refund.status.name() == "ABNORMAL" {
        "action required: the refund failed to reach the payer; see the merchant platform"
    } else {
        "not final: query again later, or `wxrefund refund wait`"
    };
    let mut lines = vec![format!(
        "status:          {} ({state})",
        refund.status.name()
    )];
    for name in [
        "out_refund_no",
        "refund_id",
        "id",
        "out_trade_no",
        "transaction_id",
        "channel",
        "create_time",
        "success_time",
        "amount",
    ] {
        if let Some(value) = json.get(name) {
            let shown = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            lines.push(format!("{:<16} {shown}", format!("{name}:")));
        }
    }
    lines.push(format!(
        "attempts:        {} ({} ms)",
        refund.attempts, refund.elapsed_ms
    ));
    lines.join("\n")
}

fn parse_notification(args: &ParseArgs) -> Result<Done, Failure> {
    let client = client(&args.config)?;
    let headers = read_text(&args.headers)?;
    let body = read_input(&args.body.display().to_string())?;
    let notification = client.parse_notification_json(&headers, &body)?;
    let mut json = notification.to_json();
    redact(&mut json);
    let reply = notification.reply();
    let text = format!(
        "notification {} ({}), created {}\n{}\nreply to the platform: HTTP {} {}",
        notification.id,
        notification.event_type,
        notification.create_time,
        refund_text(&notification.refund, &json["refund"]),
        reply.http_status,
        if reply.body.is_empty() {
            "(empty body)"
        } else {
            &reply.body
        }
    );
    Ok(Done {
        json,
        text,
        code: 0,
    })
}

fn download(args: &DownloadArgs) -> Result<Done, Failure> {
    let client = client(&args.config)?;
    let certificates = client.download_certificates()?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::Output(format!("cannot create {}: {e}", args.out.display())))?;
    let mut listed = Vec::new();
    let mut lines = Vec::new();
    for certificate in &certificates {
        // The serial names the file: refuse anything that is not a plain hex name.
        if certificate.serial_no.is_empty()
            || !certificate
                .serial_no
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Failure::Output(format!(
                "a certificate serial is not a file name: {:?}",
                certificate.serial_no
            )));
        }
        let path = args.out.join(format!("{}.pem", certificate.serial_no));
        std::fs::write(&path, &certificate.pem)
            .map_err(|e| Failure::Output(format!("cannot write {}: {e}", path.display())))?;
        listed.push(json!({
            "serial_no": certificate.serial_no,
            "effective_time": certificate.effective_time,
            "expire_time": certificate.expire_time,
            "file": path.display().to_string(),
        }));
        lines.push(format!(
            "{}  valid {} to {}  -> {}",
            certificate.serial_no,
            certificate.effective_time,
            certificate.expire_time,
            path.display()
        ));
    }
    Ok(Done {
        json: json!({"certificates": listed}),
        text: format!(
            "{} platform certificate(s), verified and decrypted:\n{}",
            certificates.len(),
            lines.join("\n")
        ),
        code: 0,
    })
}

fn run_doctor(args: &DoctorArgs) -> Result<Done, Failure> {
    let config = read_text(&args.config.config)?;
    let certificate = match &args.merchant_certificate {
        Some(path) => Some(read_input(&path.display().to_string())?),
        None => None,
    };
    let checks = doctor::run(&config, certificate.as_deref());
    let problems = checks
        .iter()
        .filter(|check| check.outcome == doctor::Outcome::Problem)
        .count();
    let mut lines = Vec::new();
    for check in &checks {
        lines.push(format!(
            "{:<8} {:<22} {}",
            check.outcome.name(),
            check.name,
            check.detail
        ));
        if let Some(fix) = &check.fix {
            lines.push(format!("{:<31} fix: {fix}", ""));
        }
    }
    lines.push(if problems == 0 {
        "no problems found".to_string()
    } else {
        format!("{problems} problem(s) found")
    });
    Ok(Done {
        json: json!({
            "checks": checks.iter().map(doctor::Check::to_json).collect::<Vec<_>>(),
            "problems": problems,
        }),
        text: lines.join("\n"),
        code: if problems == 0 {
            0
        } else {
            EXIT_DOCTOR_PROBLEM
        },
    })
}

/// Prints the library's records (target `wxrefund`) on stderr under `--verbose`.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with(wxrefund::LOG_TARGET)
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("wxrefund: {:<5} {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

fn install_logger(verbose: bool) {
    if verbose && log::set_boxed_logger(Box::new(StderrLogger)).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
}
