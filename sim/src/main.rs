//! `wxrefund-sim`: runs the refund platform simulator until killed.
//!
//! ```text
//! wxrefund-sim [--port N] [--verification platform|pubkey|both] [--settle-ms N]
//!              [--order-spacing] [--family domestic|global] [--mode direct|institution]
//!              [--config-out PATH] [--exit-on-stdin-eof]
//! ```
//!
//! The client configuration JSON for `--family` (default `domestic`) and, for `global`,
//! `--mode` (default `direct`; `institution` acts for sub-merchant `1900000209`) is printed
//! on one stdout line (and written to PATH); status lines go to stderr. The simulator
//! serves both families whichever configuration is printed.

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use wxrefund_sim::{SimOptions, Simulator, Verification};

const USAGE: &str = "usage: wxrefund-sim [--port N] [--verification platform|pubkey|both] \
[--settle-ms N] [--order-spacing] [--family domestic|global] [--mode direct|institution] \
[--config-out PATH] [--exit-on-stdin-eof]";

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
    let mut global = false;
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
                let v = value("--settle-ms")?;
                let ms: u64 = v.parse().map_err(|_| format!("bad --settle-ms: {v}"))?;
                parsed.options.settle_after = Duration::from_millis(ms);
            }
            "--order-spacing" => parsed.options.enforce_order_spacing = true,
            "--family" => {
                global = match value("--family")?.as_str() {
                    "domestic" => false,
                    "global" => true,
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
    parsed.printed = match (global, institution) {
        (false, false) => Printed::Domestic,
        (false, true) => return Err("--mode institution needs --family global".to_string()),
        (true, false) => Printed::GlobalDirect,
        (true, true) => Printed::GlobalInstitution,
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
        assert!(printed(&["--mode", "institution"]).is_err());
        assert!(printed(&["--family", "hk"]).is_err());
        assert!(printed(&["--mode"]).is_err());
    }
}
