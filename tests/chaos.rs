//! A bounded chaos run (the driver of `examples/chaos`): hundreds of refunds per family,
//! plus a short WeCom run with the order guard on, a random fault before about 20% of the
//! calls, every failure handled as README.md advises, then reconciled with the simulator's
//! books. Set `CHAOS_SEED` to replay a run.

#[path = "../examples/chaos/driver.rs"]
mod driver;

use driver::{Family, FaultKind, Options, Path};

/// Refunds per family and the percentage of calls preceded by a fault.
const PER_FAMILY: usize = 300;
const PERCENT: u32 = 20;
/// The default seed; `CHAOS_SEED` overrides it.
const SEED: u64 = 20_261_122;

#[test]
fn chaos_run_reconciles_every_refund() {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .map(|s| s.parse().expect("CHAOS_SEED is a number"))
        .unwrap_or(SEED);
    let options = Options::new(PER_FAMILY, PERCENT, seed);
    let report = driver::run(&options).expect("the run starts");
    report.print();
    let problems = report.problems().join("\n");

    // The three figures, and no library bug on the way.
    assert_eq!(report.duplicates(), 0, "seed {seed}:\n{problems}");
    assert_eq!(report.lost(), 0, "seed {seed}:\n{problems}");
    assert_eq!(report.forged_accepted(), 0, "seed {seed}:\n{problems}");
    assert_eq!(report.library_bugs(), 0, "seed {seed}:\n{problems}");
    assert_eq!(report.refunds(), 3 * PER_FAMILY + options.guarded_refunds);

    // Not vacuous: every family applied its refunds under faults of every kind that
    // applies to it, and each of those kinds met at least one request.
    for family in Family::MAIN {
        let figures = &report.families[&family];
        assert_eq!(figures.applied, PER_FAMILY, "{}", family.name());
        assert!(figures.requests > figures.refunds, "{}", family.name());
        for kind in family.fault_kinds() {
            let count = figures.faults.get(kind).copied().unwrap_or_default();
            assert!(
                count.injections > 0 && count.consumed > 0,
                "{}: {} never injected or never met: {count:?}",
                family.name(),
                kind.name()
            );
        }
    }
    assert!(
        report.fault(FaultKind::ClockSkewAhead).consumed > 0
            && report.fault(FaultKind::ClockSkewBehind).consumed > 0
    );

    // Every recovery path the faults can lead to was taken. (A create that fails
    // `retryable` with a known outcome needs a request that certainly never left: a
    // refused connection or a failed token fetch, which the simulator does not provoke.)
    for path in Path::ALL
        .into_iter()
        .filter(|path| *path != Path::RetryableResend)
    {
        assert!(report.path(path) > 0, "never taken: {}", path.name());
    }
    // With the order guard on, resends met it and waited its `retry_after_secs`.
    let guarded = &report.families[&Family::WeComGuarded];
    assert_eq!(guarded.applied, options.guarded_refunds);
    assert!(
        guarded.waited_retry_after > 0,
        "the guard never refused a resend"
    );
    // Both answers to an unknown outcome occur in each family: found, and not found.
    for family in Family::MAIN {
        let paths = &report.families[&family].paths;
        for path in [Path::QueryFound, Path::QueryNotFoundResend] {
            assert!(
                paths.get(&path).copied().unwrap_or(0) > 0,
                "{}: never took {}",
                family.name(),
                path.name()
            );
        }
    }
}
