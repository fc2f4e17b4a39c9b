//! Metric series that stay fast to chart with millions of points: each keeps a min/max pyramid,
//! and a chart asks for at most two points per pixel column of the visible range (min/max
//! decimation). The window draws from it, and `kiln serve` answers chart requests with it.
//!
//! The pyramid is the bottom-up half of a segment tree: level `k` holds the minimum and maximum
//! of each aligned block of `2^k` values, so the extremes of any index range come from
//! `O(log n)` blocks, whatever the zoom.

/// One named line: points sorted by x.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub name: String,
    xs: Vec<f64>,
    ys: Vec<f64>,
    /// `levels[k - 1]` holds (min, max) of blocks of `2^k` values; rebuilt lazily.
    levels: Vec<Vec<(f64, f64)>>,
    /// How many values the levels cover.
    indexed: usize,
    /// The last decimation and its points.
    cache: Option<(SweepKey, Vec<[f64; 2]>)>,
}

/// What a decimation depends on: the view's bounds (as bits), the columns and the length.
type SweepKey = (u64, u64, usize, usize);

/// Below this many visible points per pixel column a series is drawn as it is.
const RAW_LIMIT: usize = 2;

impl Series {
    pub fn new(name: impl Into<String>) -> Series {
        Series {
            name: name.into(),
            ..Series::default()
        }
    }

    /// A series from points sorted by x (as metric histories are, by step).
    pub fn from_points(
        name: impl Into<String>,
        points: impl IntoIterator<Item = [f64; 2]>,
    ) -> Series {
        let mut series = Series::new(name);
        for [x, y] in points {
            series.push(x, y);
        }
        series
    }

    /// Appends a point. A point whose x is smaller than the last one's replaces the tail from
    /// there (a resumed run logging its steps again).
    pub fn push(&mut self, x: f64, y: f64) {
        if self.xs.last().is_some_and(|&last| x < last) {
            let keep = self.xs.partition_point(|&v| v < x);
            self.xs.truncate(keep);
            self.ys.truncate(keep);
            self.levels.clear();
            self.indexed = 0;
            self.cache = None;
        }
        self.xs.push(x);
        self.ys.push(y);
    }

    pub fn len(&self) -> usize {
        self.xs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.xs.is_empty()
    }

    pub fn last(&self) -> Option<[f64; 2]> {
        Some([*self.xs.last()?, *self.ys.last()?])
    }

    /// Every point, in order.
    pub fn points(&self) -> impl Iterator<Item = [f64; 2]> + '_ {
        self.xs.iter().zip(&self.ys).map(|(&x, &y)| [x, y])
    }

    /// The x range covered, if any point exists.
    pub fn x_range(&self) -> Option<(f64, f64)> {
        Some((*self.xs.first()?, *self.xs.last()?))
    }

    fn reindex(&mut self) {
        if self.indexed == self.ys.len() {
            return;
        }
        self.levels.clear();
        let mut below: Vec<(f64, f64)> = self.ys.iter().map(|&y| (y, y)).collect();
        while below.len() > 1 {
            let level: Vec<(f64, f64)> = below
                .chunks(2)
                .map(|pair| {
                    pair.iter()
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(a, b)| {
                            (lo.min(a), hi.max(b))
                        })
                })
                .collect();
            self.levels.push(level);
            below = self.levels.last().cloned().unwrap_or_default();
        }
        self.indexed = self.ys.len();
    }

    /// The points to draw for the x range `view` across `columns` pixel columns: the raw points
    /// when there are few, else per column its minimum and maximum (in the order the data
    /// reaches them), plus the nearest point outside each edge so the line runs off the chart.
    ///
    /// The sweep reads the pyramid level whose blocks hold about a quarter of a column's
    /// points, so it touches a few blocks per column whatever the zoom, in memory order. A
    /// block that straddles a column boundary counts in the column where it starts: less than
    /// a quarter of a column's width. The result is kept until the view, the width or the data
    /// change, so frames that only move the pointer reuse it.
    pub fn decimated(&mut self, view: (f64, f64), columns: usize) -> Vec<[f64; 2]> {
        let key = (view.0.to_bits(), view.1.to_bits(), columns, self.xs.len());
        if let Some((cached, points)) = &self.cache
            && *cached == key
        {
            return points.clone();
        }
        let points = self.sweep(view, columns);
        self.cache = Some((key, points.clone()));
        points
    }

    /// Whether [`Self::decimated`] would answer from its cache.
    pub fn is_cached(&self, view: (f64, f64), columns: usize) -> bool {
        let key = (view.0.to_bits(), view.1.to_bits(), columns, self.xs.len());
        self.cache
            .as_ref()
            .is_some_and(|(cached, _)| *cached == key)
    }

    fn sweep(&mut self, view: (f64, f64), columns: usize) -> Vec<[f64; 2]> {
        let (x0, x1) = view;
        let n = self.xs.len();
        let raw = |s: &Series, range: std::ops::Range<usize>| -> Vec<[f64; 2]> {
            range.map(|i| [s.xs[i], s.ys[i]]).collect()
        };
        if n == 0 || x0.is_nan() || x1.is_nan() || x1 <= x0 || columns == 0 {
            return raw(self, 0..n);
        }
        let start = self.xs.partition_point(|&x| x < x0).saturating_sub(1);
        let end = (self.xs.partition_point(|&x| x <= x1) + 1).min(n);
        if end <= start {
            return Vec::new();
        }
        let visible = end - start;
        if visible <= columns * RAW_LIMIT {
            return raw(self, start..end);
        }
        self.reindex();
        let per_block = (visible as f64 / columns as f64 / 4.0).max(1.0);
        let level = (per_block.log2().floor() as usize).min(self.levels.len());
        let width = (x1 - x0) / columns as f64;
        let mut out = Vec::with_capacity(columns * 2 + 2);
        // The point before the view, so the line enters from the edge.
        let mut first = start;
        if self.xs[first] < x0 {
            out.push([self.xs[first], self.ys[first]]);
            first += 1;
        }
        let mut last = end;
        let after = (self.xs[last - 1] > x1).then(|| {
            last -= 1;
            [self.xs[last], self.ys[last]]
        });
        let mut column: Option<Column> = None;
        let mut block = first >> level;
        while block << level < last {
            let a = (block << level).max(first);
            let b = ((block + 1) << level).min(last);
            let (lo, hi) = if level == 0 || a != block << level || b != (block + 1) << level {
                // Raw values at level 0 and in the partial blocks at the edges.
                self.ys[a..b]
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &y| {
                        (lo.min(y), hi.max(y))
                    })
            } else {
                self.levels[level - 1][block]
            };
            let c = (((self.xs[a] - x0) / width) as usize).min(columns - 1);
            match &mut column {
                Some(col) if col.index == c => col.extend(lo, hi, self.xs[b - 1], self.ys[b - 1]),
                _ => {
                    if let Some(done) = column.take() {
                        done.emit(&mut out);
                    }
                    column = Some(Column {
                        index: c,
                        lo,
                        hi,
                        x_first: self.xs[a],
                        y_first: self.ys[a],
                        x_last: self.xs[b - 1],
                        y_last: self.ys[b - 1],
                    });
                }
            }
            block += 1;
        }
        if let Some(done) = column {
            done.emit(&mut out);
        }
        out.extend(after);
        out
    }
}

/// One pixel column of a sweep: the extremes and the first and last points in it.
struct Column {
    index: usize,
    lo: f64,
    hi: f64,
    x_first: f64,
    y_first: f64,
    x_last: f64,
    y_last: f64,
}

impl Column {
    fn extend(&mut self, lo: f64, hi: f64, x_last: f64, y_last: f64) {
        self.lo = self.lo.min(lo);
        self.hi = self.hi.max(hi);
        self.x_last = x_last;
        self.y_last = y_last;
    }

    /// The minimum and maximum, in the order the data reaches them (rising or falling).
    fn emit(self, out: &mut Vec<[f64; 2]>) {
        if self.x_first == self.x_last {
            out.push([self.x_first, self.y_first]);
            return;
        }
        let x = (self.x_first + self.x_last) / 2.0;
        if self.y_first <= self.y_last {
            out.push([x, self.lo]);
            out.push([x, self.hi]);
        } else {
            out.push([x, self.hi]);
            out.push([x, self.lo]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Series {
        Series::from_points("s", (0..n).map(|i| [i as f64, ((i * 7919) % 1000) as f64]))
    }

    /// Every raw point in the view lies inside the envelope drawn near it, and every drawn
    /// value is a value of the data: nothing is lost and nothing invented.
    #[test]
    fn the_envelope_covers_every_point_at_every_zoom() {
        let mut s = ramp(20_000);
        for (view, columns) in [
            ((0.0, 19_999.0), 300),
            ((5_000.0, 9_000.0), 97),
            ((123.0, 4_567.0), 1_000),
        ] {
            let points = s.decimated(view, columns);
            assert!(points.len() <= 2 * columns + 2, "{} points", points.len());
            let width = (view.1 - view.0) / columns as f64;
            for i in 0..s.len() {
                let (x, y) = (s.xs[i], s.ys[i]);
                if x < view.0 || x > view.1 {
                    continue;
                }
                let near = points.iter().filter(|p| (p[0] - x).abs() <= width * 1.5);
                let (lo, hi) = near.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                    (lo.min(p[1]), hi.max(p[1]))
                });
                assert!(
                    lo <= y && y <= hi,
                    "point {i} ({x}, {y}) outside [{lo}, {hi}] at {view:?}"
                );
            }
            for p in &points {
                assert!(s.ys.contains(&p[1]), "{p:?} is not a data value");
            }
        }
    }

    #[test]
    fn decimation_keeps_every_column_extreme_and_bounds_the_points() {
        let mut s = ramp(100_000);
        let points = s.decimated((0.0, 99_999.0), 500);
        assert!(points.len() <= 2 * 500 + 2, "{} points", points.len());
        let lo = points.iter().map(|p| p[1]).fold(f64::INFINITY, f64::min);
        let hi = points
            .iter()
            .map(|p| p[1])
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!((lo, hi), (0.0, 999.0));
        // Zoomed in to 100 points over 500 columns: the raw points, one outside each edge.
        let zoomed = s.decimated((1000.0, 1099.0), 500);
        assert_eq!(zoomed.len(), 102);
        assert_eq!(zoomed[0][0], 999.0);
        assert_eq!(zoomed[101][0], 1100.0);
    }

    #[test]
    fn a_spike_survives_decimation() {
        let mut s = Series::from_points(
            "s",
            (0..50_000).map(|i| [i as f64, if i == 31_337 { 1e6 } else { 1.0 }]),
        );
        let points = s.decimated((0.0, 49_999.0), 300);
        assert!(points.iter().any(|p| p[1] == 1e6));
    }

    #[test]
    fn a_step_logged_again_replaces_the_tail() {
        let mut s = Series::from_points("s", (0..10).map(|i| [i as f64, i as f64]));
        s.push(5.0, -1.0);
        assert_eq!(s.len(), 6);
        assert_eq!(s.last(), Some([5.0, -1.0]));
    }
}
