//! Runs: every run and study in a table sortable and filterable by params and metrics, curves of
//! several runs overlaid, a parallel-coordinates view of a study, and registering a run.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use eframe::egui::{self, Color32, Pos2, Stroke};
use kiln_core::service::{Answer, Operation, Outcome, Query};
use kiln_core::train::StudySummary;
use kiln_core::{Direction, Objective, RunColumns, RunId, RunRow, StudyId};

use crate::chart::{Axes, ChartStyle, Series, line_chart};
use crate::screen::Frame;
use crate::widgets::number;

/// The objective of the study shown, as stored with it; outside a study, the default one.
fn objective_of(study: Option<StudyId>, studies: &[StudySummary]) -> Objective {
    study
        .and_then(|id| studies.iter().find(|s| s.id == id))
        .map_or_else(Objective::default, |s| s.objective.clone())
}

/// A table column: a fixed field, a param or a metric (its best value).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Column {
    Id,
    Name,
    Study,
    Status,
    Device,
    Param(String),
    Metric(String),
}

impl Column {
    fn title(&self) -> String {
        match self {
            Column::Id => "ID".into(),
            Column::Name => "Name".into(),
            Column::Study => "Study".into(),
            Column::Status => "Status".into(),
            Column::Device => "Device".into(),
            Column::Param(k) | Column::Metric(k) => k.clone(),
        }
    }

    fn width(&self) -> f32 {
        match self {
            Column::Id => 40.0,
            Column::Name | Column::Study => 150.0,
            Column::Status => 70.0,
            Column::Device => 120.0,
            Column::Param(_) => 90.0,
            Column::Metric(_) => 100.0,
        }
    }
}

#[derive(Default)]
pub struct RunsView {
    /// `learning_rate=0.01 val/macro_f1>0.9 mlp`: conditions on params and metrics, and words
    /// matched anywhere in the row.
    pub filter: String,
    pub sort: Option<(Column, bool)>,
    pub selected: BTreeSet<RunId>,
    /// The study whose runs the table shows; `None`: every run.
    pub study: Option<StudyId>,
    pub overlay_metric: String,
    pub style: ChartStyle,
    /// (run, metric) to the points it had when read and the curve, re-read when the run logs
    /// more.
    overlay: HashMap<(RunId, String), (u64, Series)>,
    /// Curves asked for and not yet answered, with the point count they were asked at.
    asked: HashMap<(RunId, String), u64>,
    pub model_name: String,
    /// The newest study and its best runs have been chosen for the first look.
    defaults_applied: bool,
    pub sync: super::sync::SyncDialog,
    /// The table as last worked out: filtering, sorting and choosing columns over thousands of
    /// runs is done again only when what it depends on changes, not every frame.
    table: Option<Table>,
}

/// What the table shows, and what it was worked out from.
struct Table {
    key: TableKey,
    /// Indices into the snapshot's runs, in the order shown.
    shown: Vec<usize>,
    columns: Vec<Column>,
    /// The finished run with the best objective among those shown.
    best: Option<usize>,
}

#[derive(PartialEq)]
struct TableKey {
    generation: u64,
    filter: String,
    sort: Option<(Column, bool)>,
    study: Option<StudyId>,
}

/// One condition of the filter.
#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Text(String),
    Compare { key: String, op: Op, value: String },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

fn parse_filter(text: &str) -> Vec<Condition> {
    text.split_whitespace()
        .map(|token| {
            for (symbol, op) in [
                ("!=", Op::Ne),
                (">=", Op::Ge),
                ("<=", Op::Le),
                ("=", Op::Eq),
                (">", Op::Gt),
                ("<", Op::Lt),
            ] {
                if let Some((key, value)) = token.split_once(symbol)
                    && !key.is_empty()
                {
                    return Condition::Compare {
                        key: key.to_owned(),
                        op,
                        value: value.to_owned(),
                    };
                }
            }
            Condition::Text(token.to_lowercase())
        })
        .collect()
}

/// Whether run `i` of the snapshot meets every condition, read from the columns: its words,
/// params and metrics.
fn matches(i: usize, conditions: &[Condition], cols: &RunColumns) -> bool {
    conditions.iter().all(|c| match c {
        Condition::Text(word) => cols
            .text
            .get(i)
            .is_some_and(|hay| hay.contains(word.as_str())),
        Condition::Compare { key, op, value } => {
            // A param as written, or a metric's best value.
            let param = cols.param(key).and_then(|ids| cols.value(ids[i]));
            let (text, number) = match param {
                Some((text, number)) => (Some(text.as_str()), *number),
                None => match cols.best(key, Direction::of(key), i) {
                    Some(best) => (None, Some(best)),
                    None => return false,
                },
            };
            match (number, value.parse::<f64>()) {
                (Some(a), Ok(b)) => match op {
                    Op::Eq => a == b,
                    Op::Ne => a != b,
                    Op::Lt => a < b,
                    Op::Le => a <= b,
                    Op::Gt => a > b,
                    Op::Ge => a >= b,
                },
                _ => {
                    let actual =
                        text.map_or_else(|| number.unwrap_or(f64::NAN).to_string(), str::to_owned);
                    match op {
                        Op::Eq => actual == *value,
                        Op::Ne => actual != *value,
                        _ => false,
                    }
                }
            }
        }
    })
}

fn cell(row: &RunRow, column: &Column) -> String {
    match column {
        Column::Id => row.run.id.to_string(),
        Column::Name if row.run.origin.is_some() => format!("{} (pulled)", row.run.name),
        Column::Name => row.run.name.clone(),
        Column::Study => row.run.study.clone().unwrap_or_default(),
        Column::Status => row.run.status.to_string(),
        Column::Device => row.run.device.clone().unwrap_or_default(),
        Column::Param(k) => row.param(k).unwrap_or("").to_owned(),
        Column::Metric(k) => number(row.metric(k).map(|m| m.best())),
    }
}

/// What run `i` (`row`) is sorted by in `column`: its number, or else its text.
fn sort_key(i: usize, row: &RunRow, column: &Column, cols: &RunColumns) -> (Option<f64>, String) {
    match column {
        Column::Id => (Some(row.run.id.0 as f64), String::new()),
        Column::Metric(k) => (cols.best(k, Direction::of(k), i), String::new()),
        Column::Param(k) => match cols.param(k).and_then(|ids| cols.value(ids[i])) {
            Some((_, Some(n))) => (Some(*n), String::new()),
            Some((text, None)) => (None, text.clone()),
            None => (None, String::new()),
        },
        _ => (None, cell(row, column)),
    }
}

/// The order of two sort keys: numbers before text, rows without a number go last either way.
fn compare(
    a: &(Option<f64>, String),
    b: &(Option<f64>, String),
    ascending: bool,
) -> std::cmp::Ordering {
    let directed = |order: std::cmp::Ordering| if ascending { order } else { order.reverse() };
    match (a.0, b.0) {
        (Some(x), Some(y)) => directed(x.total_cmp(&y)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => directed(a.1.cmp(&b.1)),
    }
}

impl RunsView {
    pub fn show(&mut self, ui: &mut egui::Ui, frame: &mut Frame<'_>) {
        show(self, ui, frame);
    }

    pub fn on_outcome(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Trained(outcome) => self.show_study(outcome.study),
            Outcome::Demo(report) => self.show_study(report.study.study),
            _ => {}
        }
        self.sync.on_outcome(outcome);
    }

    /// A metric's history, read off the UI thread.
    pub fn on_answer(&mut self, query: &Query, answer: Result<Answer, String>) {
        let Query::MetricHistory { run, key } = query else {
            return;
        };
        let id = (*run, key.clone());
        if !self.asked.contains_key(&id) {
            return;
        }
        // A failed read is in the log; the ask stays, so the curve is asked for again only
        // when the run logs more.
        let Ok(Answer::MetricHistory { points, .. }) = answer else {
            return;
        };
        self.asked.remove(&id);
        let series = Series::from_points(
            format!("run {run}"),
            points.iter().map(|p| [p.step as f64, p.value]),
        );
        // Keyed by the points it has: a newer count asks again.
        self.overlay.insert(id, (points.len() as u64, series));
    }

    /// Shows `study`, with its best runs ticked once its rows arrive.
    pub fn show_study(&mut self, study: StudyId) {
        self.study = Some(study);
        self.selected.clear();
        self.defaults_applied = false;
    }

    /// Ticks `run` alone, so that the Register button names it.
    pub fn pick(&mut self, run: RunId) {
        self.selected = [run].into();
        self.defaults_applied = true;
    }

    /// The rows the table shows, filtered and sorted as the user asked, as indices into
    /// `rows`, whose params and metrics `cols` holds.
    fn visible_indices(
        &self,
        rows: &[RunRow],
        studies: &[StudySummary],
        cols: &RunColumns,
    ) -> Vec<usize> {
        let conditions = parse_filter(&self.filter);
        let study_name = self
            .study
            .and_then(|id| studies.iter().find(|s| s.id == id))
            .map(|s| s.name.as_str());
        let mut shown: Vec<usize> = (0..rows.len())
            .filter(|&i| study_name.is_none_or(|s| rows[i].run.study.as_deref() == Some(s)))
            .filter(|&i| matches(i, &conditions, cols))
            .collect();
        if let Some((column, ascending)) = &self.sort {
            // Each row's key worked out once, not at every comparison.
            let mut keyed: Vec<((Option<f64>, String), usize)> = shown
                .into_iter()
                .map(|i| (sort_key(i, &rows[i], column, cols), i))
                .collect();
            keyed.sort_by(|a, b| compare(&a.0, &b.0, *ascending));
            shown = keyed.into_iter().map(|(_, i)| i).collect();
        }
        shown
    }

    /// The table for this frame: the last one, unless the snapshot, the filter, the sort or
    /// the study changed since.
    fn table(
        &mut self,
        generation: u64,
        rows: &[RunRow],
        cols: &RunColumns,
        studies: &[StudySummary],
    ) -> &Table {
        let key = TableKey {
            generation,
            filter: self.filter.clone(),
            sort: self.sort.clone(),
            study: self.study,
        };
        if self.table.as_ref().is_none_or(|t| t.key != key) {
            let shown = self.visible_indices(rows, studies, cols);
            let columns = columns_of(&shown, cols);
            let objective = objective_of(self.study, studies);
            let best = best_index(rows, &shown, cols, &objective);
            self.table = Some(Table {
                key,
                shown,
                columns,
                best,
            });
        }
        self.table.as_ref().expect("just made")
    }
}

/// The best of the runs `shown` (indices into `rows`) by `objective`, among finished runs
/// trained here, from the columns.
fn best_index(
    rows: &[RunRow],
    shown: &[usize],
    cols: &RunColumns,
    objective: &Objective,
) -> Option<usize> {
    shown
        .iter()
        .copied()
        .filter(|&i| {
            let run = &rows[i].run;
            run.status == kiln_core::RunStatus::Finished && run.origin.is_none()
        })
        .filter_map(|i| {
            cols.best(&objective.key, objective.direction, i)
                .map(|v| (i, v))
        })
        .filter(|(_, v)| v.is_finite())
        .min_by(|(_, a), (_, b)| objective.rank(*a, *b))
        .map(|(i, _)| i)
}

/// A run's best value of the objective's metric, in the objective's direction.
fn best_of(row: &RunRow, objective: &Objective) -> Option<f64> {
    row.metric(&objective.key)
        .map(|m| m.best_for(objective.direction))
}

fn show(view: &mut RunsView, ui: &mut egui::Ui, frame: &mut Frame<'_>) {
    crate::widgets::title(
        ui,
        "Runs",
        "Filter with words or conditions such as learning_rate=0.01 or val/macro_f1>0.9. Click a header to sort; tick runs to overlay their curves.",
    );
    let snapshot = frame.snapshot;
    let rows = &snapshot.runs;
    let studies = &snapshot.studies;
    let mut register: Option<(RunId, String)> = None;
    if !view.defaults_applied && !studies.is_empty() {
        // First look: the newest study, with its best few runs' curves overlaid (once they
        // have values: a study that just started has none yet).
        if view.study.is_none() {
            view.study = studies.last().map(|s| s.id);
        }
        let objective = objective_of(view.study, studies);
        let mut ranked: Vec<&RunRow> = view
            .visible_indices(rows, studies, &snapshot.columns)
            .into_iter()
            .map(|i| &rows[i])
            .collect();
        ranked.retain(|r| r.metric(&objective.key).is_some());
        ranked.sort_by(|a, b| {
            let v = |r: &RunRow| best_of(r, &objective).unwrap_or(f64::NAN);
            objective.rank(v(a), v(b))
        });
        if !ranked.is_empty() {
            view.selected = ranked.iter().take(5).map(|r| r.run.id).collect();
            view.defaults_applied = true;
        }
    }

    ui.horizontal(|ui| {
        let label = ui.label("Filter");
        ui.add(
            egui::TextEdit::singleline(&mut view.filter)
                .hint_text("learning_rate=0.01 val/macro_f1>0.9")
                .desired_width(300.0),
        )
        .labelled_by(label.id);
        let combo_label = ui.label("Study");
        let current = view
            .study
            .and_then(|id| studies.iter().find(|s| s.id == id))
            .map_or("All runs".to_owned(), |s| format!("{}: {}", s.id, s.name));
        egui::ComboBox::from_id_salt("study_filter")
            .selected_text(current)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut view.study, None, "All runs");
                for s in studies {
                    let (id, name, status) = (s.id, &s.name, s.status);
                    ui.selectable_value(
                        &mut view.study,
                        Some(id),
                        format!("{id}: {name} ({status})"),
                    );
                }
            })
            .response
            .labelled_by(combo_label.id);
    });

    let table = view.table(frame.generation, rows, &snapshot.columns, studies);
    let shown: Vec<&RunRow> = table.shown.iter().map(|&i| &rows[i]).collect();
    let columns = table.columns.clone();
    let best = table.best.map(|i| &rows[i]);

    ui.label(format!("{} of {} runs", shown.len(), rows.len()));
    table_ui(ui, view, &shown, &columns);

    // Register: the one ticked run (if it finished), or the best.
    let objective = objective_of(view.study, studies);
    let candidate: Option<&RunRow> = if view.selected.len() == 1 {
        shown
            .iter()
            .copied()
            .find(|r| view.selected.contains(&r.run.id))
            .filter(|r| r.run.status == kiln_core::RunStatus::Finished && r.run.origin.is_none())
    } else {
        best
    };
    ui.horizontal(|ui| {
        let label = ui.label("Model name");
        // Named after the candidate's study once there is a candidate: the runs arrive a
        // moment after the screen first draws.
        if view.model_name.is_empty()
            && let Some(r) = candidate
        {
            view.model_name = r
                .run
                .study
                .as_deref()
                .and_then(|s| s.split('-').next())
                .unwrap_or("model")
                .to_owned();
        }
        ui.add(egui::TextEdit::singleline(&mut view.model_name).desired_width(140.0))
            .labelled_by(label.id);
        let text = match candidate {
            Some(r) if view.selected.len() == 1 => format!("Register run {}", r.run.id),
            Some(r) => format!("Register best run ({})", r.run.id),
            None => "Register best run".into(),
        };
        let enabled = candidate.is_some() && !view.model_name.trim().is_empty();
        if ui
            .add_enabled(enabled, egui::Button::new(text))
            .on_hover_text(format!(
                "Adds the run's model as a new version; the best run is the finished one with the {} {}",
                objective.direction.best_word(),
                objective.key
            ))
            .clicked()
            && let Some(r) = candidate
        {
            register = Some((r.run.id, view.model_name.trim().to_owned()));
        }
        ui.separator();
        if ui
            .button("Sync with MLflow…")
            .on_hover_text("Push these runs and models to an MLflow tracking server, or pull an experiment's runs")
            .clicked()
        {
            let project = frame.project.map_or("kiln", |p| p.name).to_owned();
            view.sync.open_with(&snapshot.mlflow, &project);
        }
    });

    ui.separator();
    // The curves and the study's parallel coordinates side by side, each sized to the room
    // left, so that both are whole without scrolling on a 1280 x 800 window; on a narrow or
    // short window the area scrolls.
    let side_by_side = view.study.is_some() && ui.available_width() >= 900.0;
    let room = ui.available_height();
    let height = if side_by_side {
        room - 70.0
    } else {
        room / 2.0 - 60.0
    }
    .clamp(160.0, 520.0);
    egui::ScrollArea::vertical()
        .id_salt("runs_below")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            if side_by_side {
                let width = (ui.available_width() - 16.0) / 2.0;
                ui.horizontal_top(|ui| {
                    ui.vertical(|ui| {
                        ui.set_width(width);
                        overlay_ui(ui, view, frame, rows, height);
                    });
                    ui.separator();
                    ui.vertical(|ui| {
                        ui.set_width(width);
                        if let Some(study) = view.study {
                            parallel_ui(ui, study, studies, &shown, height);
                        }
                    });
                });
            } else {
                overlay_ui(ui, view, frame, rows, height);
                if let Some(study) = view.study {
                    ui.separator();
                    parallel_ui(ui, study, studies, &shown, height);
                }
            }
        });

    view.sync.show(ui.ctx(), frame);
    if let Some((run, model)) = register {
        frame.run(Operation::Register {
            model,
            run,
            alias: None,
        });
    }
}

/// The table's columns for the rows shown: the fixed fields, the params that vary, the
/// metrics (validation, test, training, the rest), then the params that do not vary.
fn columns_of(shown: &[usize], cols: &RunColumns) -> Vec<Column> {
    let mut columns = vec![
        Column::Id,
        Column::Name,
        Column::Study,
        Column::Status,
        Column::Device,
    ];
    // The params that differ between the rows first: they are what a comparison is about.
    let mut constant = Vec::new();
    for (key, ids) in &cols.params {
        let mut values = shown.iter().map(|&i| ids[i]);
        let Some(first) = values.next() else { continue };
        let present =
            first != RunColumns::ABSENT || values.clone().any(|v| v != RunColumns::ABSENT);
        if !present {
            continue;
        }
        if values.any(|v| v != first) {
            columns.push(Column::Param(key.clone()));
        } else {
            constant.push(Column::Param(key.clone()));
        }
    }
    // Validation metrics first (what studies rank by), then test, then training, then the rest.
    let mut metrics: Vec<&str> = cols
        .metrics
        .iter()
        .filter(|(_, values)| shown.iter().any(|&i| values[i].is_some()))
        .map(|(k, _)| k.as_str())
        .collect();
    metrics.sort_by_key(|k| {
        let rank = ["val/", "test/", "train/"]
            .iter()
            .position(|p| k.starts_with(p))
            .unwrap_or(3);
        (rank, *k)
    });
    columns.extend(metrics.into_iter().map(|k| Column::Metric(k.to_owned())));
    columns.extend(constant);
    columns
}

/// A small triangle at the right of a header: pointing up when the smallest comes first.
fn sort_mark(ui: &egui::Ui, rect: egui::Rect, ascending: bool) {
    let c = egui::pos2(rect.right() - 8.0, rect.center().y);
    let (tip, base) = if ascending { (-4.0, 3.0) } else { (4.0, -3.0) };
    let points = vec![
        c + egui::vec2(-4.0, base),
        c + egui::vec2(4.0, base),
        c + egui::vec2(0.0, tip),
    ];
    let color = ui.visuals().strong_text_color();
    ui.painter().add(egui::Shape::convex_polygon(
        points,
        color,
        egui::Stroke::NONE,
    ));
}

fn table_ui(ui: &mut egui::Ui, view: &mut RunsView, shown: &[&RunRow], columns: &[Column]) {
    let row_height = 20.0;
    egui::ScrollArea::horizontal()
        .id_salt("runs_h")
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.add_sized([24.0, row_height], egui::Label::new(""));
                for column in columns {
                    let sorted = match &view.sort {
                        Some((c, ascending)) if c == column => Some(*ascending),
                        _ => None,
                    };
                    // Room at the right for the sort mark, drawn as a shape: the default
                    // fonts have no arrow glyphs.
                    let room = if sorted.is_some() { "    " } else { "" };
                    let button = egui::Button::new(
                        egui::RichText::new(format!("{}{room}", column.title())).strong(),
                    )
                    .frame(false)
                    .truncate();
                    let response = ui
                        .add_sized([column.width(), row_height], button)
                        .on_hover_text(match sorted {
                            Some(true) => format!("Sorted by {}, smallest first", column.title()),
                            Some(false) => format!("Sorted by {}, largest first", column.title()),
                            None => format!("Sort by {}", column.title()),
                        });
                    if let Some(ascending) = sorted {
                        sort_mark(ui, response.rect, ascending);
                    }
                    if response.clicked() {
                        view.sort = match &view.sort {
                            Some((c, asc)) if c == column => Some((column.clone(), !asc)),
                            _ => Some((column.clone(), !matches!(column, Column::Metric(_)))),
                        };
                    }
                }
            });
            // At most 40% of the screen's height, so the curves below keep their room.
            let most = (ui.ctx().content_rect().height() * 0.4 - 60.0).clamp(100.0, 260.0);
            egui::ScrollArea::vertical()
                .id_salt("runs_v")
                .max_height(most)
                .auto_shrink([false, true])
                .show_rows(ui, row_height, shown.len(), |ui, range| {
                    for row in &shown[range] {
                        ui.horizontal(|ui| {
                            let mut ticked = view.selected.contains(&row.run.id);
                            if ui
                                .add_sized(
                                    [24.0, row_height],
                                    egui::Checkbox::without_text(&mut ticked),
                                )
                                .on_hover_text(format!("Select run {}", row.run.id))
                                .changed()
                            {
                                if ticked {
                                    view.selected.insert(row.run.id);
                                } else {
                                    view.selected.remove(&row.run.id);
                                }
                            }
                            for column in columns {
                                let text = cell(row, column);
                                let label = egui::Label::new(text.clone()).truncate();
                                ui.add_sized([column.width(), row_height], label)
                                    .on_hover_text(text);
                            }
                        });
                    }
                });
        });
}

fn overlay_ui(
    ui: &mut egui::Ui,
    view: &mut RunsView,
    frame: &mut Frame<'_>,
    rows: &[RunRow],
    height: f32,
) {
    // The ticked runs, found by their place in the list rather than by reading every row.
    let positions = &frame.snapshot.columns.positions;
    let selected: Vec<&RunRow> = view
        .selected
        .iter()
        .filter_map(|id| positions.get(id).map(|&i| &rows[i]))
        .collect();
    if selected.is_empty() {
        ui.label("Tick runs in the table to overlay their curves.");
        return;
    }
    let keys: BTreeSet<String> = selected
        .iter()
        .flat_map(|r| {
            r.metrics
                .iter()
                .filter(|m| m.points > 1)
                .map(|m| m.key.clone())
        })
        .collect();
    if !keys.contains(&view.overlay_metric) {
        view.overlay_metric = keys
            .iter()
            .find(|k| k.as_str() == "val/loss")
            .or_else(|| keys.iter().next())
            .cloned()
            .unwrap_or_default();
    }
    ui.horizontal(|ui| {
        let combo_label = ui.strong(format!("Curves of {} runs", selected.len()));
        egui::ComboBox::from_id_salt("overlay_metric")
            .selected_text(view.overlay_metric.clone())
            .show_ui(ui, |ui| {
                for k in &keys {
                    ui.selectable_value(&mut view.overlay_metric, k.clone(), k);
                }
            })
            .response
            .labelled_by(combo_label.id);
        ui.checkbox(&mut view.style.log_y, "Log scale");
        if ui.button("Clear selection").clicked() {
            view.selected.clear();
        }
    });
    let key = view.overlay_metric.clone();
    let mut wanted: std::collections::HashSet<(RunId, String)> = Default::default();
    for row in &selected {
        let points = row.metric(&key).map_or(0, |m| m.points);
        let id = (row.run.id, key.clone());
        let stale = view.overlay.get(&id).is_none_or(|(n, _)| *n != points);
        let asked = view.asked.get(&id).is_some_and(|n| *n == points);
        if stale && points > 0 && !asked {
            view.asked.insert(id.clone(), points);
            frame.send(crate::screen::Command::Ask(Query::MetricHistory {
                run: row.run.id,
                key: key.clone(),
            }));
        }
        if let Some((_, series)) = view.overlay.get_mut(&id) {
            series.name = format!("run {} {}", row.run.id, row.run.name);
        }
        wanted.insert(id);
    }
    let mut series: Vec<&mut Series> = view
        .overlay
        .iter_mut()
        .filter(|(id, _)| wanted.contains(id))
        .map(|(_, (_, s))| s)
        .collect();
    series.sort_by(|a, b| a.name.cmp(&b.name));
    // A pulled run's steps are whatever its tool counted, not Kiln's epochs.
    let x = if selected.iter().any(|r| r.run.origin.is_some()) {
        "step"
    } else {
        kiln_core::train::space::step_unit(&key)
    };
    let axes = Axes { x, y: &key };
    // One plot per metric: a zoom on one metric's curves is not kept for another's.
    let id = format!("overlay:{key}");
    line_chart(ui, &id, axes, &mut series, view.style, height);
}

/// One axis of the parallel-coordinates view: numeric, or categories spread evenly.
struct Axis {
    name: String,
    values: Vec<Option<f64>>,
    labels: Vec<(f64, String)>,
}

fn axis(name: &str, raw: Vec<Option<String>>) -> Axis {
    let numeric: Option<Vec<Option<f64>>> = raw
        .iter()
        .map(|v| match v {
            None => Some(None),
            Some(s) => s.parse::<f64>().ok().map(Some),
        })
        .collect();
    if let Some(values) = numeric {
        let present: Vec<f64> = values.iter().flatten().copied().collect();
        let (lo, hi) = present
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let norm: Vec<Option<f64>> = values
            .iter()
            .map(|v| v.map(|v| if hi > lo { (v - lo) / (hi - lo) } else { 0.5 }))
            .collect();
        let labels = if present.is_empty() {
            Vec::new()
        } else if hi > lo {
            vec![(0.0, short(lo)), (1.0, short(hi))]
        } else {
            vec![(0.5, short(lo))]
        };
        return Axis {
            name: name.to_owned(),
            values: norm,
            labels,
        };
    }
    let categories: BTreeMap<String, usize> = raw
        .iter()
        .flatten()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, c)| (c, i))
        .collect();
    let n = categories.len().max(1);
    let place = |i: usize| {
        if n == 1 {
            0.5
        } else {
            i as f64 / (n - 1) as f64
        }
    };
    Axis {
        name: name.to_owned(),
        values: raw
            .iter()
            .map(|v| {
                v.as_ref()
                    .and_then(|v| categories.get(v))
                    .map(|&i| place(i))
            })
            .collect(),
        labels: categories
            .iter()
            .map(|(c, &i)| (place(i), c.clone()))
            .collect(),
    }
}

fn short(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e4) {
        format!("{v:.2e}")
    } else {
        format!("{}", (v * 10_000.0).round() / 10_000.0)
    }
}

fn parallel_ui(
    ui: &mut egui::Ui,
    study: StudyId,
    studies: &[StudySummary],
    shown: &[&RunRow],
    height: f32,
) {
    let name = studies
        .iter()
        .find(|s| s.id == study)
        .map_or("", |s| s.name.as_str());
    let objective = objective_of(Some(study), studies);
    let minimize = objective.minimize();
    ui.strong(format!(
        "Parallel coordinates of study {study} {name}: params against {}",
        objective.key
    ));
    let runs: Vec<&RunRow> = shown
        .iter()
        .copied()
        .filter(|r| r.metric(&objective.key).is_some())
        .collect();
    if runs.is_empty() {
        ui.label("No finished trial with this metric yet.");
        return;
    }
    // The params that vary across the study's runs, then the objective.
    let keys: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.params.iter().map(|(k, _)| k.as_str()))
        .collect();
    let mut axes: Vec<Axis> = keys
        .into_iter()
        .filter(|k| *k != "trial" && *k != "seed")
        .filter(|k| {
            let distinct: BTreeSet<Option<&str>> = runs.iter().map(|r| r.param(k)).collect();
            distinct.len() > 1
        })
        .map(|k| {
            axis(
                k,
                runs.iter().map(|r| r.param(k).map(str::to_owned)).collect(),
            )
        })
        .collect();
    let scores: Vec<Option<String>> = runs
        .iter()
        .map(|r| best_of(r, &objective).map(|v| v.to_string()))
        .collect();
    axes.push(axis(&objective.key, scores));
    let objective_values = axes.last().map(|a| a.values.clone()).unwrap_or_default();

    let (rect, _) = ui.allocate_exact_size(
        egui::vec2(ui.available_width().min(1000.0), height),
        egui::Sense::hover(),
    );
    let painter = ui.painter_at(rect);
    let text = ui.visuals().text_color();
    let weak = ui.visuals().weak_text_color();
    let tick_font = egui::FontId::proportional(11.0);
    let name_font = egui::FontId::proportional(12.0);
    // Each axis's tick labels sit to its left, so the first axis starts after the widest of
    // its own labels, and the names alternate between two rows when they would touch.
    let ticks: Vec<Vec<(f64, std::sync::Arc<egui::Galley>)>> = axes
        .iter()
        .map(|a| {
            a.labels
                .iter()
                .map(|(v, l)| {
                    (
                        *v,
                        painter.layout_no_wrap(l.clone(), tick_font.clone(), text),
                    )
                })
                .collect()
        })
        .collect();
    let names: Vec<std::sync::Arc<egui::Galley>> = axes
        .iter()
        .map(|a| painter.layout_no_wrap(a.name.clone(), name_font.clone(), text))
        .collect();
    let widest = |i: usize| ticks[i].iter().map(|(_, g)| g.size().x).fold(0.0, f32::max);
    let n = axes.len();
    let left = rect.left() + (widest(0) + 10.0).max(names[0].size().x / 2.0 + 4.0);
    // On a rect too narrow for the margins, the axes still run left to right.
    let right = (rect.right() - (names[n - 1].size().x / 2.0 + 4.0).max(12.0)).max(left + 1.0);
    let x_of = |i: usize| {
        if n == 1 {
            rect.center().x
        } else {
            left + (right - left) * i as f32 / (n - 1) as f32
        }
    };
    let gap = if n > 1 {
        (right - left) / (n - 1) as f32
    } else {
        f32::MAX
    };
    let staggered = names.iter().any(|g| g.size().x + 8.0 > gap);
    let top = rect.top() + if staggered { 40.0 } else { 24.0 };
    let bottom = rect.bottom() - 10.0;
    let y_of = |v: f64| bottom - (bottom - top) * v as f32;
    for (r, _) in runs.iter().enumerate() {
        let shade = objective_values[r].map_or(0.0, |v| if minimize { 1.0 - v } else { v });
        let line_color = blend(
            Color32::from_rgb(0x44, 0x55, 0xcc),
            Color32::from_rgb(0xee, 0x88, 0x22),
            shade,
        );
        let points: Vec<Pos2> = axes
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.values[r].map(|v| Pos2::new(x_of(i), y_of(v))))
            .collect();
        painter.add(egui::Shape::line(points, Stroke::new(1.5, line_color)));
    }
    // Labels on a backing of the panel's colour, so the lines never run through their text.
    let backing = ui.visuals().panel_fill.gamma_multiply(0.85);
    for (i, name) in names.into_iter().enumerate() {
        let x = x_of(i);
        painter.line_segment(
            [Pos2::new(x, top), Pos2::new(x, bottom)],
            Stroke::new(1.0, weak),
        );
        let row = if staggered && i % 2 == 1 { 18.0 } else { 2.0 };
        let at = Pos2::new(x - name.size().x / 2.0, rect.top() + row);
        painter.galley(at, name, text);
        for (v, galley) in &ticks[i] {
            let size = galley.size();
            let at = Pos2::new(x - 4.0 - size.x, y_of(*v) - size.y / 2.0);
            painter.rect_filled(
                egui::Rect::from_min_size(at, size).expand(1.0),
                2.0,
                backing,
            );
            painter.galley(at, galley.clone(), text);
        }
    }
    ui.label(
        egui::RichText::new(if minimize {
            "Lines run from blue (highest objective) to orange (lowest, the best)."
        } else {
            "Lines run from blue (lowest objective) to orange (highest, the best)."
        })
        .weak(),
    );
}

fn blend(a: Color32, b: Color32, t: f64) -> Color32 {
    let t = t.clamp(0.0, 1.0) as f32;
    let mix = |x: u8, y: u8| (f32::from(x) + (f32::from(y) - f32::from(x)) * t).round() as u8;
    Color32::from_rgb(mix(a.r(), b.r()), mix(a.g(), b.g()), mix(a.b(), b.b()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_conditions_and_words() {
        assert_eq!(
            parse_filter("learning_rate=0.01 val/macro_f1>=0.9 mlp"),
            vec![
                Condition::Compare {
                    key: "learning_rate".into(),
                    op: Op::Eq,
                    value: "0.01".into()
                },
                Condition::Compare {
                    key: "val/macro_f1".into(),
                    op: Op::Ge,
                    value: "0.9".into()
                },
                Condition::Text("mlp".into()),
            ]
        );
    }
}
