//! Line charts that stay fast with millions of points: each series keeps a min/max pyramid, and
//! a frame draws at most two points per pixel column of the visible range (min/max decimation).
//!
//! The pyramid is the bottom-up half of a segment tree: level `k` holds the minimum and maximum
//! of each aligned block of `2^k` values, so the extremes of any index range come from
//! `O(log n)` blocks, whatever the zoom.

use eframe::egui::{self, Color32, Pos2, Shape, epaint::Mesh};
use egui_plot::{
    HoverPosition, Legend, Line, Plot, PlotBounds, PlotGeometry, PlotItem, PlotItemBase, PlotPoint,
    PlotPoints, PlotTransform, Points,
};

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
    fn is_cached(&self, view: (f64, f64), columns: usize) -> bool {
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

/// From this many points a series is drawn as one mesh of plain quads ([`DenseLine`]) rather
/// than as an anti-aliased path: at two points per pixel column the difference does not show,
/// and the mesh costs a third of the tessellation.
const MESH_FROM: usize = 1024;

/// A line of many points, drawn as a mesh of one quad per segment. Hover, legend and hiding
/// work as for any plot item.
struct DenseLine {
    base: PlotItemBase,
    points: Vec<PlotPoint>,
    color: Color32,
    bounds: PlotBounds,
}

impl DenseLine {
    fn new(name: String, points: Vec<[f64; 2]>, color: Color32) -> DenseLine {
        let mut bounds = PlotBounds::NOTHING;
        let points: Vec<PlotPoint> = points
            .into_iter()
            .map(|[x, y]| {
                let p = PlotPoint::new(x, y);
                bounds.extend_with(&p);
                p
            })
            .collect();
        DenseLine {
            base: PlotItemBase::new(name),
            points,
            color,
            bounds,
        }
    }
}

impl PlotItem for DenseLine {
    fn shapes(&self, _ui: &egui::Ui, transform: &PlotTransform, shapes: &mut Vec<Shape>) {
        let half = if self.highlighted() { 1.0 } else { 0.6 };
        let mut mesh = Mesh::default();
        mesh.reserve_vertices(self.points.len() * 4);
        mesh.reserve_triangles(self.points.len() * 2);
        let mut previous: Option<Pos2> = None;
        for point in &self.points {
            let b = transform.position_from_point(point);
            if let Some(a) = previous {
                let d = b - a;
                let length = d.length();
                if length > 1e-3 {
                    let n = egui::vec2(-d.y, d.x) * (half / length);
                    // Stretch along the segment too, so that turns leave no gaps.
                    let t = d * (half / length);
                    let i = mesh.vertices.len() as u32;
                    mesh.colored_vertex(a - t + n, self.color);
                    mesh.colored_vertex(a - t - n, self.color);
                    mesh.colored_vertex(b + t + n, self.color);
                    mesh.colored_vertex(b + t - n, self.color);
                    mesh.add_triangle(i, i + 1, i + 2);
                    mesh.add_triangle(i + 1, i + 3, i + 2);
                }
            }
            previous = Some(b);
        }
        shapes.push(Shape::mesh(mesh));
    }

    fn initialize(&mut self, _x_range: std::ops::RangeInclusive<f64>) {}

    fn color(&self) -> Color32 {
        self.color
    }

    fn geometry(&self) -> PlotGeometry<'_> {
        PlotGeometry::Points(&self.points)
    }

    fn bounds(&self) -> PlotBounds {
        self.bounds
    }

    fn base(&self) -> &PlotItemBase {
        &self.base
    }

    fn base_mut(&mut self) -> &mut PlotItemBase {
        &mut self.base
    }
}

/// Brings every series' decimation up to date for `view`, spreading the stale ones over the
/// CPU's cores: after a zoom or a pan of a chart of many large series, each is swept anew.
fn decimate_all(series: &mut [&mut Series], view: (f64, f64), columns: usize) {
    let stale: Vec<&mut Series> = series
        .iter_mut()
        .map(|s| &mut **s)
        .filter(|s| !s.is_cached(view, columns))
        .collect();
    let points: usize = stale.iter().map(|s| s.len()).sum();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    // Below a million points, one thread is quicker than starting others.
    if threads < 2 || points < 1_000_000 {
        for s in stale {
            s.decimated(view, columns);
        }
        return;
    }
    let per_thread = stale.len().div_ceil(threads);
    let mut stale = stale;
    std::thread::scope(|scope| {
        for chunk in stale.chunks_mut(per_thread) {
            scope.spawn(move || {
                for s in chunk.iter_mut() {
                    s.decimated(view, columns);
                }
            });
        }
    });
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

/// The bounds a chart showed in its last frame, as (x range, y range): what a user sees.
pub fn shown_bounds(ctx: &egui::Context, id: &str) -> Option<([f64; 2], [f64; 2])> {
    ctx.data(|d| d.get_temp(bounds_id(id)))
}

fn bounds_id(id: &str) -> egui::Id {
    egui::Id::unique(("kiln chart bounds", id))
}

/// What the axes of a chart say.
#[derive(Debug, Clone, Copy)]
pub struct Axes<'a> {
    /// What one step on the x axis counts: `epoch`, `batch`, `step`.
    pub x: &'a str,
    pub y: &'a str,
}

/// Draws `series` as lines in a zoomable plot with a legend and hover values. The decimation
/// follows the plot's current x range and width, so zooming in shows the detail.
///
/// Until the user zooms or drags, the chart fits all of its data, frame after frame, as points
/// arrive; a double click returns to that. The mouse wheel scrolls the page, not the chart
/// (zoom is Ctrl and the wheel, or a box drawn with the right button), so that scrolling past
/// a chart never moves its data off screen.
pub fn line_chart(
    ui: &mut egui::Ui,
    id: &str,
    axes: Axes<'_>,
    series: &mut [&mut Series],
    style: ChartStyle,
    height: f32,
) {
    let y_label = axes.y;
    let x_label = axes.x.to_owned();
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
        .x_axis_label(x_label.clone())
        .allow_scroll(false)
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
        Some(format!("{name}\n{x_label} {:.0}\n{y:.5}", position.x))
    });
    let shown = plot.show(ui, |plot_ui| {
        let bounds = plot_ui.plot_bounds();
        let columns = plot_ui.transform().frame().width().max(1.0) as usize;
        let auto = plot_ui.auto_bounds().x;
        let view = match full {
            Some(range) if auto || !bounds.is_valid_x() => range,
            Some(_) => (bounds.min()[0], bounds.max()[0]),
            None => (0.0, 1.0),
        };
        decimate_all(series, view, columns);
        for (i, s) in series.iter_mut().enumerate() {
            let mut points = s.decimated(view, columns);
            if log_y {
                points.retain(|p| p[1] > 0.0);
                for p in &mut points {
                    p[1] = p[1].log10();
                }
            }
            if points.len() == 1 {
                // A line needs two points: the first value of a run shows as a dot.
                plot_ui.points(
                    Points::new(s.name.clone(), PlotPoints::new(points))
                        .color(color(i))
                        .radius(3.0),
                );
            } else if points.len() <= MESH_FROM {
                plot_ui.line(
                    Line::new(s.name.clone(), PlotPoints::new(points))
                        .color(color(i))
                        .width(1.5),
                );
            } else {
                plot_ui.add(DenseLine::new(s.name.clone(), points, color(i)));
            }
        }
    });
    let bounds = shown.transform.bounds();
    let seen = (
        [bounds.min()[0], bounds.max()[0]],
        [bounds.min()[1], bounds.max()[1]],
    );
    ui.ctx().data_mut(|d| d.insert_temp(bounds_id(id), seen));
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
