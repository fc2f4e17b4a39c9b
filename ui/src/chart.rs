//! Line charts that stay fast with millions of points: each series keeps a min/max pyramid, and
//! a frame draws at most two points per pixel column of the visible range (min/max decimation).
//!
//! The pyramid is the bottom-up half of a segment tree: level `k` holds the minimum and maximum
//! of each aligned block of `2^k` values, so the extremes of any index range come from
//! `O(log n)` blocks, whatever the zoom.

use eframe::egui::{self, Color32};
use egui_plot::{HoverPosition, Legend, Line, Plot, PlotPoints};

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
}

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

    /// The smallest and largest y of the values at indices `a..b` (NaN ignored).
    fn extremes(&self, a: usize, b: usize) -> (f64, f64) {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut l, mut r, mut level) = (a, b, 0usize);
        let mut take = |level: usize, i: usize| {
            let (a, b) = if level == 0 {
                (self.ys[i], self.ys[i])
            } else {
                self.levels[level - 1][i]
            };
            lo = lo.min(a);
            hi = hi.max(b);
        };
        while l < r {
            if l & 1 == 1 {
                take(level, l);
                l += 1;
            }
            if r & 1 == 1 {
                r -= 1;
                take(level, r);
            }
            l >>= 1;
            r >>= 1;
            level += 1;
        }
        (lo, hi)
    }

    /// The points to draw for the x range `view` across `columns` pixel columns: the raw points
    /// when there are few, else per column its minimum and maximum (in the order the data
    /// reaches them), plus the nearest point outside each edge so the line runs off the chart.
    pub fn decimated(&mut self, view: (f64, f64), columns: usize) -> Vec<[f64; 2]> {
        let (x0, x1) = view;
        let n = self.xs.len();
        if n == 0 || x0.is_nan() || x1.is_nan() || x1 <= x0 || columns == 0 {
            return self
                .xs
                .iter()
                .zip(&self.ys)
                .map(|(&x, &y)| [x, y])
                .collect();
        }
        let start = self.xs.partition_point(|&x| x < x0).saturating_sub(1);
        let end = (self.xs.partition_point(|&x| x <= x1) + 1).min(n);
        if end <= start {
            return Vec::new();
        }
        if end - start <= columns * RAW_LIMIT {
            return (start..end).map(|i| [self.xs[i], self.ys[i]]).collect();
        }
        self.reindex();
        let mut out = Vec::with_capacity(columns * 2 + 2);
        let width = (x1 - x0) / columns as f64;
        let mut a = start;
        if self.xs[a] < x0 {
            out.push([self.xs[a], self.ys[a]]);
            a += 1;
        }
        for c in 0..columns {
            if a >= end {
                break;
            }
            let edge = x0 + width * (c + 1) as f64;
            let b = if c + 1 == columns {
                self.xs[a..end].partition_point(|&x| x <= x1) + a
            } else {
                self.xs[a..end].partition_point(|&x| x < edge) + a
            };
            if b == a {
                continue;
            }
            if b - a <= RAW_LIMIT {
                out.extend((a..b).map(|i| [self.xs[i], self.ys[i]]));
            } else {
                let (lo, hi) = self.extremes(a, b);
                let x = (self.xs[a] + self.xs[b - 1]) / 2.0;
                if self.ys[a] <= self.ys[b - 1] {
                    out.push([x, lo]);
                    out.push([x, hi]);
                } else {
                    out.push([x, hi]);
                    out.push([x, lo]);
                }
            }
            a = b;
        }
        out.extend((a..end).map(|i| [self.xs[i], self.ys[i]]));
        out
    }
}

/// How a chart shows its series.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ChartStyle {
    /// Plot log10 of the values (values at or below zero are left out).
    pub log_y: bool,
}

/// The colour of the `i`-th series: a fixed palette that reads on dark and light backgrounds.
pub fn color(i: usize) -> Color32 {
    const PALETTE: [Color32; 10] = [
        Color32::from_rgb(0x1f, 0x77, 0xb4),
        Color32::from_rgb(0xff, 0x7f, 0x0e),
        Color32::from_rgb(0x2c, 0xa0, 0x2c),
        Color32::from_rgb(0xd6, 0x27, 0x28),
        Color32::from_rgb(0x94, 0x67, 0xbd),
        Color32::from_rgb(0x8c, 0x56, 0x4b),
        Color32::from_rgb(0xe3, 0x77, 0xc2),
        Color32::from_rgb(0x7f, 0x7f, 0x7f),
        Color32::from_rgb(0xbc, 0xbd, 0x22),
        Color32::from_rgb(0x17, 0xbe, 0xcf),
    ];
    PALETTE[i % PALETTE.len()]
}

/// Draws `series` as lines in a zoomable plot with a legend and hover values. The decimation
/// follows the plot's current x range and width, so zooming in shows the detail.
pub fn line_chart(
    ui: &mut egui::Ui,
    id: &str,
    y_label: &str,
    series: &mut [&mut Series],
    style: ChartStyle,
    height: f32,
) {
    let full =
        series
            .iter()
            .filter_map(|s| s.x_range())
            .fold(None, |acc: Option<(f64, f64)>, (a, b)| {
                Some(acc.map_or((a, b), |(lo, hi)| (lo.min(a), hi.max(b))))
            });
    let log_y = style.log_y;
    let mut plot = Plot::new(id)
        .height(height)
        .legend(Legend::default())
        .x_axis_label("step")
        .y_axis_label(if log_y {
            format!("{y_label} (log10)")
        } else {
            y_label.to_owned()
        })
        .allow_boxed_zoom(true);
    if log_y {
        plot = plot.y_axis_formatter(|mark, _| format!("{:.3}", 10f64.powf(mark.value)));
    }
    plot = plot.label_formatter(move |hover| {
        let (name, position) = match hover {
            HoverPosition::NearDataPoint {
                plot_name,
                position,
                ..
            } => (*plot_name, position),
            HoverPosition::Elsewhere { position } => ("", position),
        };
        let y = if log_y {
            10f64.powf(position.y)
        } else {
            position.y
        };
        Some(format!("{name}\nstep {:.0}\n{y:.5}", position.x))
    });
    plot.show(ui, |plot_ui| {
        let bounds = plot_ui.plot_bounds();
        let columns = plot_ui.transform().frame().width().max(1.0) as usize;
        let auto = plot_ui.auto_bounds().x;
        let view = match full {
            Some(range) if auto || !bounds.is_valid_x() => range,
            Some(_) => (bounds.min()[0], bounds.max()[0]),
            None => (0.0, 1.0),
        };
        for (i, s) in series.iter_mut().enumerate() {
            let mut points = s.decimated(view, columns);
            if log_y {
                points.retain(|p| p[1] > 0.0);
                for p in &mut points {
                    p[1] = p[1].log10();
                }
            }
            plot_ui.line(
                Line::new(s.name.clone(), PlotPoints::new(points))
                    .color(color(i))
                    .width(1.5),
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Series {
        Series::from_points("s", (0..n).map(|i| [i as f64, ((i * 7919) % 1000) as f64]))
    }

    #[test]
    fn extremes_match_a_scan_for_every_range() {
        let mut s = ramp(37);
        s.reindex();
        for a in 0..37 {
            for b in a + 1..=37 {
                let scan = s.ys[a..b]
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &y| {
                        (lo.min(y), hi.max(y))
                    });
                assert_eq!(s.extremes(a, b), scan, "range {a}..{b}");
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
