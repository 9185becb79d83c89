//! `wxrefund-sim`: runs the refund platform simulator until killed.
//!
//! ```text
//! wxrefund-sim [--port N] [--verification platform|pubkey|both] [--settle-ms N]
//!              [--order-spacing] [--wecom-order-spacing-ms N] [--wecom-token-lifetime-s N]
//!              [--family domestic|global|wecom] [--mode direct|institution]
//!              [--config-out PATH] [--exit-on-stdin-eof]
//! ```
//!
//! The client configuration JSON for `--family` (default `domestic`) and, for `global`,
//! `--mode` (default `direct`; `institution` acts for sub-merchant `1900000209`) is printed
//! on one stdout line (and written to PATH); status lines go to stderr. `wecom` prints the
//! corpid + corpsecret configuration. The simulator serves every family whichever
//! configuration is printed. `--order-spacing` enforces the APIv3 one-refund-a-minute rule;
//! the WeCom per-order spacing is on by default (60 s; `--wecom-order-spacing-ms 0`
//! disables it).

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use wxrefund_sim::{SimOptions, Simulator, Verification};

const USAGE: &str = "usage: wxrefund-sim [--port N] [--verification platform|pubkey|both] \
[--settle-ms N] [--order-spacing] [--wecom-order-spacing-ms N] [--wecom-token-lifetime-s N] \
[--family domestic|global|wecom] [--mode direct|institution] [--config-out PATH] \
[--exit-on-stdin-eof]";

/// The sub-merchant the Global institution-mode configuration acts for (a demo order's).
const INSTITUTION_SUB_MCHID: &str = "1900000209";

/// Which client configuration to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Printed {
    /// Mainland refunds, direct mode.
    Domestic,
    /// Global refunds, direct mode.
    GlobalDirect,
    /// Global refunds, institution mode.
    GlobalInstitution,
    /// WeCom refunds, fetching tokens with corpid + corpsecret.
    WeCom,
}

/// The refund family whose configuration is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Domestic,
    Global,
    WeCom,
}

/// Parses a non-negative integer flag value.
fn number(name: &str, value: &str) -> Result<u64, String> {
    value.parse().map_err(|_| format!("bad {name}: {value}"))
}

/// Parsed command line.
struct Args {
    options: SimOptions,
    printed: Printed,
    config_out: Option<String>,
    exit_on_stdin_eof: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        options: SimOptions::default(),
        printed: Printed::Domestic,
        config_out: None,
        exit_on_stdin_eof: false,
    };
    let mut family = Family::Domestic;
    let mut institution = false;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                let v = value("--port")?;
                parsed.options.port = v.parse().map_err(|_| format!("bad port: {v}"))?;
            }
            "--verification" => {
                parsed.options.verification = match value("--verification")?.as_str() {
                    "platform" => Verification::PlatformCertificate,
                    "pubkey" => Verification::PublicKey,
                    "both" => Verification::Both,
                    other => return Err(format!("bad verification mode: {other}")),
                };
            }
            "--settle-ms" => {
                let ms = number("--settle-ms", &value("--settle-ms")?)?;
                parsed.options.settle_after = Duration::from_millis(ms);
            }
            "--order-spacing" => parsed.options.enforce_order_spacing = true,
            "--wecom-order-spacing-ms" => {
                let name = "--wecom-order-spacing-ms";
                let ms = number(name, &value(name)?)?;
                parsed.options.wecom_order_spacing = Duration::from_millis(ms);
            }
            "--wecom-token-lifetime-s" => {
                let name = "--wecom-token-lifetime-s";
                let secs = number(name, &value(name)?)?;
                parsed.options.wecom_token_lifetime = Duration::from_secs(secs);
            }
            "--family" => {
                family = match value("--family")?.as_str() {
                    "domestic" => Family::Domestic,
                    "global" => Family::Global,
                    "wecom" => Family::WeCom,
                    other => return Err(format!("bad family: {other}")),
                };
            }
            "--mode" => {
                institution = match value("--mode")?.as_str() {
                    "direct" => false,
                    "institution" => true,
                    other => return Err(format!("bad mode: {other}")),
                };
            }
            "--config-out" => parsed.config_out = Some(value("--config-out")?),
            "--exit-on-stdin-eof" => parsed.exit_on_stdin_eof = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument: {other}\n{USAGE}")),
        }
    }
    parsed.printed = match (family, institution) {
        (Family::Domestic, false) => Printed::Domestic,
        (Family::Global, false) => Printed::GlobalDirect,
        (Family::Global, true) => Printed::GlobalInstitution,
        (Family::WeCom, false) => Printed::WeCom,
        (Family::Domestic | Family::WeCom, true) => {
            return Err("--mode institution needs --family global".to_string());
        }
    };
    Ok(parsed)
}

fn run(args: Args) -> io::Result<()> {
    let verification = args.options.verification;
    let sim = Simulator::start(args.options)?;
    let config = match args.printed {
        Printed::Domestic => sim.client_config(),
        Printed::GlobalDirect => sim.global_client_config(),
        Printed::GlobalInstitution => sim.global_institution_client_config(INSTITUTION_SUB_MCHID),
        Printed::WeCom => sim.wecom_client_config(),
    }
    .to_string();
    if let Some(path) = &args.config_out {
        std::fs::write(path, format!("{config}\n"))?;
    }
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{config}")?;
    stdout.flush()?;
    drop(stdout);
    eprintln!(
        "wxrefund-sim ready on {} (verification: {verification:?})",
        sim.base_url()
    );

    if args.exit_on_stdin_eof {
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
        eprintln!("wxrefund-sim: stdin closed, stopping");
        return Ok(());
    }
    loop {
        // Serving happens on the simulator's threads; SIGINT/SIGTERM end the process.
        thread::park();
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
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

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn family_and_mode_select_the_printed_config() {
        let printed = |args: &[&str]| parse(args).map(|a| a.printed);
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
        assert_eq!(args, Ok((Duration::ZERO, Duration::from_secs(30))));
        let defaults = parse(&[]).map(|a| a.options.wecom_order_spacing);
        assert_eq!(defaults, Ok(Duration::from_secs(60)));
        assert!(parse(&["--wecom-order-spacing-ms", "-1"]).is_err());
        assert!(parse(&["--wecom-token-lifetime-s"]).is_err());
    }
}
