//! The chaos driver shared by `examples/chaos` and `tests/chaos.rs`.
//!
//! It starts an in-process simulator, adds orders, and for each family (mainland, Global,
//! WeCom) applies `per_family` refunds, each with its own `out_refund_no`. Before about
//! `percent`% of the calls (creates and queries alike) it queues a random fault in the
//! simulator, or, for WeCom, revokes every access token. WeCom's per-order spacing is off
//! for that run; a short extra WeCom run (`guarded_refunds`, a simulator of its own) turns
//! it on in the simulator and in the client's guard (`guard_secs`), so that resends meet
//! the guard and its `retry_after_secs`. After a failure it does exactly
//! what README.md ("Errors", "Retries") tells users to do: `outcome_unknown` → query by
//! `out_refund_no`; the query says NOT_FOUND → send the same request again; `retryable` →
//! the same request again; RATE_LIMITED → wait `retry_after_secs` if given; an answer that
//! failed verification → query. It never invents a new `out_refund_no`.
//!
//! At the end it reconciles with the simulator's own books and counts:
//!
//! * duplicates: refunds the simulator holds beyond the one intended per `out_refund_no`
//!   (a number twice, a number never sent) and orders refunded beyond their total;
//! * lost: intended refunds that never reached an accepted state, or are not in the
//!   simulator exactly once with the intended amount;
//! * forged answers accepted: calls that returned `Ok` although the one answer they got was
//!   forged (a signature or clock fault consumed by that very request), plus `Ok` results
//!   whose content differs from the simulator's record.
//!
//! Faults queue in the simulator and apply to the next requests on the refund endpoints
//! (certificate downloads and gettoken take none; WeCom requests only with a valid token).
//! The driver is single-threaded and keeps a model of that queue: it queues a fault only
//! when the previous one is used up, and after each call moves the queue on by the number
//! of refund-endpoint requests the call made (`Simulator::request_count`). The first
//! requests of a call therefore meet the fault queued before it.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant, SystemTime};
use wxrefund::{domestic, global, wecom};
use wxrefund::{Client, Error, ErrorKind, Refund, RefundQuery, RefundStatus};
use wxrefund_sim::{Fault, FinalStatus, GlobalOrder, Order, SimOptions, Simulator, WeComOrder};

/// The refund families, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Domestic,
    Global,
    /// WeCom with the per-order spacing off, in the simulator and the client.
    WeCom,
    /// WeCom with the per-order spacing on (`Options::guard_secs`), in the simulator and
    /// in the client's local guard, one refund per order: resends meet the guard.
    WeComGuarded,
}

impl Family {
    /// The three families, each with `Options::per_family` refunds.
    pub const MAIN: [Family; 3] = [Family::Domestic, Family::Global, Family::WeCom];

    pub fn name(self) -> &'static str {
        match self {
            Family::Domestic => "domestic",
            Family::Global => "global",
            Family::WeCom => "wecom",
            Family::WeComGuarded => "wecom+guard",
        }
    }

    /// The faults that do something to this family's requests.
    pub fn fault_kinds(self) -> &'static [FaultKind] {
        match self {
            Family::Domestic | Family::Global => &FaultKind::APIV3,
            Family::WeCom | Family::WeComGuarded => &FaultKind::WECOM,
        }
    }

    fn is_wecom(self) -> bool {
        matches!(self, Family::WeCom | Family::WeComGuarded)
    }

    /// APIv3 answers are signed and verified; WeCom answers carry no signature.
    fn verifies_answers(self) -> bool {
        !self.is_wecom()
    }

    fn tag(self) -> &'static str {
        match self {
            Family::Domestic => "D",
            Family::Global => "G",
            Family::WeCom => "W",
            Family::WeComGuarded => "V",
        }
    }
}

/// One kind of misbehaviour the driver provokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    SystemError,
    RateLimited,
    /// A delay longer than the client's read timeout: the client gives up, the request
    /// was processed.
    DelayBeyondTimeout,
    /// A delay shorter than the read timeout: only slow.
    DelayWithinTimeout,
    DropAfterCommit,
    BadSignature,
    ProbeSignature,
    Unsigned,
    /// Signed with a timestamp beyond the allowed window, ahead of our clock.
    ClockSkewAhead,
    /// Signed with a timestamp beyond the allowed window, behind our clock.
    ClockSkewBehind,
    /// WeCom: every access token revoked (not a queued fault).
    TokenRevoked,
}

impl FaultKind {
    pub const APIV3: [FaultKind; 10] = [
        FaultKind::SystemError,
        FaultKind::RateLimited,
        FaultKind::DelayBeyondTimeout,
        FaultKind::DelayWithinTimeout,
        FaultKind::DropAfterCommit,
        FaultKind::BadSignature,
        FaultKind::ProbeSignature,
        FaultKind::Unsigned,
        FaultKind::ClockSkewAhead,
        FaultKind::ClockSkewBehind,
    ];
    /// WeCom answers are unsigned, so the signature and clock faults do nothing there.
    pub const WECOM: [FaultKind; 6] = [
        FaultKind::SystemError,
        FaultKind::RateLimited,
        FaultKind::DelayBeyondTimeout,
        FaultKind::DelayWithinTimeout,
        FaultKind::DropAfterCommit,
        FaultKind::TokenRevoked,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::SystemError => "SystemError",
            FaultKind::RateLimited => "RateLimited",
            FaultKind::DelayBeyondTimeout => "Delay > read timeout",
            FaultKind::DelayWithinTimeout => "Delay < read timeout",
            FaultKind::DropAfterCommit => "DropAfterCommit",
            FaultKind::BadSignature => "BadSignature",
            FaultKind::ProbeSignature => "ProbeSignature",
            FaultKind::Unsigned => "Unsigned",
            FaultKind::ClockSkewAhead => "ClockSkew +window",
            FaultKind::ClockSkewBehind => "ClockSkew -window",
            FaultKind::TokenRevoked => "token revoked",
        }
    }

    /// The answer is processed normally but must not be trusted.
    pub fn forges_answer(self) -> bool {
        matches!(
            self,
            FaultKind::BadSignature
                | FaultKind::ProbeSignature
                | FaultKind::Unsigned
                | FaultKind::ClockSkewAhead
                | FaultKind::ClockSkewBehind
        )
    }

    /// The simulator fault, or `None` for token revocation.
    fn fault(self, options: &Options) -> Option<Fault> {
        let timeout = Duration::from_millis(options.read_timeout_ms);
        let skew = options.max_clock_skew_secs as i64 + 100;
        Some(match self {
            FaultKind::SystemError => Fault::SystemError,
            FaultKind::RateLimited => Fault::RateLimited,
            FaultKind::DelayBeyondTimeout => Fault::Delay(timeout * 2),
            FaultKind::DelayWithinTimeout => Fault::Delay(timeout / 10),
            FaultKind::DropAfterCommit => Fault::DropAfterCommit,
            FaultKind::BadSignature => Fault::BadSignature,
            FaultKind::ProbeSignature => Fault::ProbeSignature,
            FaultKind::Unsigned => Fault::Unsigned,
            FaultKind::ClockSkewAhead => Fault::ClockSkew(skew),
            FaultKind::ClockSkewBehind => Fault::ClockSkew(-skew),
            FaultKind::TokenRevoked => return None,
        })
    }
}

/// What the driver did after a failure, or how a fault was dealt with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Path {
    /// The call returned `Ok` although it met a fault: the library's own retries.
    AbsorbedByLibrary,
    /// WeCom: the library renewed a revoked token by itself.
    TokenRenewedByLibrary,
    /// Create failed with `outcome_unknown` (not rate limited, not verification): query.
    UnknownThenQuery,
    /// Create failed `retryable` with a known outcome: the same request again.
    RetryableResend,
    /// Create answered RATE_LIMITED with `outcome_unknown`: (wait,) query.
    RateLimitedThenQuery,
    /// Create answered RATE_LIMITED, nothing sent or known refused: (wait,) resend.
    RateLimitedResend,
    /// Create's answer failed verification (or its timestamp the window): query.
    VerificationFailedThenQuery,
    /// The query found the refund: accepted.
    QueryFound,
    /// The query said NOT_FOUND: the same create request again.
    QueryNotFoundResend,
    /// The query itself failed (retryable, unknown or unverified): query again.
    QueryAgain,
}

impl Path {
    pub const ALL: [Path; 10] = [
        Path::AbsorbedByLibrary,
        Path::TokenRenewedByLibrary,
        Path::UnknownThenQuery,
        Path::RetryableResend,
        Path::RateLimitedThenQuery,
        Path::RateLimitedResend,
        Path::VerificationFailedThenQuery,
        Path::QueryFound,
        Path::QueryNotFoundResend,
        Path::QueryAgain,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Path::AbsorbedByLibrary => "fault absorbed by the library's retries (Ok)",
            Path::TokenRenewedByLibrary => "revoked token renewed by the library",
            Path::UnknownThenQuery => "create: outcome_unknown -> query",
            Path::RetryableResend => "create: retryable, outcome known -> resend",
            Path::RateLimitedThenQuery => "create: RATE_LIMITED, outcome_unknown -> query",
            Path::RateLimitedResend => "create: RATE_LIMITED, outcome known -> resend",
            Path::VerificationFailedThenQuery => "create: answer not verified -> query",
            Path::QueryFound => "query: found -> accepted",
            Path::QueryNotFoundResend => "query: NOT_FOUND -> same request again",
            Path::QueryAgain => "query: failed -> query again",
        }
    }
}

/// Settings of one chaos run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Refunds applied per family.
    pub per_family: usize,
    /// Percentage of calls preceded by a fault.
    pub percent: u32,
    /// Seed of the pseudo-random choices (faults, amounts, order of refunds).
    pub seed: u64,
    /// Refunds per order (the platforms allow 50).
    pub refunds_per_order: usize,
    /// Calls (creates and queries) per refund before it counts as lost.
    pub max_calls_per_refund: usize,
    /// The clients' read timeout; delay faults are twice and a tenth of it.
    pub read_timeout_ms: u64,
    /// The clients' `max_clock_skew_secs`; clock faults go 100 s beyond it.
    pub max_clock_skew_secs: u64,
    /// How long the simulator keeps refunds PROCESSING.
    pub settle_after: Duration,
    /// Refunds of the WeCom run with the order guard on (one per order).
    pub guarded_refunds: usize,
    /// The WeCom per-order spacing of that run, in the simulator and the client.
    pub guard_secs: u64,
    /// Print progress to stderr.
    pub progress: bool,
}

impl Options {
    pub fn new(per_family: usize, percent: u32, seed: u64) -> Options {
        Options {
            per_family,
            percent: percent.min(100),
            seed,
            refunds_per_order: 10,
            max_calls_per_refund: 20,
            read_timeout_ms: 300,
            max_clock_skew_secs: 300,
            settle_after: Duration::from_millis(30),
            guarded_refunds: 60,
            guard_secs: 1,
            progress: false,
        }
    }
}

/// SplitMix64: small, seedable, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn percent(&mut self, percent: u32) -> bool {
        self.below(100) < u64::from(percent)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

/// Per-kind fault figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCount {
    /// Times the driver queued (or, for tokens, performed) this fault.
    pub injections: usize,
    /// Requests it was queued for (bursts apply to several requests in a row).
    pub uses: usize,
    /// Requests that met it.
    pub consumed: usize,
}

/// The figures of one family.
#[derive(Debug, Clone, Default)]
pub struct FamilyReport {
    pub refunds: usize,
    /// Refunds the driver saw accepted (by a create or a query).
    pub applied: usize,
    /// Creates and queries the driver made for its refunds.
    pub calls: usize,
    /// Refund-endpoint requests the simulator counted for this family.
    pub requests: usize,
    pub duplicates: usize,
    pub over_refunded_orders: usize,
    pub lost: usize,
    /// `Ok` from a call whose only answer was forged.
    pub forged_accepted: usize,
    /// `Ok` results whose content differs from the simulator's record.
    pub answer_mismatches: usize,
    /// Library panics caught, `PANIC` or `INTERNAL` errors.
    pub library_bugs: usize,
    /// `RATE_LIMITED` with `retry_after_secs` (the local WeCom guard; off here).
    pub waited_retry_after: usize,
    /// Calls that met a forgery fault on a request whose answer was lost to a timeout,
    /// then returned `Ok` from a later, genuine answer. Not an acceptance of the forgery.
    pub forgery_on_abandoned_request: usize,
    pub faults: BTreeMap<FaultKind, FaultCount>,
    pub paths: BTreeMap<Path, usize>,
    /// Errors the driver could not act on, with the refund they stopped.
    pub problems: Vec<String>,
}

/// The result of a chaos run.
#[derive(Debug, Clone)]
pub struct Report {
    pub seed: u64,
    pub per_family: usize,
    pub percent: u32,
    pub families: BTreeMap<Family, FamilyReport>,
    pub elapsed: Duration,
    pub gettoken_calls: usize,
}

impl Report {
    fn sum(&self, field: impl Fn(&FamilyReport) -> usize) -> usize {
        self.families.values().map(field).sum()
    }

    pub fn refunds(&self) -> usize {
        self.sum(|f| f.refunds)
    }

    /// Duplicate refunds plus over-refunded orders, all families.
    pub fn duplicates(&self) -> usize {
        self.sum(|f| f.duplicates + f.over_refunded_orders)
    }

    pub fn lost(&self) -> usize {
        self.sum(|f| f.lost)
    }

    /// Forged answers accepted plus answers that differ from the simulator, all families.
    pub fn forged_accepted(&self) -> usize {
        self.sum(|f| f.forged_accepted + f.answer_mismatches)
    }

    pub fn library_bugs(&self) -> usize {
        self.sum(|f| f.library_bugs)
    }

    /// A fault kind's figures over all families.
    pub fn fault(&self, kind: FaultKind) -> FaultCount {
        let mut total = FaultCount::default();
        for family in self.families.values() {
            if let Some(count) = family.faults.get(&kind) {
                total.injections += count.injections;
                total.uses += count.uses;
                total.consumed += count.consumed;
            }
        }
        total
    }

    /// How often a path was taken over all families.
    pub fn path(&self, path: Path) -> usize {
        self.sum(|f| f.paths.get(&path).copied().unwrap_or(0))
    }

    pub fn problems(&self) -> Vec<String> {
        self.families
            .values()
            .flat_map(|f| f.problems.iter().cloned())
            .collect()
    }

    pub fn print(&self) {
        let secs = self.elapsed.as_secs_f64();
        let guarded = self
            .families
            .get(&Family::WeComGuarded)
            .map_or(0, |f| f.refunds);
        println!(
            "chaos run: seed {}, {} refunds per family + {guarded} WeCom with the order guard on \
             ({} in all), a fault before ~{}% of calls",
            self.seed,
            self.per_family,
            self.refunds(),
            self.percent
        );
        println!(
            "{:<11} {:>7} {:>7} {:>7} {:>8} {:>6} {:>5} {:>6} {:>9}",
            "family", "refunds", "applied", "calls", "requests", "faults", "dup", "lost", "forged"
        );
        for (family, f) in &self.families {
            let faults: usize = f.faults.values().map(|c| c.injections).sum();
            println!(
                "{:<11} {:>7} {:>7} {:>7} {:>8} {:>6} {:>5} {:>6} {:>9}",
                family.name(),
                f.refunds,
                f.applied,
                f.calls,
                f.requests,
                faults,
                f.duplicates + f.over_refunded_orders,
                f.lost,
                f.forged_accepted + f.answer_mismatches
            );
        }
        println!("faults (injections / requests queued for / requests that met it):");
        let mut kinds: Vec<FaultKind> = FaultKind::APIV3.to_vec();
        kinds.push(FaultKind::TokenRevoked);
        for kind in kinds {
            let c = self.fault(kind);
            println!(
                "  {:<22} {:>6} / {:>6} / {:>6}",
                kind.name(),
                c.injections,
                c.uses,
                c.consumed
            );
        }
        println!("recovery paths taken:");
        for path in Path::ALL {
            println!("  {:<48} {:>6}", path.name(), self.path(path));
        }
        println!(
            "forgery faults met by a request abandoned to a timeout (then Ok from a genuine answer): {}",
            self.sum(|f| f.forgery_on_abandoned_request)
        );
        println!(
            "RATE_LIMITED with retry_after_secs waited: {}; access tokens fetched: {}; library panics/internal errors: {}",
            self.sum(|f| f.waited_retry_after),
            self.gettoken_calls,
            self.library_bugs()
        );
        for problem in self.problems().iter().take(20) {
            println!("  problem: {problem}");
        }
        println!(
            "duplicates: {}, lost: {}, forged accepted: {}",
            self.duplicates(),
            self.lost(),
            self.forged_accepted()
        );
        println!(
            "N = {} per family, percent = {}, elapsed {:.1} s, {:.1} refunds/s",
            self.per_family,
            self.percent,
            secs,
            self.refunds() as f64 / secs.max(1e-9)
        );
    }
}

/// One paid order of the run.
struct PlannedOrder {
    out_trade_no: String,
    total: i64,
    currency: &'static str,
}

/// One refund of the run, with the one request sent for it every time.
struct Planned {
    order: usize,
    out_refund_no: String,
    amount: i64,
    request: Request,
}

enum Request {
    Domestic(domestic::RefundRequest),
    Global(global::RefundRequest),
    WeCom(wecom::RefundRequest),
}

impl Request {
    fn send(&self, client: &Client) -> wxrefund::Result<Refund> {
        match self {
            Request::Domestic(request) => client.create_refund(request),
            Request::Global(request) => client.create_refund(request),
            Request::WeCom(request) => client.create_refund(request),
        }
    }
}

/// The fault the driver believes is at the front of the simulator's queue.
struct Pending {
    family: Family,
    kind: FaultKind,
    remaining: usize,
}

enum Call {
    Create,
    Query,
}

enum Answer {
    Returned(wxrefund::Result<Refund>),
    Panicked(String),
}

/// Global orders' currencies: order, payer, settlement, rate × 10^8.
const GLOBAL_CURRENCIES: [(&str, &str, &str, i64); 4] = [
    ("USD", "CNY", "HKD", 780_000_000),
    ("HKD", "HKD", "HKD", 100_000_000),
    ("EUR", "CNY", "EUR", 760_000_000),
    ("JPY", "CNY", "JPY", 4_800_000),
];

struct Runner<'a> {
    options: &'a Options,
    sim: Simulator,
    rng: Rng,
    pending: Option<Pending>,
    /// Fault kinds are dealt from a shuffled bag per family, so that every kind comes up
    /// early and about as often as the others.
    bags: HashMap<Family, Vec<FaultKind>>,
    reports: BTreeMap<Family, FamilyReport>,
}

/// Runs the chaos described by `options`. `Err` only when the run cannot start.
pub fn run(options: &Options) -> Result<Report, String> {
    let start = |wecom_order_spacing| {
        Simulator::start(SimOptions {
            settle_after: options.settle_after,
            wecom_order_spacing,
            enforce_order_spacing: false,
            seed_demo_orders: false,
            ..SimOptions::default()
        })
        .map_err(|e| format!("the simulator did not start: {e}"))
    };
    let mut runner = Runner {
        options,
        sim: start(Duration::ZERO)?,
        rng: Rng(options.seed),
        pending: None,
        bags: HashMap::new(),
        reports: BTreeMap::new(),
    };
    let started = Instant::now();
    for family in Family::MAIN {
        runner.run_family(family, options.per_family)?;
    }
    let mut gettoken_calls = runner.sim.gettoken_count();
    if options.guarded_refunds > 0 {
        // A simulator of its own, with WeCom's per-order spacing on.
        runner.sim = start(Duration::from_secs(options.guard_secs))?;
        runner.pending = None;
        runner.run_family(Family::WeComGuarded, options.guarded_refunds)?;
        gettoken_calls += runner.sim.gettoken_count();
    }
    let elapsed = started.elapsed();
    Ok(Report {
        seed: options.seed,
        per_family: options.per_family,
        percent: options.percent,
        families: runner.reports,
        elapsed,
        gettoken_calls,
    })
}

impl Runner<'_> {
    fn client(&self, family: Family) -> Result<Client, String> {
        let mut config = match family {
            Family::Domestic => self.sim.client_config(),
            Family::Global => self.sim.global_client_config(),
            Family::WeCom | Family::WeComGuarded => self.sim.wecom_client_config(),
        };
        config["read_timeout_ms"] = self.options.read_timeout_ms.into();
        config["connect_timeout_ms"] = 2000.into();
        config["retry_delay_ms"] = 5.into();
        config["max_retries"] = 2.into();
        config["max_clock_skew_secs"] = self.options.max_clock_skew_secs.into();
        match family {
            Family::WeCom => config["order_spacing_secs"] = 0.into(),
            Family::WeComGuarded => config["order_spacing_secs"] = self.options.guard_secs.into(),
            Family::Domestic | Family::Global => {}
        }
        Client::from_json(&config.to_string()).map_err(|e| format!("{} client: {e}", family.name()))
    }

    /// Adds the orders and plans the refunds of one family.
    fn plan(&mut self, family: Family, how_many: usize) -> (Vec<PlannedOrder>, Vec<Planned>) {
        let per_order = match family {
            Family::WeComGuarded => 1,
            _ => self.options.refunds_per_order.clamp(1, 50),
        };
        let order_count = how_many.div_ceil(per_order);
        let mut orders = Vec::with_capacity(order_count);
        let mut refunds = Vec::with_capacity(how_many);
        for o in 0..order_count {
            let count = per_order.min(how_many - o * per_order);
            let amounts: Vec<i64> = (0..count).map(|_| 1 + self.rng.below(999) as i64).collect();
            // Twice what is refunded: an extra refund would be recorded, and show up.
            let total = 2 * amounts.iter().sum::<i64>();
            let out_trade_no = format!("CHAOS{}{o:07}", family.tag());
            let transaction_id = format!("42000000{}9{o:019}", family as u8 + 1);
            let (currency, payer, settlement, rate) =
                GLOBAL_CURRENCIES[self.rng.below(GLOBAL_CURRENCIES.len() as u64) as usize];
            let paid_at = SystemTime::now() - Duration::from_secs(3600);
            match family {
                Family::Domestic => self.sim.add_order(Order {
                    out_trade_no: out_trade_no.clone(),
                    transaction_id,
                    total,
                    sub_mchid: None,
                    paid_at,
                    final_status: FinalStatus::Success,
                }),
                Family::Global => self.sim.add_global_order(GlobalOrder {
                    out_trade_no: out_trade_no.clone(),
                    transaction_id,
                    total,
                    currency: currency.into(),
                    payer_currency: payer.into(),
                    settlement_currency: settlement.into(),
                    rate,
                    sub_mchid: None,
                    paid_at,
                    final_status: FinalStatus::Success,
                }),
                Family::WeCom | Family::WeComGuarded => self.sim.add_wecom_order(WeComOrder {
                    out_trade_no: out_trade_no.clone(),
                    transaction_id,
                    total,
                    paid_at,
                    final_status: FinalStatus::Success,
                }),
            }
            let currency = if family == Family::Global {
                currency
            } else {
                "CNY"
            };
            for (k, amount) in amounts.into_iter().enumerate() {
                let out_refund_no = format!("CR{}-{o:07}-{k:02}", family.tag());
                let request = match family {
                    Family::Domestic => Request::Domestic(domestic::RefundRequest {
                        out_trade_no: Some(out_trade_no.clone()),
                        out_refund_no: out_refund_no.clone(),
                        amount: domestic::Amount {
                            refund: amount,
                            total,
                            currency: currency.into(),
                            from: None,
                        },
                        ..Default::default()
                    }),
                    Family::Global => Request::Global(global::RefundRequest {
                        out_trade_no: Some(out_trade_no.clone()),
                        out_refund_no: out_refund_no.clone(),
                        amount: global::Amount {
                            refund: amount,
                            total,
                            currency: currency.into(),
                            from: None,
                        },
                        ..Default::default()
                    }),
                    Family::WeCom | Family::WeComGuarded => Request::WeCom(wecom::RefundRequest {
                        out_trade_no: out_trade_no.clone(),
                        out_refund_no: out_refund_no.clone(),
                        reason: None,
                        amount: wecom::Amount {
                            refund: amount,
                            total,
                            currency: currency.into(),
                        },
                        funds_account: None,
                    }),
                };
                refunds.push(Planned {
                    order: o,
                    out_refund_no,
                    amount,
                    request,
                });
            }
            orders.push(PlannedOrder {
                out_trade_no,
                total,
                currency,
            });
        }
        // Refunds of one order do not come one after another.
        self.rng.shuffle(&mut refunds);
        (orders, refunds)
    }

    fn run_family(&mut self, family: Family, how_many: usize) -> Result<(), String> {
        let client = self.client(family)?;
        let (orders, refunds) = self.plan(family, how_many);
        let requests_before = self.sim.request_count();
        let report = self.reports.entry(family).or_default();
        report.refunds = refunds.len();
        let mut applied: HashMap<String, bool> = HashMap::new();
        let step = (refunds.len() / 10).max(1);
        for (i, planned) in refunds.iter().enumerate() {
            let accepted = self.apply(family, &client, &orders, planned);
            applied.insert(planned.out_refund_no.clone(), accepted);
            if self.options.progress && (i + 1) % step == 0 {
                eprintln!("  {}: {}/{} refunds", family.name(), i + 1, refunds.len());
            }
        }
        self.flush(family, &client, &orders, refunds.first());
        let requests = self.sim.request_count() - requests_before;
        self.reconcile(family, &orders, &refunds, &applied);
        self.report(family).requests = requests;
        Ok(())
    }

    fn report(&mut self, family: Family) -> &mut FamilyReport {
        self.reports.entry(family).or_default()
    }

    fn taken(&mut self, family: Family, path: Path) {
        *self.report(family).paths.entry(path).or_default() += 1;
    }

    fn problem(&mut self, family: Family, text: String) {
        let report = self.report(family);
        if report.problems.len() < 100 {
            report.problems.push(format!("{}: {text}", family.name()));
        }
    }

    /// Applies one refund, following the README's advice, until it is accepted or the
    /// call budget is spent. True when accepted.
    fn apply(
        &mut self,
        family: Family,
        client: &Client,
        orders: &[PlannedOrder],
        planned: &Planned,
    ) -> bool {
        let mut next = Call::Create;
        for _ in 0..self.options.max_calls_per_refund {
            let answer = self.call(family, client, planned, &next, true);
            let result = match answer {
                Answer::Panicked(message) => {
                    self.report(family).library_bugs += 1;
                    self.problem(
                        family,
                        format!("{} PANIC: {message}", planned.out_refund_no),
                    );
                    return false;
                }
                Answer::Returned(result) => result,
            };
            let was_create = matches!(next, Call::Create);
            match result {
                Ok(refund) => {
                    if !was_create {
                        self.taken(family, Path::QueryFound);
                    }
                    self.check_answer(family, orders, planned, &refund, was_create);
                    return true;
                }
                Err(error) => {
                    if matches!(error.kind, ErrorKind::Panic | ErrorKind::Internal) {
                        self.report(family).library_bugs += 1;
                        self.problem(
                            family,
                            format!("{}: library bug: {}", planned.out_refund_no, error),
                        );
                        return false;
                    }
                    let decided = if was_create {
                        self.after_create_error(family, &error)
                    } else {
                        self.after_query_error(family, &error)
                    };
                    match decided {
                        Some(call) => next = call,
                        None => {
                            let what = if was_create { "create" } else { "query" };
                            self.problem(
                                family,
                                format!(
                                    "{}: {what} failed and the README offers no retry: {}",
                                    planned.out_refund_no,
                                    error.to_json()
                                ),
                            );
                            return false;
                        }
                    }
                }
            }
        }
        self.problem(
            family,
            format!(
                "{}: not accepted after {} calls",
                planned.out_refund_no, self.options.max_calls_per_refund
            ),
        );
        false
    }

    /// The README's advice for a failed create.
    fn after_create_error(&mut self, family: Family, error: &Error) -> Option<Call> {
        match error.kind {
            ErrorKind::RateLimited => {
                self.wait_rate_limit(family, error);
                if error.outcome_unknown {
                    self.taken(family, Path::RateLimitedThenQuery);
                    Some(Call::Query)
                } else {
                    self.taken(family, Path::RateLimitedResend);
                    Some(Call::Create)
                }
            }
            ErrorKind::VerificationFailed | ErrorKind::TimestampOutOfWindow => {
                self.taken(family, Path::VerificationFailedThenQuery);
                Some(Call::Query)
            }
            _ if error.outcome_unknown => {
                self.taken(family, Path::UnknownThenQuery);
                Some(Call::Query)
            }
            _ if error.retryable => {
                self.taken(family, Path::RetryableResend);
                Some(Call::Create)
            }
            _ => None,
        }
    }

    /// The README's advice for a failed query made to settle an unknown outcome.
    fn after_query_error(&mut self, family: Family, error: &Error) -> Option<Call> {
        match error.kind {
            ErrorKind::NotFound => {
                self.taken(family, Path::QueryNotFoundResend);
                Some(Call::Create)
            }
            ErrorKind::RateLimited => {
                self.wait_rate_limit(family, error);
                self.taken(family, Path::QueryAgain);
                Some(Call::Query)
            }
            ErrorKind::VerificationFailed | ErrorKind::TimestampOutOfWindow => {
                self.taken(family, Path::QueryAgain);
                Some(Call::Query)
            }
            _ if error.retryable || error.outcome_unknown => {
                self.taken(family, Path::QueryAgain);
                Some(Call::Query)
            }
            _ => None,
        }
    }

    fn wait_rate_limit(&mut self, family: Family, error: &Error) {
        match error.retry_after_secs {
            Some(secs) => {
                self.report(family).waited_retry_after += 1;
                std::thread::sleep(Duration::from_secs(secs.min(60)));
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }

    /// Picks the next fault kind for `family` from its shuffled bag.
    fn deal(&mut self, family: Family) -> FaultKind {
        let bag = self.bags.entry(family).or_default();
        if bag.is_empty() {
            bag.extend_from_slice(family.fault_kinds());
            self.rng.shuffle(bag);
        }
        bag.pop().unwrap_or(FaultKind::SystemError)
    }

    /// One create or query, with the fault (maybe) queued before it and the queue
    /// model moved on after it.
    fn call(
        &mut self,
        family: Family,
        client: &Client,
        planned: &Planned,
        call: &Call,
        may_inject: bool,
    ) -> Answer {
        let mut revoked = false;
        if may_inject && self.pending.is_none() && self.rng.percent(self.options.percent) {
            let kind = self.deal(family);
            // Bursts: a fault for 1 (70%), 2 or 3 requests in a row, beyond the retries.
            let times = match self.rng.below(20) {
                0..=13 => 1,
                14..=16 => 2,
                _ => 3,
            };
            let fault = kind.fault(self.options);
            let count = self.report(family).faults.entry(kind).or_default();
            count.injections += 1;
            match fault {
                Some(fault) => {
                    count.uses += times;
                    self.sim.inject(fault, times);
                    self.pending = Some(Pending {
                        family,
                        kind,
                        remaining: times,
                    });
                }
                None => {
                    count.uses += 1;
                    count.consumed += 1;
                    self.sim.revoke_wecom_tokens();
                    revoked = true;
                }
            }
        }
        let requests_before = self.sim.request_count();
        let tokens_before = self.sim.gettoken_count();
        self.report(family).calls += 1;
        let outcome = catch_unwind(AssertUnwindSafe(|| match call {
            Call::Create => planned.request.send(client),
            Call::Query => {
                client.query_refund(&RefundQuery::by_out_refund_no(&planned.out_refund_no))
            }
        }));
        let requests = self.sim.request_count() - requests_before;
        if revoked && self.sim.gettoken_count() > tokens_before {
            self.taken(family, Path::TokenRenewedByLibrary);
        }

        // Move the queue model on: the first `used` requests of this call met the fault.
        let mut met: Option<FaultKind> = None;
        let mut forged_answer = false;
        if let Some(pending) = self.pending.as_mut() {
            let used = requests.min(pending.remaining);
            if used > 0 {
                met = Some(pending.kind);
                pending.remaining -= used;
                let (owner, kind) = (pending.family, pending.kind);
                // The call's first request met a forgery; when it was its only request,
                // its answer is the one the call returned.
                let forged = kind.forges_answer() && family.verifies_answers();
                forged_answer = forged && requests == 1;
                if pending.remaining == 0 {
                    self.pending = None;
                }
                self.report(owner).faults.entry(kind).or_default().consumed += used;
                if forged && requests > 1 {
                    if let Ok(Ok(_)) = &outcome {
                        self.report(family).forgery_on_abandoned_request += 1;
                    }
                }
            }
        }
        match outcome {
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Answer::Panicked(message)
            }
            Ok(result) => {
                if let Ok(refund) = &result {
                    if forged_answer {
                        self.report(family).forged_accepted += 1;
                        let kind = met.map_or("?", FaultKind::name);
                        self.problem(
                            family,
                            format!(
                                "{}: FORGED ANSWER ACCEPTED ({kind}): {}",
                                planned.out_refund_no,
                                refund.to_json()
                            ),
                        );
                    } else if met.is_some() {
                        self.taken(family, Path::AbsorbedByLibrary);
                    }
                }
                Answer::Returned(result)
            }
        }
    }

    /// Lets requests meet a fault still queued after a family's last refund, so that it
    /// is not carried into the next family (queries of an applied refund; no new faults).
    fn flush(
        &mut self,
        family: Family,
        client: &Client,
        orders: &[PlannedOrder],
        planned: Option<&Planned>,
    ) {
        let Some(planned) = planned else { return };
        for _ in 0..10 {
            if self.pending.is_none() {
                return;
            }
            if let Answer::Returned(Ok(refund)) =
                self.call(family, client, planned, &Call::Query, false)
            {
                self.check_answer(family, orders, planned, &refund, false);
            }
        }
    }

    /// The simulator's records of one order.
    fn records(&self, family: Family, out_trade_no: &str) -> Vec<Value> {
        match family {
            Family::Domestic => self.sim.refunds_for_order(out_trade_no),
            Family::Global => self.sim.global_refunds_for_order(out_trade_no),
            Family::WeCom | Family::WeComGuarded => self.sim.wecom_refunds_for_order(out_trade_no),
        }
    }

    /// Compares an `Ok` answer with what the simulator recorded.
    fn check_answer(
        &mut self,
        family: Family,
        orders: &[PlannedOrder],
        planned: &Planned,
        refund: &Refund,
        from_create: bool,
    ) {
        let order = &orders[planned.order];
        let records = self.records(family, &order.out_trade_no);
        let record = records
            .iter()
            .find(|r| r["out_refund_no"] == planned.out_refund_no.as_str());
        let mut wrong = Vec::new();
        match record {
            None => wrong.push("the simulator has no such refund".to_string()),
            Some(record) => {
                let id_field = if family == Family::Global {
                    "id"
                } else {
                    "refund_id"
                };
                // WeCom's apply answer carries no refund id.
                let has_id = !(family.is_wecom() && from_create);
                if has_id && refund.field(id_field) != record[id_field].as_str() {
                    wrong.push(format!("{id_field} differs from {}", record[id_field]));
                }
                if refund.refund_id.as_deref() != refund.field(id_field) {
                    wrong.push("refund_id is not the answer's id".into());
                }
                if record["amount"]["refund"].as_i64() != Some(planned.amount) {
                    wrong.push(format!("recorded amount {}", record["amount"]["refund"]));
                }
                if family == Family::Global {
                    let amount = &refund.fields.get("amount").cloned().unwrap_or_default();
                    if amount["currency"] != order.currency
                        || amount["payer_refund"] != record["amount"]["payer_refund"]
                    {
                        wrong.push(format!("amount {amount} vs {}", record["amount"]));
                    }
                }
            }
        }
        if refund.field("out_refund_no") != Some(planned.out_refund_no.as_str()) {
            wrong.push(format!("out_refund_no {:?}", refund.field("out_refund_no")));
        }
        let amount = refund.fields.get("amount").and_then(|a| a.get("refund"));
        if amount.and_then(Value::as_i64) != Some(planned.amount) {
            wrong.push(format!("amount.refund {amount:?}"));
        }
        let legal = match (family, from_create) {
            (Family::Domestic, true) | (_, false) => {
                matches!(
                    refund.status,
                    RefundStatus::Processing | RefundStatus::Success
                )
            }
            (Family::Global | Family::WeCom | Family::WeComGuarded, true) => {
                refund.status == RefundStatus::Accepted
            }
        };
        if !legal {
            wrong.push(format!("status {}", refund.status.name()));
        }
        if !wrong.is_empty() {
            self.report(family).answer_mismatches += 1;
            self.problem(
                family,
                format!(
                    "{}: Ok answer does not match the simulator: {}",
                    planned.out_refund_no,
                    wrong.join("; ")
                ),
            );
        }
    }

    /// Compares the simulator's books with what the driver intended and believes.
    fn reconcile(
        &mut self,
        family: Family,
        orders: &[PlannedOrder],
        refunds: &[Planned],
        applied: &HashMap<String, bool>,
    ) {
        let mut intended: Vec<HashMap<&str, &Planned>> = vec![HashMap::new(); orders.len()];
        for planned in refunds {
            intended[planned.order].insert(planned.out_refund_no.as_str(), planned);
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        let (mut duplicates, mut over, mut lost, mut believed) = (0, 0, 0, 0);
        let mut notes = Vec::new();
        for (o, order) in orders.iter().enumerate() {
            let records = self.records(family, &order.out_trade_no);
            let mut refunded = 0;
            let mut here: HashMap<&str, Vec<&Value>> = HashMap::new();
            for record in &records {
                let no = record["out_refund_no"].as_str().unwrap_or("");
                refunded += record["amount"]["refund"].as_i64().unwrap_or(0);
                *seen.entry(no.to_string()).or_default() += 1;
                here.entry(no).or_default().push(record);
                let status = record["status"].as_str().unwrap_or("");
                if !matches!(status, "PROCESSING" | "SUCCESS") {
                    notes.push(format!("{no}: simulator status {status}"));
                }
                if !intended[o].contains_key(no) {
                    duplicates += 1;
                    notes.push(format!("{no}: a refund the driver never asked for"));
                }
            }
            if refunded > order.total {
                over += 1;
                notes.push(format!(
                    "{}: refunded {refunded} of {}",
                    order.out_trade_no, order.total
                ));
            }
            for (no, planned) in &intended[o] {
                let found = here.get(no).map_or(&[][..], Vec::as_slice);
                let accepted = applied.get(*no).copied().unwrap_or(false);
                believed += usize::from(accepted);
                if found.len() > 1 {
                    duplicates += found.len() - 1;
                    notes.push(format!("{no}: {} refunds in the simulator", found.len()));
                }
                let right = found.len() == 1
                    && found[0]["amount"]["refund"].as_i64() == Some(planned.amount);
                if !accepted || !right {
                    lost += 1;
                    notes.push(format!(
                        "{no}: driver accepted {accepted}, simulator holds {}",
                        found.len()
                    ));
                }
            }
        }
        // A number in two orders is a duplicate too.
        let across = seen.values().filter(|&&n| n > 1).count();
        let report = self.report(family);
        report.applied = believed;
        report.duplicates = duplicates;
        report.over_refunded_orders = over;
        report.lost = lost;
        for note in notes {
            self.problem(family, note);
        }
        if across > 0 {
            self.problem(
                family,
                format!("{across} out_refund_no seen more than once in the simulator"),
            );
        }
    }
}
