//! `wxrefund-sim`: runs the refund platform simulator until SIGTERM or SIGINT (exit 0), or
//! until stdin closes with `--exit-on-stdin-eof`. `wxrefund-sim --help` documents the
//! command line, including the `--orders` file format (see also
//! [`wxrefund_sim::orders_file`]).

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};
use wxrefund_sim::orders_file::OrderFile;
use wxrefund_sim::{SimOptions, Simulator, Verification};

/// The sub-merchant the Global institution-mode configuration acts for (a demo order's).
const INSTITUTION_SUB_MCHID: &str = "1900000209";

const LONG_ABOUT: &str = "\
Offline simulator of the WeChat Pay refund platforms (mainland APIv3, WeChat Pay Global, \
WeCom) on 127.0.0.1, for wxrefund. It serves every family whichever configuration it hands \
out, and runs until SIGTERM or SIGINT (exit status 0), or until stdin closes with \
--exit-on-stdin-eof.

Once ready it hands out the client configuration for --family (and, for global, --mode; \
institution acts for sub-merchant 1900000209). It holds the merchant private key. With \
--config-out PATH it is written only to PATH (mode 0600, complete when it appears) and \
stdout gets one line:
  wxrefund-sim ready on http://127.0.0.1:PORT (families: domestic, global, wecom; config: PATH)
Without --config-out the configuration JSON is printed on one stdout line. Status lines go \
to stderr.

A JSON control API for tests (add orders, queue faults, settle refunds, skew the clock, \
rotate the certificate, revoke WeCom tokens, read state and the request log, reset) is \
served on the same port under /_sim/, to loopback clients only; GET /_sim/openapi.json \
describes it.

--orders FILE seeds orders, in addition to the demo orders, from a JSON object with up to \
three arrays:
  {\"domestic\": [{\"out_trade_no\": \"T1\", \"transaction_id\": \"4200000001\", \"total\": 10000,
                 \"sub_mchid\": null, \"paid_days_ago\": 0, \"final_status\": \"SUCCESS\"}],
   \"global\":   [{... the domestic fields, and \"currency\": \"USD\", \"payer_currency\": \"CNY\",
                 \"settlement_currency\": \"HKD\", \"rate\": 780000000}],
   \"wecom\":    [{... the domestic fields but sub_mchid}]}
out_trade_no (unique within its array), transaction_id (1-32 characters each) and total \
(a positive integer, fen or minor units of currency) are required; sub_mchid (null: direct \
order), paid_days_ago (0-36500, default 0; refunds are refused past 365) and final_status \
(SUCCESS, the default, CLOSED or ABNORMAL) are optional; Global orders need the three \
currencies (three upper-case letters) and rate (exchange rate x 10^8). Unknown fields are \
refused; an error names the file, the order (e.g. global[2]) and the field. Example: \
sim/examples/orders.json.";

/// Command line of `wxrefund-sim`.
#[derive(Debug, Parser)]
#[command(
    name = "wxrefund-sim",
    version,
    about = "Offline simulator of the WeChat Pay refund platforms, for wxrefund",
    long_about = LONG_ABOUT
)]
struct Cli {
    /// Port to listen on, on 127.0.0.1 (0: any free port)
    #[arg(long, value_name = "N", default_value_t = 0)]
    port: u16,
    /// How responses are signed
    #[arg(long, value_enum, value_name = "MODE", default_value_t = VerificationArg::Platform)]
    verification: VerificationArg,
    /// Milliseconds a refund stays PROCESSING before it settles
    #[arg(long, value_name = "N", default_value_t = 300)]
    settle_ms: u64,
    /// Refuse (429) a second APIv3 refund on an order within 60 s
    #[arg(long)]
    order_spacing: bool,
    /// Minimum gap between WeCom refunds on one order, in ms (0: no limit)
    #[arg(long, value_name = "N", default_value_t = 60_000)]
    wecom_order_spacing_ms: u64,
    /// Lifetime of a WeCom access token, in seconds
    #[arg(long, value_name = "N", default_value_t = 7200)]
    wecom_token_lifetime_s: u64,
    /// Which client configuration to hand out
    #[arg(long, value_enum, default_value_t = Family::Domestic)]
    family: Family,
    /// Global mode of the configuration (institution needs --family global)
    #[arg(long, value_enum, default_value_t = Mode::Direct)]
    mode: Mode,
    /// Seed orders from a JSON file (format: --help)
    #[arg(long, value_name = "FILE")]
    orders: Option<PathBuf>,
    /// Write the configuration only to PATH (mode 0600); stdout gets a ready line
    #[arg(long, value_name = "PATH")]
    config_out: Option<PathBuf>,
    /// Stop when stdin reaches end of file
    #[arg(long)]
    exit_on_stdin_eof: bool,
}

/// `--verification`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum VerificationArg {
    /// Platform certificates (`/v3/certificates`)
    Platform,
    /// The WeChat Pay public key only
    Pubkey,
    /// Migration: the public key when the request names it, else the certificate
    Both,
}

/// `--family`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Family {
    /// Mainland APIv3 refunds
    Domestic,
    /// WeChat Pay Global refunds
    Global,
    /// WeCom refunds (corpid + corpsecret configuration)
    Wecom,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Direct merchant
    Direct,
    /// Institution acting for sub-merchant 1900000209
    Institution,
}

/// Which client configuration to hand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Printed {
    Domestic,
    GlobalDirect,
    GlobalInstitution,
    WeCom,
}

/// The validated command line.
struct Args {
    options: SimOptions,
    printed: Printed,
    orders: Option<PathBuf>,
    config_out: Option<PathBuf>,
    exit_on_stdin_eof: bool,
}

impl Cli {
    fn into_args(self) -> Result<Args, clap::Error> {
        let printed = match (self.family, self.mode) {
            (Family::Domestic, Mode::Direct) => Printed::Domestic,
            (Family::Global, Mode::Direct) => Printed::GlobalDirect,
            (Family::Global, Mode::Institution) => Printed::GlobalInstitution,
            (Family::Wecom, Mode::Direct) => Printed::WeCom,
            (Family::Domestic | Family::Wecom, Mode::Institution) => {
                return Err(Cli::command().error(
                    ErrorKind::ArgumentConflict,
                    "--mode institution needs --family global",
                ));
            }
        };
        let options = SimOptions {
            port: self.port,
            verification: match self.verification {
                VerificationArg::Platform => Verification::PlatformCertificate,
                VerificationArg::Pubkey => Verification::PublicKey,
                VerificationArg::Both => Verification::Both,
            },
            settle_after: Duration::from_millis(self.settle_ms),
            enforce_order_spacing: self.order_spacing,
            wecom_order_spacing: Duration::from_millis(self.wecom_order_spacing_ms),
            wecom_token_lifetime: Duration::from_secs(self.wecom_token_lifetime_s),
            ..SimOptions::default()
        };
        Ok(Args {
            options,
            printed,
            orders: self.orders,
            config_out: self.config_out,
            exit_on_stdin_eof: self.exit_on_stdin_eof,
        })
    }
}

fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Args, clap::Error> {
    let program = std::iter::once("wxrefund-sim".to_string());
    Cli::try_parse_from(program.chain(args))?.into_args()
}

/// Human-readable name of a verification mode, for status lines.
fn verification_name(verification: Verification) -> &'static str {
    match verification {
        Verification::PlatformCertificate => "platform certificate",
        Verification::PublicKey => "WeChat Pay public key",
        Verification::Both => "platform certificate and WeChat Pay public key",
    }
}

/// Writes `text` to `path` with mode 0600: to a new file beside it, renamed over `path`, so
/// a reader never sees a partial configuration and an existing file's mode does not leak.
fn write_private(path: &Path, text: &str) -> io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    let temporary = path.with_file_name(name);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// SIGINT and SIGTERM, blocked in every thread so that [`wait_for_signal`] receives them.
fn termination_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

/// Blocks SIGINT and SIGTERM in this thread and the threads it starts from now on.
fn block_signals(set: &libc::sigset_t) -> io::Result<()> {
    // SAFETY: `set` is initialised; the old mask is not wanted.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Waits for one of the (blocked) signals in `set`; returns its number.
fn wait_for_signal(set: &libc::sigset_t) -> io::Result<libc::c_int> {
    loop {
        let mut signal: libc::c_int = 0;
        // SAFETY: `set` is initialised and `signal` is a valid out pointer.
        let rc = unsafe { libc::sigwait(set, &mut signal) };
        match rc {
            0 => return Ok(signal),
            libc::EINTR => continue,
            _ => return Err(io::Error::from_raw_os_error(rc)),
        }
    }
}

fn run(args: Args, orders: Option<OrderFile>) -> io::Result<()> {
    let signals = termination_signals();
    block_signals(&signals)?;

    let verification = args.options.verification;
    let sim = Simulator::start(args.options)?;
    if let Some(orders) = orders {
        eprintln!(
            "wxrefund-sim: seeded {} domestic, {} global and {} wecom orders from {}",
            orders.domestic.len(),
            orders.global.len(),
            orders.wecom.len(),
            args.orders.as_deref().unwrap_or(Path::new("")).display()
        );
        sim.seed_orders(&orders);
    }
    let config = match args.printed {
        Printed::Domestic => sim.client_config(),
        Printed::GlobalDirect => sim.global_client_config(),
        Printed::GlobalInstitution => sim.global_institution_client_config(INSTITUTION_SUB_MCHID),
        Printed::WeCom => sim.wecom_client_config(),
    }
    .to_string();
    let ready = match &args.config_out {
        Some(path) => {
            write_private(path, &format!("{config}\n"))?;
            format!(
                "wxrefund-sim ready on {} (families: domestic, global, wecom; config: {})",
                sim.base_url(),
                path.display()
            )
        }
        None => config,
    };
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{ready}")?;
    stdout.flush()?;
    drop(stdout);
    eprintln!(
        "wxrefund-sim: serving on {} (responses signed with the {})",
        sim.base_url(),
        verification_name(verification)
    );

    let stdin_closed = Arc::new(AtomicBool::new(false));
    if args.exit_on_stdin_eof {
        let closed = Arc::clone(&stdin_closed);
        thread::Builder::new()
            .name("wxrefund-sim-stdin".to_string())
            .spawn(move || {
                // Drain stdin; EOF means the parent process is gone or wants us to stop.
                let mut sink = [0u8; 1024];
                let mut stdin = io::stdin().lock();
                loop {
                    match stdin.read(&mut sink) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                closed.store(true, Ordering::SeqCst);
                // SAFETY: kill on our own process id; SIGTERM is blocked everywhere and
                // taken by the main thread's sigwait.
                unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
            })?;
    }
    let signal = wait_for_signal(&signals)?;
    if stdin_closed.load(Ordering::SeqCst) {
        eprintln!("wxrefund-sim: stdin closed, stopping");
    } else {
        let name = if signal == libc::SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        eprintln!("wxrefund-sim: {name}, stopping");
    }
    drop(sim);
    eprintln!("wxrefund-sim: stopped");
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        // --help and --version: stdout, exit 0; a bad command line: stderr, exit 2.
        Err(e) => e.exit(),
    };
    // A bad orders file is a bad command line too: exit 2, naming the file, order and field.
    let orders = match args.orders.as_deref().map(OrderFile::load).transpose() {
        Ok(orders) => orders,
        Err(message) => {
            eprintln!("wxrefund-sim: --orders {message}");
            return ExitCode::from(2);
        }
    };
    match run(args, orders) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wxrefund-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn command_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn family_and_mode_select_the_printed_config() {
        let printed = |args: &[&str]| parse(args).map(|a| a.printed).map_err(|e| e.kind());
        assert_eq!(printed(&[]), Ok(Printed::Domestic));
        assert_eq!(printed(&["--family", "domestic"]), Ok(Printed::Domestic));
        assert_eq!(printed(&["--family", "global"]), Ok(Printed::GlobalDirect));
        assert_eq!(
            printed(&["--mode", "institution", "--family", "global", "--port", "0"]),
            Ok(Printed::GlobalInstitution)
        );
        assert_eq!(printed(&["--family", "wecom"]), Ok(Printed::WeCom));
        assert!(printed(&["--family", "wecom", "--mode", "institution"]).is_err());
        assert!(printed(&["--mode", "institution"]).is_err());
        assert!(printed(&["--family", "hk"]).is_err());
        assert!(printed(&["--mode"]).is_err());
    }

    #[test]
    fn options() {
        let args = parse(&[
            "--port",
            "8080",
            "--verification",
            "pubkey",
            "--settle-ms",
            "5",
            "--order-spacing",
            "--config-out",
            "x.json",
            "--orders",
            "o.json",
            "--exit-on-stdin-eof",
        ])
        .unwrap();
        assert_eq!(args.options.port, 8080);
        assert_eq!(args.options.verification, Verification::PublicKey);
        assert_eq!(args.options.settle_after, Duration::from_millis(5));
        assert!(args.options.enforce_order_spacing && args.exit_on_stdin_eof);
        assert_eq!(args.config_out, Some(PathBuf::from("x.json")));
        assert_eq!(args.orders, Some(PathBuf::from("o.json")));
        let defaults = parse(&[]).unwrap();
        assert_eq!(
            defaults.options.verification,
            Verification::PlatformCertificate
        );
        assert_eq!(defaults.options.settle_after, Duration::from_millis(300));
        assert!(!defaults.options.enforce_order_spacing && !defaults.exit_on_stdin_eof);
        assert!(parse(&["--port", "70000"]).is_err());
        assert!(parse(&["--verification", "rsa"]).is_err());
    }

    #[test]
    fn wecom_timing_flags() {
        let args = parse(&[
            "--wecom-order-spacing-ms",
            "0",
            "--wecom-token-lifetime-s",
            "30",
        ])
        .map(|a| {
            (
                a.options.wecom_order_spacing,
                a.options.wecom_token_lifetime,
            )
        });
        assert_eq!(args.ok(), Some((Duration::ZERO, Duration::from_secs(30))));
        let defaults = parse(&[]).map(|a| a.options.wecom_order_spacing);
        assert_eq!(defaults.ok(), Some(Duration::from_secs(60)));
        assert!(parse(&["--wecom-order-spacing-ms", "-1"]).is_err());
        assert!(parse(&["--wecom-token-lifetime-s"]).is_err());
    }
}
