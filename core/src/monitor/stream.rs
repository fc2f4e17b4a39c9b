//! Concept-drift detectors over a stream of per-row errors (`0.0` = correct, `1.0` = wrong).
//!
//! Two classic detectors, with the defaults and the floating-point arithmetic of river 0.26.1
//! (`river.drift.binary.DDM` and `river.drift.ADWIN`), so that over the same stream they raise
//! their warnings and drifts at the same row indices as river:
//!
//! * [`Ddm`]: the Drift Detection Method of Gama, Medas, Castillo & Rodrigues (2004). It tracks
//!   the running error rate `p` and its binomial standard deviation `s = sqrt(p(1-p)/n)`,
//!   remembers the point where `p + s` was lowest, and warns / signals a drift when `p + s`
//!   rises past `p_min + 2 s_min` / `p_min + 3 s_min`. Nothing is raised during the first
//!   `warm_start` rows, and the detector starts afresh on the row after a drift.
//! * [`Adwin`]: ADaptive WINdowing (ADWIN2) of Bifet & Gavaldà (2007). It keeps a window of
//!   recent values compressed into exponential-histogram buckets and, every `clock` rows, tests
//!   every split of the window into an older and a newer part; when the two means differ by more
//!   than a Hoeffding/Bernstein-style bound it drops the oldest bucket (repeatedly, while the
//!   test keeps failing) and signals a drift. Like river, the whole detector is reset on the row
//!   after a drift. ADWIN raises no warnings.

/// Where a detector raised its flags over one stream (0-based row indices).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Flags {
    pub warnings: Vec<usize>,
    pub drifts: Vec<usize>,
}

// ---------------------------------------------------------------------------------------------
// DDM
// ---------------------------------------------------------------------------------------------

/// Drift Detection Method (Gama et al., 2004) for a stream of 0/1 errors.
///
/// Defaults: `warm_start = 30`, `warning_threshold = 2.0`, `drift_threshold = 3.0`.
#[derive(Debug, Clone)]
pub struct Ddm {
    warm_start: usize,
    warning_threshold: f64,
    drift_threshold: f64,
    /// Rows seen since the last reset (kept as a float, as the running mean's weight).
    count: f64,
    /// Running error rate.
    rate: f64,
    /// Error rate and its deviation where `rate + deviation` was lowest since the warm start.
    best_rate: f64,
    best_dev: f64,
    best_sum: f64,
    warning: bool,
    drift: bool,
}

impl Default for Ddm {
    fn default() -> Self {
        Ddm::new()
    }
}

impl Ddm {
    pub fn new() -> Self {
        Ddm::with(30, 2.0, 3.0)
    }

    pub fn with(warm_start: usize, warning_threshold: f64, drift_threshold: f64) -> Self {
        Ddm {
            warm_start,
            warning_threshold,
            drift_threshold,
            count: 0.0,
            rate: 0.0,
            best_rate: f64::NAN,
            best_dev: f64::NAN,
            best_sum: f64::INFINITY,
            warning: false,
            drift: false,
        }
    }

    fn restart(&mut self) {
        self.count = 0.0;
        self.rate = 0.0;
        self.best_rate = f64::NAN;
        self.best_dev = f64::NAN;
        self.best_sum = f64::INFINITY;
        self.warning = false;
        self.drift = false;
    }

    /// Returns (warning, drift) after this value
    pub fn update(&mut self, x: f64) -> (bool, bool) {
        // The row after a drift starts a fresh detector (with a fresh warm start).
        if self.drift {
            self.restart();
        }

        self.count += 1.0;
        self.rate += (1.0 / self.count) * (x - self.rate);

        let p = self.rate;
        let s = (p * (1.0 - p) / self.count).sqrt();

        if self.count > self.warm_start as f64 {
            if p + s <= self.best_sum {
                self.best_rate = p;
                self.best_dev = s;
                self.best_sum = self.best_rate + self.best_dev;
            }

            self.warning = p + s > self.best_rate + self.warning_threshold * self.best_dev;

            if p + s > self.best_rate + self.drift_threshold * self.best_dev {
                self.drift = true;
                self.warning = false;
            }
        }

        (self.warning, self.drift)
    }

    /// Whether the last update left the detector in its warning zone.
    pub fn warning_detected(&self) -> bool {
        self.warning
    }

    /// Whether the last update signalled a drift.
    pub fn drift_detected(&self) -> bool {
        self.drift
    }
}

// ---------------------------------------------------------------------------------------------
// ADWIN
// ---------------------------------------------------------------------------------------------

/// One level of the exponential histogram: summaries of `2^level` consecutive values each,
/// oldest first.
#[derive(Debug, Clone, Default)]
struct Level {
    sums: Vec<f64>,
    /// Sum of squared deviations from the summary's own mean.
    sq_devs: Vec<f64>,
}

impl Level {
    fn len(&self) -> usize {
        self.sums.len()
    }

    fn push(&mut self, sum: f64, sq_dev: f64) {
        self.sums.push(sum);
        self.sq_devs.push(sq_dev);
    }

    fn drop_oldest(&mut self, k: usize) {
        self.sums.drain(..k);
        self.sq_devs.drain(..k);
    }
}

/// Number of values summarised by one entry of level `level`.
fn level_size(level: usize) -> f64 {
    (1u64 << level) as f64
}

/// ADaptive WINdowing drift detector (Bifet & Gavaldà, 2007), ADWIN2 variant.
///
/// Defaults: `delta = 0.002`, `clock = 32`, `max_buckets = 5`, `min_window_length = 5`,
/// `grace_period = 10`.
#[derive(Debug, Clone)]
pub struct Adwin {
    delta: f64,
    clock: u64,
    max_buckets: usize,
    min_window_length: f64,
    grace_period: f64,
    /// `levels[i]` holds summaries of `2^i` values; the oldest data sits at the highest level.
    levels: Vec<Level>,
    width: f64,
    total: f64,
    /// Sum of squared deviations from the window mean.
    sq_dev: f64,
    tick: u64,
    drift: bool,
}

impl Default for Adwin {
    fn default() -> Self {
        Adwin::new()
    }
}

impl Adwin {
    pub fn new() -> Self {
        Adwin::with_delta(0.002)
    }

    pub fn with_delta(delta: f64) -> Self {
        Adwin::configured(delta, 32, 5, 5, 10)
    }

    fn configured(
        delta: f64,
        clock: u64,
        max_buckets: usize,
        min_window_length: usize,
        grace_period: usize,
    ) -> Self {
        Adwin {
            delta,
            clock: clock.max(1),
            max_buckets,
            min_window_length: min_window_length as f64,
            grace_period: grace_period as f64,
            levels: vec![Level::default()],
            width: 0.0,
            total: 0.0,
            sq_dev: 0.0,
            tick: 0,
            drift: false,
        }
    }

    fn restart(&mut self) {
        self.levels.clear();
        self.levels.push(Level::default());
        self.width = 0.0;
        self.total = 0.0;
        self.sq_dev = 0.0;
        self.tick = 0;
        self.drift = false;
    }

    /// Adds one value; returns whether a drift was detected on it.
    pub fn update(&mut self, x: f64) -> bool {
        // The row after a drift starts a fresh detector with an empty window.
        if self.drift {
            self.restart();
        }
        self.insert(x);
        self.drift = self.check();
        self.drift
    }

    /// Number of values in the current window.
    pub fn width(&self) -> f64 {
        self.width
    }

    /// Mean of the current window (0 when it is empty).
    pub fn estimation(&self) -> f64 {
        if self.width == 0.0 {
            0.0
        } else {
            self.total / self.width
        }
    }

    /// Whether the last update signalled a drift.
    pub fn drift_detected(&self) -> bool {
        self.drift
    }

    fn insert(&mut self, x: f64) {
        self.levels[0].push(x, 0.0);

        self.width += 1.0;
        let mut added = 0.0;
        if self.width > 1.0 {
            let d = x - self.total / (self.width - 1.0);
            added = (self.width - 1.0) * d * d / self.width;
        }
        self.sq_dev += added;
        self.total += x;

        self.merge_full_levels();
    }

    /// Merges the two oldest summaries of every level that overflowed into one summary of the
    /// next level, cascading upwards.
    fn merge_full_levels(&mut self) {
        let mut i = 0;
        while self.levels[i].len() == self.max_buckets + 1 {
            let size = level_size(i);
            let (t0, t1) = (self.levels[i].sums[0], self.levels[i].sums[1]);
            let (v0, v1) = (self.levels[i].sq_devs[0], self.levels[i].sq_devs[1]);
            let m0 = t0 / size;
            let m1 = t1 / size;
            let merged_sum = t0 + t1;
            let merged_sq_dev = v0 + v1 + size * 0.5 * (m0 - m1) * (m0 - m1);

            if i + 1 == self.levels.len() {
                self.levels.push(Level::default());
            }
            self.levels[i + 1].push(merged_sum, merged_sq_dev);
            self.levels[i].drop_oldest(2);

            if self.levels[i + 1].len() <= self.max_buckets {
                break;
            }
            i += 1;
        }
    }

    /// Drops the oldest summary of the window.
    fn drop_oldest(&mut self) {
        let last = self.levels.len() - 1;
        let size = level_size(last);
        let u = self.levels[last].sums[0];
        let v = self.levels[last].sq_devs[0];
        let mu = u / size;

        self.width -= size;
        self.total -= u;
        let mu_rest = self.total / self.width;
        self.sq_dev -=
            v + size * self.width * (mu - mu_rest) * (mu - mu_rest) / (size + self.width);

        self.levels[last].drop_oldest(1);
        if self.levels[last].len() == 0 {
            self.levels.pop();
        }
    }

    /// On clock ticks, shrinks the window from its old end while some split shows a change.
    fn check(&mut self) -> bool {
        self.tick += 1;
        let mut detected = false;
        if self.tick.is_multiple_of(self.clock) && self.width > self.grace_period {
            while self.cut_once() {
                detected = true;
            }
        }
        detected
    }

    /// Scans the splits (older part `W0`, newer part `W1`) from the oldest summary forwards;
    /// at the first split that fails the test drops the oldest summary and returns `true`.
    fn cut_once(&mut self) -> bool {
        let mut n0 = 0.0_f64;
        let mut n1 = self.width;
        let mut u0 = 0.0_f64;
        let mut u1 = self.total;

        for i in (0..self.levels.len()).rev() {
            let size = level_size(i);
            let count = self.levels[i].len();
            for k in 0..count {
                let t = self.levels[i].sums[k];
                n0 += size;
                n1 -= size;
                u0 += t;
                u1 -= t;

                if i == 0 && k == count - 1 {
                    return false;
                }

                let delta_mean = (u0 / n0) - (u1 / n1);
                if n1 >= self.min_window_length
                    && n0 >= self.min_window_length
                    && self.split_differs(n0, n1, delta_mean)
                {
                    self.drop_oldest();
                    return true;
                }
            }
        }
        false
    }

    /// The ADWIN cut test: `|mean(W0) - mean(W1)| > eps` with
    /// `eps = sqrt(2 m σ² δ') + 2/3 δ' m`, `1/m = 1/(n0 - L + 1) + 1/(n1 - L + 1)`
    /// (written `m` below as its reciprocal), `δ' = ln(2 ln(width) / δ)`, `σ²` the window's
    /// variance and `L` the minimum sub-window length.
    fn split_differs(&self, n0: f64, n1: f64, delta_mean: f64) -> bool {
        let delta_prime = (2.0 * self.width.ln() / self.delta).ln();
        let m_recip =
            1.0 / (n0 - self.min_window_length + 1.0) + 1.0 / (n1 - self.min_window_length + 1.0);
        let epsilon = (2.0 * m_recip * (self.sq_dev / self.width) * delta_prime).sqrt()
            + 2.0 / 3.0 * delta_prime * m_recip;
        delta_mean.abs() > epsilon
    }
}

// ---------------------------------------------------------------------------------------------
// Whole-stream helpers
// ---------------------------------------------------------------------------------------------

/// Runs DDM with river's defaults over a stream.
pub fn ddm_flags(errors: &[f64]) -> Flags {
    let mut ddm = Ddm::new();
    let mut flags = Flags::default();
    for (i, &x) in errors.iter().enumerate() {
        let (warning, drift) = ddm.update(x);
        if warning {
            flags.warnings.push(i);
        }
        if drift {
            flags.drifts.push(i);
        }
    }
    flags
}

/// Runs ADWIN with river's defaults over a stream; `warnings` is always empty.
pub fn adwin_flags(errors: &[f64]) -> Flags {
    let mut adwin = Adwin::new();
    let mut flags = Flags::default();
    for (i, &x) in errors.iter().enumerate() {
        if adwin.update(x) {
            flags.drifts.push(i);
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64, enough for reproducible test streams.
    struct Rng(u64);

    impl Rng {
        fn next_f64(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64
        }

        fn bernoulli(&mut self, p: f64) -> f64 {
            if self.next_f64() < p { 1.0 } else { 0.0 }
        }
    }

    /// One error every `period` rows, so the pre-change error rate is exact and noise-free.
    fn periodic(len: usize, period: usize) -> Vec<f64> {
        (0..len)
            .map(|i| if i % period == period - 1 { 1.0 } else { 0.0 })
            .collect()
    }

    #[test]
    fn constant_streams_raise_nothing() {
        for value in [0.0, 1.0] {
            let stream = vec![value; 20_000];
            assert_eq!(ddm_flags(&stream), Flags::default(), "DDM on all {value}");
            assert_eq!(
                adwin_flags(&stream),
                Flags::default(),
                "ADWIN on all {value}"
            );
        }
    }

    #[test]
    fn stream_shorter_than_warm_start_raises_nothing() {
        let stream: Vec<f64> = (0..30).map(|i| if i < 3 { 0.0 } else { 1.0 }).collect();
        assert_eq!(ddm_flags(&stream), Flags::default());
        let mut ddm = Ddm::with(100, 2.0, 3.0);
        for i in 0..100 {
            let x = if i < 50 { 0.0 } else { 1.0 };
            assert_eq!(ddm.update(x), (false, false), "row {i}");
        }
    }

    #[test]
    fn stationary_bernoulli_stream_is_quiet_for_adwin() {
        for seed in 0..5u64 {
            let mut rng = Rng(seed);
            let stream: Vec<f64> = (0..20_000).map(|_| rng.bernoulli(0.2)).collect();
            let flags = adwin_flags(&stream);
            assert!(flags.drifts.is_empty(), "seed {seed}: {:?}", flags.drifts);
            assert!(flags.warnings.is_empty());
        }
    }

    #[test]
    fn jump_in_error_rate_is_detected_soon_after_and_not_before() {
        let change = 3_000;
        for seed in 0..10u64 {
            let mut rng = Rng(seed);
            let mut stream = periodic(change, 20); // p = 0.05
            stream.extend((0..3_000).map(|_| rng.bernoulli(0.6)));

            for (name, flags) in [("DDM", ddm_flags(&stream)), ("ADWIN", adwin_flags(&stream))] {
                assert!(
                    flags.drifts.iter().all(|&d| d >= change),
                    "{name} seed {seed}: drift before the change {:?}",
                    flags.drifts
                );
                let first = flags.drifts.first().copied();
                assert!(
                    matches!(first, Some(d) if d < change + 300),
                    "{name} seed {seed}: first drift {first:?}"
                );
            }
        }
    }

    #[test]
    fn improvement_is_not_a_drift_for_ddm() {
        // DDM watches for rising error only.
        let mut stream = periodic(2_000, 3);
        stream.extend(periodic(4_000, 10));
        assert!(ddm_flags(&stream).drifts.is_empty());
        // ADWIN is two-sided and does see the change.
        assert!(!adwin_flags(&stream).drifts.is_empty());
    }

    #[test]
    fn ddm_restarts_its_warm_start_after_a_drift() {
        let warm_start = 30;
        let mut rng = Rng(7);
        let mut stream = periodic(1_000, 20);
        stream.extend((0..5_000).map(|i| rng.bernoulli(0.1 + 0.8 * (i % 700) as f64 / 700.0)));
        let flags = ddm_flags(&stream);
        assert!(flags.drifts.len() >= 2, "{:?}", flags.drifts);
        for &d in &flags.drifts {
            let quiet = d + 1..=d + warm_start;
            assert!(!flags.drifts.iter().any(|i| quiet.contains(i)), "drift {d}");
            assert!(
                !flags.warnings.iter().any(|i| quiet.contains(i)),
                "drift {d}"
            );
        }
        // A warning is never raised on the same row as a drift.
        assert!(flags.drifts.iter().all(|d| !flags.warnings.contains(d)));

        // From a perfect start, the first error after the warm start is a drift; the detector
        // then restarts, so a run of errors after it is its new normal.
        let mut ddm = Ddm::new();
        for _ in 0..100 {
            assert_eq!(ddm.update(0.0), (false, false));
        }
        assert_eq!(ddm.update(1.0), (false, true));
        for i in 0..1_000 {
            assert_eq!(ddm.update(1.0), (false, false), "row {i} after the drift");
        }
    }

    #[test]
    fn adwin_window_tracks_the_stream_and_restarts_after_a_drift() {
        let mut rng = Rng(3);
        let mut adwin = Adwin::new();
        let mut since_reset = 0usize;
        let mut sum = 0.0;
        let mut drifts = 0;
        for i in 0..20_000 {
            let p = if (i / 2_500) % 2 == 0 { 0.1 } else { 0.7 };
            let x = rng.bernoulli(p);
            let was_drift = adwin.drift_detected();
            if was_drift {
                since_reset = 0;
                sum = 0.0;
            }
            since_reset += 1;
            sum += x;
            let drift = adwin.update(x);
            if was_drift {
                assert_eq!(adwin.width(), 1.0, "row {i}: window not restarted");
            }
            if drift {
                drifts += 1;
                // Cuts are only tested on clock ticks, counted from the last restart.
                assert_eq!(since_reset % 32, 0, "row {i}");
                assert!(adwin.width() < since_reset as f64);
            } else {
                assert_eq!(adwin.width(), since_reset as f64, "row {i}");
                assert!((adwin.estimation() - sum / since_reset as f64).abs() < 1e-9);
            }
            let held: f64 = adwin
                .levels
                .iter()
                .enumerate()
                .map(|(l, level)| level.len() as f64 * level_size(l))
                .sum();
            assert_eq!(held, adwin.width());
            assert!(adwin.levels.iter().all(|l| l.len() <= 5));
        }
        assert!(drifts >= 7, "{drifts} drifts for 7 changes");
    }

    #[test]
    fn adwin_handles_real_values_and_delta() {
        let mut rng = Rng(11);
        let stream: Vec<f64> = (0..4_000)
            .map(|i| {
                let base = if i < 2_000 { 0.3 } else { 0.45 };
                base + 0.2 * (rng.next_f64() - 0.5)
            })
            .collect();
        let first_drift = |delta: f64| {
            let mut a = Adwin::with_delta(delta);
            stream.iter().position(|&x| a.update(x))
        };
        let strict = first_drift(1e-6).expect("strict ADWIN sees a 0.15 shift");
        let loose = first_drift(0.1).expect("loose ADWIN sees a 0.15 shift");
        assert!(strict >= 2_000 && loose >= 2_000);
        assert!(loose <= strict, "a larger delta cannot react later");
        assert_eq!(Adwin::new().estimation(), 0.0);
    }
}
