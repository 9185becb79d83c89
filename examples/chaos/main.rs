//! A bounded chaos run against the in-process simulator: N refunds per family with a
//! random fault before about PERCENT% of the calls, recovered from exactly as README.md
//! ("Errors") advises, then reconciled with the simulator's own books.
//!
//! Run: `cargo run --release --example chaos -- [N] [PERCENT] [SEED]`
//! (defaults: 10000 refunds per family, 20%, a seed from the clock; the seed is printed).
//! Exits with status 1 unless duplicates, lost refunds and forged answers accepted are 0.

mod driver;

use std::process::ExitCode;

/// A seed from the clock, for runs that do not name one.
fn seed_from_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0x5eed, |d| d.as_nanos() as u64)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |index: usize, default: u64| -> Result<u64, String> {
        match args.get(index) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| format!("argument {} ({text:?}) is not a number", index + 1)),
        }
    };
    let parsed = (|| {
        let per_family = number(0, 10_000)?;
        let percent = number(1, 20)?;
        let seed = number(2, seed_from_clock())?;
        if percent > 100 {
            return Err("PERCENT must be at most 100".to_string());
        }
        Ok((per_family, percent, seed))
    })();
    let (per_family, percent, seed) = match parsed {
        Ok(values) => values,
        Err(message) => {
            eprintln!("{message}\nusage: chaos [N per family] [PERCENT] [SEED]");
            return ExitCode::from(2);
        }
    };
    let mut options = driver::Options::new(per_family as usize, percent as u32, seed);
    options.progress = true;
    eprintln!("chaos: seed {seed} (rerun with: -- {per_family} {percent} {seed})");
    let report = match driver::run(&options) {
        Ok(report) => report,
        Err(message) => {
            eprintln!("chaos: {message}");
            return ExitCode::from(2);
        }
    };
    report.print();
    if report.duplicates() == 0
        && report.lost() == 0
        && report.forged_accepted() == 0
        && report.library_bugs() == 0
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
