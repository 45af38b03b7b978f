//! Spend accounting, pure: money as integer nano-dollars, budget periods that roll over at
//! UTC midnight or the first of the month, and the admission rule for reservations.
//!
//! Why reservations: the real cost of a request is known only when its response ends, so a
//! burst of parallel requests checked against settled spend alone could all pass and spend
//! the budget many times over. Each admitted request therefore holds a reservation (its
//! worst-case estimate) until it settles with the real cost. A request is admitted while
//! `spent + reserved` is still below the budget, so the limit can be overshot by at most
//! one request's reservation (plus whatever a request's real cost exceeds its estimate).

use time::OffsetDateTime;

/// Nano-dollars per dollar. Integers, so sums across replicas and Lua scripts never drift.
pub const NANOS_PER_USD: f64 = 1e9;

/// An amount of money in nano-dollars (1e-9 USD).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Nanos(pub i64);

impl Nanos {
    /// From dollars; negative, NaN and infinite amounts count as zero, huge ones saturate.
    pub fn from_usd(usd: f64) -> Self {
        if !usd.is_finite() || usd <= 0.0 {
            return Nanos(0);
        }
        // Round up to whole nano-dollars, but not float noise: 409600.00000000006 is 409600.
        let exact = usd * NANOS_PER_USD;
        let nearest = exact.round();
        let n = if (exact - nearest).abs() < 1e-6 {
            nearest
        } else {
            exact.ceil()
        };
        // `as` saturates for floats out of range, which is what a budget wants.
        let n = n as i64;
        Nanos(n)
    }

    pub fn usd(self) -> f64 {
        self.0 as f64 / NANOS_PER_USD
    }

    pub fn saturating_add(self, other: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(other.0))
    }
}

/// How often a key's budget starts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Resets at 00:00 UTC.
    Day,
    /// Resets at 00:00 UTC on the first of the month.
    Month,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
        }
    }

    /// The id of the period `now` falls in (`d2026-12-02`, `m2026-12`): counters are keyed by
    /// it, so a new period starts from zero without anything having to reset them.
    pub fn id(self, now: OffsetDateTime) -> String {
        let d = now.to_offset(time::UtcOffset::UTC).date();
        match self {
            Self::Day => format!("d{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
            Self::Month => format!("m{:04}-{:02}", d.year(), u8::from(d.month())),
        }
    }

    /// How long a period's counters are kept (in the shared store): the period itself plus
    /// a margin, so the previous period can still be read just after a roll-over.
    pub fn retention_secs(self) -> u64 {
        match self {
            Self::Day => 3 * 86_400,
            Self::Month => 40 * 86_400,
        }
    }
}

/// One key's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: Nanos,
    pub period: Period,
}

impl Budget {
    /// What is left of the budget after `spent` (negative once overspent).
    pub fn remaining(&self, spent: Nanos) -> Nanos {
        Nanos(self.limit.0.saturating_sub(spent.0))
    }
}

/// The admission rule, shared by every backend (the Redis script implements the same
/// comparison): admit while settled spend plus open reservations is below the limit.
pub fn admits(limit: Nanos, spent: Nanos, reserved: Nanos) -> bool {
    spent.saturating_add(reserved) < limit
}

/// Per-token prices of one model, in nano-dollars (fractions allowed: prices per token are
/// far below a nano-dollar for cheap models).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Price {
    pub prompt: f64,
    pub completion: f64,
    /// Per request.
    pub request: f64,
}

impl Price {
    /// From USD-per-token figures (the `/models` catalog's unit).
    pub fn from_usd_per_token(prompt: f64, completion: f64, request: f64) -> Self {
        let clean = |v: f64| {
            if v.is_finite() && v > 0.0 {
                v * NANOS_PER_USD
            } else {
                0.0
            }
        };
        Self {
            prompt: clean(prompt),
            completion: clean(completion),
            request: clean(request),
        }
    }

    /// The higher of two prices, per component.
    pub fn max(&self, other: &Price) -> Price {
        Price {
            prompt: self.prompt.max(other.prompt),
            completion: self.completion.max(other.completion),
            request: self.request.max(other.request),
        }
    }

    /// The cost of a request with these token counts, rounded up.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> Nanos {
        let n = self.prompt * prompt_tokens as f64
            + self.completion * completion_tokens as f64
            + self.request;
        Nanos::from_usd(n / NANOS_PER_USD)
    }
}

/// Bytes of request body counted as one prompt token when estimating. Real tokenizers
/// average about four bytes per token for English; three over-estimates on purpose.
pub const BYTES_PER_TOKEN_ESTIMATE: u64 = 3;

/// The reservation for a request that any of the models priced in `prices` may serve
/// (`None`: a model of unknown price): `max_output_tokens` of completion plus the body as
/// prompt at the highest of their prices, and at least `unknown` when one price is unknown
/// (so a model without a price never lowers the worst case).
pub fn estimate(
    prices: impl IntoIterator<Item = Option<Price>>,
    body_bytes: usize,
    max_output_tokens: u64,
    unknown: Nanos,
) -> Nanos {
    let mut highest: Option<Price> = None;
    let mut any_unknown = false;
    for price in prices {
        match price {
            Some(p) => highest = Some(highest.map_or(p, |q| q.max(&p))),
            None => any_unknown = true,
        }
    }
    let prompt_tokens = (body_bytes as u64).div_ceil(BYTES_PER_TOKEN_ESTIMATE);
    match highest {
        Some(p) if !any_unknown => p.cost(prompt_tokens, max_output_tokens),
        Some(p) => p.cost(prompt_tokens, max_output_tokens).max(unknown),
        None => unknown,
    }
}

/// What a finished request is charged, and whether that figure was estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    pub amount: Nanos,
    pub estimated: bool,
}

/// The charge for a finished request: `usage.cost` when the upstream reported it; else the
/// token counts at the model's price; else, for a response that was (at least partly)
/// served, the whole reservation — an unknown cost is never counted as free.
pub fn charge(
    reported_cost: Option<f64>,
    tokens: Option<(u64, u64)>,
    price: Option<&Price>,
    served: bool,
    reserved: Nanos,
) -> Charge {
    if let Some(c) = reported_cost.filter(|c| c.is_finite() && *c >= 0.0) {
        return Charge {
            amount: Nanos::from_usd(c),
            estimated: false,
        };
    }
    match (tokens, price) {
        (Some((p, c)), Some(price)) => Charge {
            amount: price.cost(p, c),
            estimated: true,
        },
        _ if served => Charge {
            amount: reserved,
            estimated: true,
        },
        _ => Charge {
            amount: Nanos(0),
            estimated: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn money_is_exact_in_nanos() {
        assert_eq!(Nanos::from_usd(0.00002), Nanos(20_000));
        assert_eq!(Nanos::from_usd(1.0), Nanos(1_000_000_000));
        assert_eq!(Nanos::from_usd(-3.0), Nanos(0));
        assert_eq!(Nanos::from_usd(f64::NAN), Nanos(0));
        assert_eq!(Nanos::from_usd(f64::INFINITY), Nanos(0));
        assert_eq!(Nanos::from_usd(1e30), Nanos(i64::MAX));
        assert_eq!(Nanos::from_usd(0.0004096), Nanos(409_600));
        assert_eq!(Nanos::from_usd(1.5e-9), Nanos(2));
        // Ten thousand small charges add up to exactly their sum.
        let total = (0..10_000).fold(Nanos(0), |acc, _| {
            acc.saturating_add(Nanos::from_usd(0.0001))
        });
        assert_eq!(total, Nanos::from_usd(1.0));
    }

    #[test]
    fn periods_roll_over_at_utc_midnight_and_month_start() {
        let before = datetime!(2026-12-31 23:59:59.999 UTC);
        let after = datetime!(2027-01-01 00:00:00 UTC);
        assert_eq!(Period::Day.id(before), "d2026-12-31");
        assert_eq!(Period::Day.id(after), "d2027-01-01");
        assert_eq!(Period::Month.id(before), "m2026-12");
        assert_eq!(Period::Month.id(after), "m2027-01");
        // Same day in UTC even when the clock reading carries another offset.
        let local = datetime!(2026-12-02 01:30 +05:00);
        assert_eq!(Period::Day.id(local), "d2026-12-01");
        // Mid-month days share the month's counters.
        assert_eq!(
            Period::Month.id(datetime!(2026-02-01 00:00 UTC)),
            Period::Month.id(datetime!(2026-02-28 23:59 UTC))
        );
    }

    #[test]
    fn admission_counts_open_reservations() {
        let limit = Nanos(1_000);
        assert!(admits(limit, Nanos(0), Nanos(0)));
        assert!(admits(limit, Nanos(500), Nanos(499)));
        assert!(!admits(limit, Nanos(500), Nanos(500)));
        assert!(!admits(limit, Nanos(1_000), Nanos(0)));
        assert!(!admits(limit, Nanos(i64::MAX), Nanos(i64::MAX)));
        // A zero budget admits nothing.
        assert!(!admits(Nanos(0), Nanos(0), Nanos(0)));
    }

    #[test]
    fn a_burst_overshoots_by_at_most_one_reservation() {
        // 50 parallel requests of 30 each against a budget of 100: reservations are taken
        // one after another (atomically), none settled yet.
        let limit = Nanos(100);
        let mut reserved = Nanos(0);
        let mut admitted = 0;
        for _ in 0..50 {
            if admits(limit, Nanos(0), reserved) {
                reserved = reserved.saturating_add(Nanos(30));
                admitted += 1;
            }
        }
        assert_eq!(admitted, 4);
        assert!(reserved.0 - limit.0 <= 30);
    }

    #[test]
    fn estimates_take_the_worst_case() {
        // $3 / $15 per million tokens.
        let p = Price::from_usd_per_token(3e-6, 15e-6, 0.0);
        // 300 bytes ≈ 100 prompt tokens, 1000 output tokens: 100×3000 + 1000×15000 nanos.
        assert_eq!(estimate([Some(p)], 300, 1000, Nanos(7)), Nanos(15_300_000));
        assert_eq!(estimate([None], 300, 1000, Nanos(7)), Nanos(7));
        // The highest price of the candidates, per component.
        let cheap = Price::from_usd_per_token(10e-6, 1e-6, 0.0);
        assert_eq!(
            estimate([Some(cheap), Some(p)], 300, 1000, Nanos(7)),
            Nanos(100 * 10_000 + 1000 * 15_000)
        );
        // A model of unknown price never lowers the estimate, and raises a small one.
        assert_eq!(
            estimate([Some(p), None], 300, 1000, Nanos(7)),
            Nanos(15_300_000)
        );
        assert_eq!(
            estimate([None, Some(p)], 300, 1000, Nanos(20_000_000)),
            Nanos(20_000_000)
        );
        // Garbage prices count as free, not as negative.
        let bad = Price::from_usd_per_token(-1.0, f64::NAN, 0.0);
        assert_eq!(bad.cost(10, 10), Nanos(0));
    }

    #[test]
    fn charges_prefer_the_reported_cost() {
        let p = Price::from_usd_per_token(1e-6, 2e-6, 0.0);
        let reserved = Nanos(9_999);
        let reported = charge(Some(0.00002), Some((3, 4)), Some(&p), true, reserved);
        assert_eq!(
            reported,
            Charge {
                amount: Nanos(20_000),
                estimated: false
            }
        );
        let from_tokens = charge(None, Some((3, 4)), Some(&p), true, reserved);
        assert_eq!(
            from_tokens,
            Charge {
                amount: Nanos(11_000),
                estimated: true
            }
        );
        let unknown = charge(None, None, Some(&p), true, reserved);
        assert_eq!(
            unknown,
            Charge {
                amount: reserved,
                estimated: true
            }
        );
        let failed = charge(None, None, None, false, reserved);
        assert_eq!(
            failed,
            Charge {
                amount: Nanos(0),
                estimated: false
            }
        );
        let negative = charge(Some(-1.0), None, None, false, reserved);
        assert_eq!(negative.amount, Nanos(0));
    }
}
