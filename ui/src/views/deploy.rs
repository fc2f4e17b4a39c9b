//! Deploy: two versions of a model over a traffic file, in shadow or A/B mode, with the
//! replay's progress, its verdict under the stated rule, the contingency table and intervals,
//! the latency histograms, where the versions disagree, and promotion with a confirmation.

use std::path::Path;

use eframe::egui::{self, Color32, RichText};
use egui_plot::{Bar, BarChart, Legend, Plot};
use kiln_core::registry::VersionSelector;
use kiln_core::replay::{
    Decision, ReplayMode, ReplayPhase, ReplayProgress, ReplayReport, ReplayRequest,
};
use kiln_core::service::{Answer, Operation, Outcome, Query};

use crate::screen::{Command, Frame, Purpose};

const PROMOTE: Color32 = Color32::from_rgb(0x3f, 0x9a, 0x5c);
const KEEP: Color32 = Color32::from_rgb(0x4a, 0x78, 0xc2);
const UNSURE: Color32 = Color32::from_rgb(0xc2, 0x8a, 0x2a);

pub struct DeployView {
    pub model: String,
    /// The version in service and the candidate: `@alias` or `vN`.
    pub a: String,
    pub b: String,
    pub traffic: String,
    pub mode: ReplayMode,
    pub split: String,
    pub seed: String,
    /// The row key column (empty: the row number).
    pub key: String,
    /// The model's replay reports, newest first, and the one shown.
    pub reports: Vec<ReplayReport>,
    pub shown: Option<i64>,
    /// The model whose reports were asked for, at the project's count of reports then: a new
    /// report, from here or (when this window only reads the project) from the process that
    /// writes it, asks again.
    asked: Option<(String, u64)>,
    /// How far the running replay has got.
    pub progress: Option<ReplayProgress>,
    /// The batch size whose latency histogram shows.
    pub latency_batch: usize,
    /// A promotion awaiting its confirmation: the report it comes from, alias, version.
    pub confirm: Option<(i64, String, u32)>,
}

impl Default for DeployView {
    fn default() -> DeployView {
        DeployView {
            model: String::new(),
            a: "@champion".into(),
            b: "@challenger".into(),
            traffic: String::new(),
            mode: ReplayMode::Shadow,
            split: "0.5".into(),
            seed: "0".into(),
            key: String::new(),
            reports: Vec::new(),
            shown: None,
            asked: None,
            progress: None,
            latency_batch: 1,
            confirm: None,
        }
    }
}

impl DeployView {
    pub fn on_answer(&mut self, query: &Query, answer: Result<Answer, String>) {
        if let (Query::Replays { model }, Ok(Answer::Replays(reports))) = (query, answer)
            && *model == self.model
        {
            if self.shown.is_none() {
                self.shown = reports.first().map(|r| r.id);
            }
            self.reports = reports;
        }
    }

    pub fn on_outcome(&mut self, outcome: &Outcome) {
        if let Outcome::Replayed(report) = outcome {
            self.model = report.model.clone();
            self.shown = Some(report.id);
            self.reports.insert(0, (**report).clone());
        }
    }

    pub fn on_progress(&mut self, progress: &ReplayProgress) {
        self.progress = Some(progress.clone());
    }

    /// A job ended, whatever it was: a replay's progress ends with it.
    pub fn on_job_done(&mut self) {
        self.progress = None;
    }

    pub fn on_picked(&mut self, path: &Path) {
        self.traffic = path.display().to_string();
    }

    /// The replay the form describes.
    pub fn replay_operation(&self) -> Result<Operation, String> {
        let selector = |text: &str, which: &str| {
            text.trim()
                .parse::<VersionSelector>()
                .map_err(|e| format!("{which}: {e}"))
        };
        // The split is read in A/B mode only, where its field shows.
        let split: f64 = match self.mode {
            ReplayMode::Ab => self
                .split
                .trim()
                .parse()
                .map_err(|_| format!("Split {:?} is not a number", self.split))?,
            ReplayMode::Shadow => 0.5,
        };
        let seed: u64 = self
            .seed
            .trim()
            .parse()
            .map_err(|_| format!("Seed {:?} is not a whole number", self.seed))?;
        if self.traffic.trim().is_empty() {
            return Err("choose a traffic file first".into());
        }
        Ok(Operation::Replay(Box::new(ReplayRequest {
            mode: self.mode,
            split,
            seed,
            key: crate::widgets::non_empty(&self.key),
            ..ReplayRequest::new(
                &self.model,
                selector(&self.a, "Version A")?,
                selector(&self.b, "Version B")?,
                self.traffic.trim().into(),
            )
        })))
    }

    pub fn show(&mut self, ui: &mut egui::Ui, frame: &mut Frame) {
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| show(self, ui, frame));
    }
}

fn show(view: &mut DeployView, ui: &mut egui::Ui, frame: &mut Frame) {
    crate::widgets::title(
        ui,
        "Deploy",
        "Two versions over recorded traffic, as their exported graphs serve it: shadow (both score every row) or A/B (each row to one), with a verdict.",
    );
    let models = &frame.snapshot.models;
    if models.is_empty() {
        ui.label("No registered model yet: register two versions on the Runs screen, then compare them here.");
        return;
    }
    if !models.iter().any(|(m, _)| *m == view.model) {
        view.model = models[0].0.clone();
        view.reports.clear();
        view.shown = None;
    }
    let versions = models
        .iter()
        .find(|(m, _)| *m == view.model)
        .map(|(_, v)| v.as_slice())
        .unwrap_or_default();
    let choices: Vec<String> = versions
        .iter()
        .flat_map(|v| {
            std::iter::once(format!("v{}", v.version))
                .chain(v.aliases.iter().map(|a| format!("@{a}")))
        })
        .collect();
    // A choice the model does not have (the defaults name aliases it may lack) falls back to
    // one it has: A to its first version, B to its newest other than A's.
    if !choices.contains(&view.a)
        && let Some(first) = versions.first()
    {
        view.a = format!("v{}", first.version);
    }
    if !choices.contains(&view.b) {
        let a = versions
            .iter()
            .find(|v| {
                format!("v{}", v.version) == view.a
                    || v.aliases.iter().any(|al| format!("@{al}") == view.a)
            })
            .map(|v| v.version);
        if let Some(newest) = versions.iter().rev().find(|v| Some(v.version) != a) {
            view.b = format!("v{}", newest.version);
        }
    }
    let key = (view.model.clone(), frame.snapshot.replays);
    if view.asked.as_ref() != Some(&key) {
        view.asked = Some(key);
        frame.send(Command::Ask(Query::Replays {
            model: view.model.clone(),
        }));
    }

    ui.horizontal(|ui| {
        let label = ui.label("Model");
        egui::ComboBox::from_id_salt("deploy_model")
            .selected_text(view.model.clone())
            .show_ui(ui, |ui| {
                for (m, _) in models {
                    if ui.selectable_label(view.model == *m, m).clicked() {
                        view.model = m.clone();
                        view.reports.clear();
                        view.shown = None;
                    }
                }
            })
            .response
            .labelled_by(label.id);
        for (name, value, salt) in [
            ("Version A", &mut view.a, "deploy_a"),
            ("Version B", &mut view.b, "deploy_b"),
        ] {
            let label = ui.label(name);
            egui::ComboBox::from_id_salt(salt)
                .selected_text(value.clone())
                .show_ui(ui, |ui| {
                    for choice in &choices {
                        if ui.selectable_label(value == choice, choice).clicked() {
                            *value = choice.clone();
                        }
                    }
                })
                .response
                .labelled_by(label.id);
        }
    });
    let browse = crate::widgets::path_field(
        ui,
        "Traffic file",
        &mut view.traffic,
        "a CSV of requests with the model's columns; labels are optional",
    );
    if browse {
        frame.send(Command::Pick(Purpose::ReplayTraffic));
    }
    ui.horizontal(|ui| {
        ui.label("Mode");
        ui.radio_value(&mut view.mode, ReplayMode::Shadow, "Shadow")
            .on_hover_text("Both versions score every row; B's answers are only recorded.");
        ui.radio_value(&mut view.mode, ReplayMode::Ab, "A/B")
            .on_hover_text("Each row goes to one version, by a seeded hash of its key.");
        if view.mode == ReplayMode::Ab {
            for (name, value, width) in [
                ("Split", &mut view.split, 40.0),
                ("Seed", &mut view.seed, 60.0),
                ("Row key", &mut view.key, 120.0),
            ] {
                let label = ui.label(name);
                ui.add(egui::TextEdit::singleline(value).desired_width(width))
                    .labelled_by(label.id);
            }
        }
    });
    let can_run = frame.writable() && !frame.busy() && !view.traffic.trim().is_empty();
    ui.horizontal(|ui| {
        if ui
            .add_enabled(can_run, egui::Button::new("Replay"))
            .on_hover_text(
                "Score the traffic with both versions, measure their latency, and give a verdict",
            )
            .clicked()
        {
            match view.replay_operation() {
                Ok(operation) => {
                    view.progress = Some(ReplayProgress {
                        phase: ReplayPhase::Scoring,
                        rows_done: 0,
                        rows_total: 0,
                    });
                    frame.run(operation);
                }
                Err(e) => frame.fail("Cannot replay", e),
            }
        }
        // Only while the job runs: a replay refused before it starts sends no end.
        if let Some(progress) = &view.progress
            && frame.busy()
        {
            ui.add(
                egui::ProgressBar::new(progress.share())
                    .desired_width(240.0)
                    .text(progress.line()),
            );
        }
    });
    ui.separator();

    if view.reports.is_empty() {
        ui.label("No replay yet for this model.");
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.label("Reports:");
        for r in &view.reports {
            let text = format!(
                "#{} {} v{}/v{}: {}",
                r.id,
                r.mode,
                r.a.version,
                r.b.version,
                r.verdict.decision.as_str()
            );
            if ui
                .selectable_label(view.shown == Some(r.id), text)
                .clicked()
            {
                view.shown = Some(r.id);
            }
        }
    });
    // The list is lent out for the frame, so that the report is drawn without copying it while
    // the view's own state (the confirmation, the latency batch) changes.
    let reports = std::mem::take(&mut view.reports);
    let shown = reports
        .iter()
        .find(|r| Some(r.id) == view.shown)
        .or(reports.first());
    if let Some(report) = shown {
        report_ui(view, ui, frame, report);
    }
    view.reports = reports;
}

pub(crate) fn report_ui(
    view: &mut DeployView,
    ui: &mut egui::Ui,
    frame: &mut Frame,
    r: &ReplayReport,
) {
    let (colour, word) = match r.verdict.decision {
        Decision::Promote => (PROMOTE, "Promote B"),
        Decision::Keep => (KEEP, "Keep A"),
        Decision::NotEnoughEvidence => (UNSURE, "Not enough evidence"),
    };
    ui.horizontal(|ui| {
        ui.label(
            RichText::new(format!("Verdict: {word}"))
                .strong()
                .size(18.0)
                .color(colour),
        );
        // Promotion moves A's alias; a version named by its number has none to move.
        let Some(alias) = r.a.alias.clone() else {
            ui.label(
                RichText::new(format!(
                    "A is v{}, named by number: no alias to move",
                    r.a.version
                ))
                .weak(),
            );
            return;
        };
        // Where the alias points now, not when the report was made: a promotion from here, or
        // from anywhere else, shows at once.
        let on_b = frame
            .snapshot
            .models
            .iter()
            .filter(|(m, _)| *m == r.model)
            .flat_map(|(_, versions)| versions)
            .any(|v| v.version == r.b.version && v.aliases.contains(&alias));
        if on_b {
            ui.label(format!("@{alias} points at v{}", r.b.version));
        } else if ui
            .add_enabled(
                frame.writable() && !frame.busy(),
                egui::Button::new(format!("Promote v{}…", r.b.version)),
            )
            .on_hover_text(format!("Point @{alias} at v{}", r.b.version))
            .clicked()
        {
            view.confirm = Some((r.id, alias, r.b.version));
        }
    });
    ui.label(&r.verdict.reason);
    ui.label(RichText::new(format!("Rule: {}", r.verdict.rule)).weak());
    // A confirmation belongs to the report it was asked from: another report shown drops it.
    if view.confirm.as_ref().is_some_and(|(id, ..)| *id != r.id) {
        view.confirm = None;
    }
    if let Some((_, alias, version)) = view.confirm.clone() {
        egui::Window::new("Promote?")
            .collapsible(false)
            .resizable(false)
            .show(ui.ctx(), |ui| {
                ui.label(format!(
                    "Move {}@{alias} to v{version}? Clients that ask for @{alias} get v{version} from now on.",
                    r.model
                ));
                ui.horizontal(|ui| {
                    if ui.button("Move the alias").clicked() {
                        frame.run(Operation::SetAlias {
                            model: r.model.clone(),
                            alias: alias.clone(),
                            version,
                        });
                        view.confirm = None;
                    }
                    if ui.button("Cancel").clicked() {
                        view.confirm = None;
                    }
                });
            });
    }
    ui.add_space(6.0);
    ui.label(format!(
        "{} on {}: {} rows, {} scored, {} refused{}",
        r.mode,
        r.traffic,
        r.rows,
        r.scored,
        r.refused_rows,
        r.refused
            .first()
            .map(|f| format!(" (first: line {}: {})", f.line, f.reason))
            .unwrap_or_default()
    ));
    egui::Grid::new("deploy_arms").striped(true).show(ui, |ui| {
        for h in [
            "",
            "version",
            "rows",
            "accuracy",
            "rows/s",
            "p50 (1 row)",
            "p99 (1 row)",
        ] {
            ui.strong(h);
        }
        ui.end_row();
        for (name, arm) in [("A", &r.a), ("B", &r.b)] {
            ui.label(name);
            ui.label(match &arm.alias {
                Some(a) => format!("v{} @{a}", arm.version),
                None => format!("v{}", arm.version),
            });
            ui.label(arm.rows.to_string());
            ui.label(
                arm.accuracy
                    .map(|a| format!("{a:.4} ({} labelled)", arm.labelled))
                    .unwrap_or_else(|| "no labels".into()),
            );
            ui.label(grouped(arm.rows_per_second));
            let one_row = arm.latency.iter().find(|l| l.batch == 1);
            ui.label(
                one_row
                    .map(|l| format!("{:.3} ms", l.p50_ms))
                    .unwrap_or_default(),
            );
            ui.label(
                one_row
                    .map(|l| format!("{:.3} ms", l.p99_ms))
                    .unwrap_or_default(),
            );
            ui.end_row();
        }
    });
    if let Some(p) = &r.paired {
        ui.add_space(6.0);
        ui.strong(format!("Paired on {} labelled rows", p.rows));
        egui::Grid::new("deploy_paired")
            .striped(true)
            .show(ui, |ui| {
                ui.label("");
                ui.strong("B right");
                ui.strong("B wrong");
                ui.end_row();
                ui.strong("A right");
                ui.label(p.both_right.to_string());
                ui.label(p.only_a_right.to_string());
                ui.end_row();
                ui.strong("A wrong");
                ui.label(p.only_b_right.to_string());
                ui.label(p.both_wrong.to_string());
                ui.end_row();
            });
        ui.label(format!(
            "McNemar: exact p {:.4}, mid-p {:.4}",
            p.mcnemar.p_exact, p.mcnemar.p_mid
        ));
    }
    if let Some(t) = &r.arms {
        ui.label(format!("Two-proportion z-test: z {:.3}, p {:.4}", t.z, t.p));
    }
    if let Some(i) = &r.interval {
        ui.label(format!(
            "B − A accuracy {:+.4}; {:.0} % bootstrap interval [{:+.4}, {:+.4}] ({} resamples)",
            i.difference,
            i.level * 100.0,
            i.low,
            i.high,
            i.resamples
        ));
    }
    if let Some(g) = &r.agreement {
        ui.add_space(6.0);
        ui.strong(format!(
            "The versions disagree on {} of {} rows ({:.2} %)",
            g.disagreements,
            g.rows,
            g.rate * 100.0
        ));
        // Many classes make a wide table: it scrolls sideways rather than running off.
        egui::ScrollArea::horizontal()
            .id_salt("deploy_contingency_scroll")
            .show(ui, |ui| {
                egui::Grid::new("deploy_contingency")
                    .striped(true)
                    .show(ui, |ui| {
                        ui.label("A \\ B");
                        for c in &g.classes {
                            ui.strong(c);
                        }
                        ui.end_row();
                        for (i, row) in g.contingency.iter().enumerate() {
                            ui.strong(&g.classes[i]);
                            for (j, n) in row.iter().enumerate() {
                                let text = RichText::new(n.to_string());
                                ui.label(if i != j && *n > 0 {
                                    text.color(UNSURE)
                                } else {
                                    text
                                });
                            }
                            ui.end_row();
                        }
                    });
            });
        let groups = g.worst();
        if !groups.is_empty() {
            ui.label("Where they disagree most:");
            egui::Grid::new("deploy_where")
                .striped(true)
                .show(ui, |ui| {
                    for d in groups.iter().take(10) {
                        ui.label(&d.group);
                        ui.label(format!(
                            "{} of {} rows ({:.1} %)",
                            d.disagreements,
                            d.rows,
                            100.0 * d.disagreements as f64 / d.rows.max(1) as f64
                        ));
                        ui.end_row();
                    }
                });
        }
    }
    ui.add_space(6.0);
    ui.horizontal(|ui| {
        ui.strong("Latency per call");
        for batch in kiln_core::replay::LATENCY_BATCHES {
            ui.selectable_value(&mut view.latency_batch, batch, rows(batch));
        }
    });
    let mut charts = Vec::new();
    for (name, arm, colour) in [("A", &r.a, KEEP), ("B", &r.b, PROMOTE)] {
        if let Some(l) = arm.latency.iter().find(|l| l.batch == view.latency_batch) {
            ui.label(format!(
                "{name} v{}: p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms over {} calls of {}",
                arm.version,
                l.p50_ms,
                l.p95_ms,
                l.p99_ms,
                l.calls,
                rows(l.batch)
            ));
            let bars: Vec<Bar> = l
                .histogram
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let (lo, hi) = (l.edges_ms[i], l.edges_ms[i + 1]);
                    Bar::new((lo + hi) / 2.0, f64::from(*n)).width((hi - lo) * 0.9)
                })
                .collect();
            charts.push(BarChart::new(format!("{name} v{}", arm.version), bars).color(colour));
        }
    }
    if !charts.is_empty() {
        ui.weak("Both versions share the bins, up to the slower p99; the last bar also counts the calls beyond it.");
    }
    Plot::new("deploy_latency")
        .height(160.0)
        .legend(Legend::default())
        .x_axis_label("ms per call")
        .y_axis_label("calls")
        .allow_scroll(false)
        .show(ui, |plot| {
            for chart in charts {
                plot.bar_chart(chart);
            }
        });
}

/// A rate as a whole number, its digits grouped by threes: `1,043,478`.
fn grouped(rate: f64) -> String {
    let digits = format!("{:.0}", rate.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
}

fn rows(n: usize) -> String {
    if n == 1 {
        "1 row".into()
    } else {
        format!("{n} rows")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_group_their_digits_by_threes() {
        for (rate, shown) in [
            (0.0, "0"),
            (999.4, "999"),
            (1000.0, "1,000"),
            (1_043_478.4, "1,043,478"),
            (123_456_789.0, "123,456,789"),
        ] {
            assert_eq!(super::grouped(rate), shown);
        }
    }
}
