//! Line charts that stay fast with millions of points: each [`Series`] keeps a min/max pyramid
//! (in `kiln-core`), and a frame draws at most two points per pixel column of the visible range.

use eframe::egui::{self, Color32, Pos2, Shape, epaint::Mesh};
use egui_plot::{
    HoverPosition, Legend, Line, Plot, PlotBounds, PlotGeometry, PlotItem, PlotItemBase, PlotPoint,
    PlotPoints, PlotTransform, Points,
};
pub use kiln_core::series::Series;

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
