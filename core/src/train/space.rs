//! Search spaces, written as TOML, and the trials a strategy draws from them.
//!
//! ```toml
//! learning_rate = [0.01, 0.003]          # a list: grid values, or random choices
//! batch_size = 32                        # one value
//! epochs = 30
//! hidden = [[64], [128, 64]]             # a list of layer lists; `hidden = [64, 32]` is one MLP
//! dropout = { min = 0.0, max = 0.5 }     # a range: random and halving only
//! weight_decay = [0.0, 1e-4]
//! optimizer = ["adam", "sgd"]             # logreg defaults to "lbfgs", mlp to "adam"
//! c = [0.1, 1.0, 10.0]                   # lbfgs: inverse L2 strength, as scikit-learn's C
//! tol = 1e-4                             # lbfgs: stop when no gradient entry exceeds this
//! max_iter = 100                         # lbfgs: the most iterations (its epochs)
//! activation = "relu"
//! patience = 5                           # early stopping on the objective (optional)
//! seed = 42
//! samples = 12                           # random: how many trials
//! objective = "val/macro_f1"
//!
//! [halving]
//! eta = 3                                # keep the best 1/eta at each rung
//! min_epochs = 2                         # the first rung's epochs
//! ```

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::TrainError;
use super::model::{Activation, ModelFamily};
use crate::data::SplitSpec;
use crate::features::tfidf::TfidfSettings;
use crate::rng::SeededRng;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    #[default]
    Adam,
    Sgd,
    /// Full-batch L-BFGS on the penalised log-loss: logistic regression only, and its default.
    Lbfgs,
}

impl OptimizerKind {
    /// The optimizer a study uses when its space names none.
    pub fn default_for(family: ModelFamily) -> OptimizerKind {
        match family {
            ModelFamily::Logreg => OptimizerKind::Lbfgs,
            ModelFamily::Mlp => OptimizerKind::Adam,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Lbfgs => "lbfgs",
        }
    }
}

/// How a study walks its space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Grid,
    Random,
    /// Successive halving: rungs over epochs, the best 1/eta promoted, the rest stopped early.
    Halving,
}

impl std::str::FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Strategy, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "grid" => Ok(Strategy::Grid),
            "random" => Ok(Strategy::Random),
            "halving" | "asha" => Ok(Strategy::Halving),
            other => Err(format!(
                "unknown strategy {other:?}: use grid, random or halving"
            )),
        }
    }
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Grid => "grid",
            Strategy::Random => "random",
            Strategy::Halving => "halving",
        }
    }
}

/// Every metric a trial logs: what an objective may name.
pub const LOGGED_METRICS: &[&str] = &[
    "val/macro_f1",
    "val/accuracy",
    "val/loss",
    "train/macro_f1",
    "train/accuracy",
    "train/loss",
    "epoch_seconds",
    "samples_per_second",
];

/// Metrics logged once per training batch rather than once per epoch.
pub const BATCH_METRICS: &[&str] = &["train/batch_loss"];

/// Metrics logged once per iteration of a full-batch solver: the penalised objective.
pub const ITERATION_METRICS: &[&str] = &["train/objective"];

/// What a step of metric `key` counts: a training batch, a solver's iteration, an epoch, or
/// (for a metric Kiln does not log itself) a plain step.
pub fn step_unit(key: &str) -> &'static str {
    if BATCH_METRICS.contains(&key) {
        "batch"
    } else if ITERATION_METRICS.contains(&key) {
        "iteration"
    } else if LOGGED_METRICS.contains(&key) || key.starts_with("test/") {
        "epoch"
    } else {
        "step"
    }
}

/// More epochs than this is a typo rather than a plan.
const MAX_EPOCHS: usize = 100_000;

/// One value, a list of values, or (for numbers) a range to sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Values<T> {
    One(T),
    List(Vec<T>),
    Range {
        min: f64,
        max: f64,
        #[serde(default)]
        log: bool,
    },
}

/// The hyperparameters of one trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyperparams {
    pub learning_rate: f64,
    pub batch_size: usize,
    pub epochs: usize,
    pub hidden: Vec<usize>,
    pub dropout: f64,
    pub weight_decay: f64,
    pub optimizer: OptimizerKind,
    pub activation: Activation,
    pub patience: Option<usize>,
    /// L-BFGS: the inverse L2 strength.
    #[serde(default = "default_c")]
    pub c: f64,
    /// L-BFGS: the gradient tolerance.
    #[serde(default = "default_tol")]
    pub tol: f64,
}

fn default_c() -> f64 {
    1.0
}

fn default_tol() -> f64 {
    1e-4
}

impl Hyperparams {
    /// As MLflow-style params: key and text value.
    pub fn params(&self) -> Vec<(String, String)> {
        if self.optimizer == OptimizerKind::Lbfgs {
            return vec![
                ("optimizer".into(), self.optimizer.as_str().into()),
                ("c".into(), self.c.to_string()),
                ("tol".into(), self.tol.to_string()),
                ("max_iter".into(), self.epochs.to_string()),
                (
                    "patience".into(),
                    self.patience.map_or("none".into(), |p| p.to_string()),
                ),
            ];
        }
        let hidden: Vec<String> = self.hidden.iter().map(usize::to_string).collect();
        vec![
            ("learning_rate".into(), self.learning_rate.to_string()),
            ("batch_size".into(), self.batch_size.to_string()),
            ("epochs".into(), self.epochs.to_string()),
            ("hidden".into(), format!("[{}]", hidden.join(","))),
            ("dropout".into(), self.dropout.to_string()),
            ("weight_decay".into(), self.weight_decay.to_string()),
            ("optimizer".into(), self.optimizer.as_str().into()),
            (
                "activation".into(),
                format!("{:?}", self.activation).to_lowercase(),
            ),
            (
                "patience".into(),
                self.patience.map_or("none".into(), |p| p.to_string()),
            ),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HalvingSpec {
    pub eta: usize,
    pub min_epochs: usize,
}

impl Default for HalvingSpec {
    fn default() -> HalvingSpec {
        HalvingSpec {
            eta: 3,
            min_epochs: 1,
        }
    }
}

/// A search space and the study settings that go with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchSpace {
    pub learning_rate: Values<f64>,
    pub batch_size: Values<usize>,
    pub epochs: Values<usize>,
    pub hidden: Values<Vec<usize>>,
    pub dropout: Values<f64>,
    pub weight_decay: Values<f64>,
    /// None: the family's default (`OptimizerKind::default_for`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<Values<OptimizerKind>>,
    pub activation: Values<Activation>,
    pub c: Values<f64>,
    pub tol: f64,
    pub max_iter: usize,
    pub patience: Option<usize>,
    pub seed: u64,
    pub samples: usize,
    pub objective: String,
    pub validation: f64,
    pub test: f64,
    pub halving: HalvingSpec,
    pub tfidf: TfidfSettings,
}

impl Default for SearchSpace {
    fn default() -> SearchSpace {
        SearchSpace {
            learning_rate: Values::One(0.01),
            batch_size: Values::One(32),
            epochs: Values::One(20),
            hidden: Values::One(vec![64]),
            dropout: Values::One(0.0),
            weight_decay: Values::One(0.0),
            optimizer: None,
            activation: Values::One(Activation::Relu),
            c: Values::One(default_c()),
            tol: default_tol(),
            max_iter: 100,
            patience: None,
            seed: 42,
            samples: 10,
            objective: crate::objective::DEFAULT_OBJECTIVE.into(),
            validation: 0.15,
            test: 0.15,
            halving: HalvingSpec::default(),
            tfidf: TfidfSettings::default(),
        }
    }
}

impl SearchSpace {
    pub fn from_toml(text: &str) -> Result<SearchSpace, TrainError> {
        toml::from_str(text).map_err(|e| TrainError::Space(crate::toml_message(text, &e)))
    }

    /// The space as TOML, as `kiln train --space` reads it back.
    pub fn to_toml(&self) -> Result<String, TrainError> {
        toml::to_string(self)
            .map_err(|e| TrainError::Space(format!("cannot be written as TOML: {e}")))
    }

    /// The metric that ranks the trials, with its direction.
    pub fn objective(&self) -> crate::objective::Objective {
        crate::objective::Objective::for_metric(&self.objective)
    }

    pub fn split(&self) -> SplitSpec {
        SplitSpec {
            seed: self.seed,
            validation: self.validation,
            test: self.test,
        }
    }

    /// The trials of this space under `strategy`, in a fixed order. Settings that do not apply
    /// to `family` (hidden layers of a logistic regression) are dropped, and duplicates with
    /// them.
    pub fn trials(
        &self,
        strategy: Strategy,
        family: ModelFamily,
    ) -> Result<Vec<Hyperparams>, TrainError> {
        self.check_settings()?;
        let mut trials = match strategy {
            Strategy::Grid => self.grid(family)?,
            Strategy::Random => self.random(family)?,
            Strategy::Halving if self.has_ranges() => self.random(family)?,
            Strategy::Halving => self.grid(family)?,
        };
        for t in &mut trials {
            if family == ModelFamily::Logreg {
                t.hidden.clear();
                t.dropout = 0.0;
                t.activation = Activation::Relu;
            } else if t.optimizer == OptimizerKind::Lbfgs {
                return Err(TrainError::Space(
                    "optimizer = \"lbfgs\" solves logistic regression only; an mlp trains with \"adam\" or \"sgd\"".into(),
                ));
            }
            if t.optimizer == OptimizerKind::Lbfgs {
                // Full-batch: the step settings do not apply, and epochs count iterations.
                t.learning_rate = 1.0;
                t.batch_size = 1;
                t.weight_decay = 0.0;
                t.epochs = self.max_iter;
            } else {
                t.c = default_c();
                t.tol = default_tol();
            }
        }
        let mut seen = BTreeSet::new();
        trials.retain(|t| seen.insert(serde_json::to_string(t).unwrap_or_default()));
        for t in &trials {
            self.validate(t)?;
        }
        Ok(trials)
    }

    /// How many trials `strategy` draws from this space, at most (before duplicates are
    /// dropped), worked out without drawing them: a space too large to build is refused
    /// before it is built.
    pub fn trial_bound(&self, strategy: Strategy, family: ModelFamily) -> usize {
        fn len<T>(values: &Values<T>) -> usize {
            match values {
                Values::List(v) => v.len(),
                Values::One(_) | Values::Range { .. } => 1,
            }
        }
        let sampled = match strategy {
            Strategy::Random => true,
            Strategy::Halving => self.has_ranges(),
            Strategy::Grid => false,
        };
        if sampled {
            return self.samples;
        }
        let mut lists = vec![
            len(&self.learning_rate),
            len(&self.batch_size),
            len(&self.epochs),
            len(&self.weight_decay),
            len(&self.optimizers(family)),
        ];
        if family == ModelFamily::Mlp {
            lists.extend([len(&self.hidden), len(&self.dropout), len(&self.activation)]);
        } else {
            lists.push(len(&self.c));
        }
        lists.into_iter().fold(1, usize::saturating_mul)
    }

    fn has_ranges(&self) -> bool {
        matches!(self.learning_rate, Values::Range { .. })
            || matches!(self.dropout, Values::Range { .. })
            || matches!(self.weight_decay, Values::Range { .. })
            || matches!(self.batch_size, Values::Range { .. })
            || matches!(self.epochs, Values::Range { .. })
            || matches!(self.c, Values::Range { .. })
    }

    /// The optimizers to try: the space's, or the family's default.
    pub fn optimizers(&self, family: ModelFamily) -> Values<OptimizerKind> {
        self.optimizer
            .clone()
            .unwrap_or(Values::One(OptimizerKind::default_for(family)))
    }

    fn grid(&self, family: ModelFamily) -> Result<Vec<Hyperparams>, TrainError> {
        // Every field is set by the expansions below, the first varying slowest.
        let mut out = vec![Hyperparams {
            learning_rate: 0.0,
            batch_size: 0,
            epochs: 0,
            hidden: Vec::new(),
            dropout: 0.0,
            weight_decay: 0.0,
            optimizer: OptimizerKind::default_for(family),
            activation: Activation::Relu,
            patience: self.patience,
            c: default_c(),
            tol: self.tol,
        }];
        // Each setting multiplies the trials so far, the first one varying slowest.
        fn expand<T: Clone>(
            out: Vec<Hyperparams>,
            values: Vec<T>,
            set: impl Fn(&mut Hyperparams, T),
        ) -> Vec<Hyperparams> {
            let mut next = Vec::with_capacity(out.len() * values.len());
            for t in out {
                for v in &values {
                    let mut t = t.clone();
                    set(&mut t, v.clone());
                    next.push(t);
                }
            }
            next
        }
        out = expand(out, list("learning_rate", &self.learning_rate)?, |t, v| {
            t.learning_rate = v
        });
        out = expand(out, list("batch_size", &self.batch_size)?, |t, v| {
            t.batch_size = v
        });
        out = expand(out, list("epochs", &self.epochs)?, |t, v| t.epochs = v);
        out = expand(out, list("hidden", &self.hidden)?, |t, v| t.hidden = v);
        out = expand(out, list("dropout", &self.dropout)?, |t, v| t.dropout = v);
        out = expand(out, list("weight_decay", &self.weight_decay)?, |t, v| {
            t.weight_decay = v
        });
        out = expand(out, list("optimizer", &self.optimizers(family))?, |t, v| {
            t.optimizer = v
        });
        out = expand(out, list("activation", &self.activation)?, |t, v| {
            t.activation = v
        });
        if family == ModelFamily::Logreg {
            out = expand(out, list("c", &self.c)?, |t, v| t.c = v);
        }
        Ok(out)
    }

    fn random(&self, family: ModelFamily) -> Result<Vec<Hyperparams>, TrainError> {
        if self.samples == 0 {
            return Err(TrainError::Space(
                "samples must be at least 1 for a random search".into(),
            ));
        }
        let mut rng = SeededRng::new(self.seed ^ 0x5EA2_C4E5);
        (0..self.samples)
            .map(|_| {
                Ok(Hyperparams {
                    learning_rate: sample_f64("learning_rate", &self.learning_rate, &mut rng)?,
                    batch_size: sample_usize("batch_size", &self.batch_size, &mut rng)?,
                    epochs: sample_usize("epochs", &self.epochs, &mut rng)?,
                    hidden: choose("hidden", &self.hidden, &mut rng)?,
                    dropout: sample_f64("dropout", &self.dropout, &mut rng)?,
                    weight_decay: sample_f64("weight_decay", &self.weight_decay, &mut rng)?,
                    optimizer: choose("optimizer", &self.optimizers(family), &mut rng)?,
                    activation: choose("activation", &self.activation, &mut rng)?,
                    patience: self.patience,
                    // Drawn last, and only where it varies, so that spaces without it draw
                    // the trials they always drew.
                    c: match (&self.c, family) {
                        (Values::One(c), _) => *c,
                        (values, ModelFamily::Logreg) => sample_f64("c", values, &mut rng)?,
                        (_, ModelFamily::Mlp) => default_c(),
                    },
                    tol: self.tol,
                })
            })
            .collect()
    }

    /// The settings that do not vary by trial: the objective (a metric the trainer logs, on a
    /// split that has rows), the split fractions, early stopping and halving.
    pub fn check_settings(&self) -> Result<(), TrainError> {
        let bad = |what: String| Err(TrainError::Space(what));
        let fraction = |f: f64| f.is_finite() && (0.0..1.0).contains(&f);
        if !fraction(self.validation) || !fraction(self.test) || self.validation + self.test >= 1.0
        {
            return bad(format!(
                "validation = {} and test = {}: each must be in [0, 1), and together below 1 so that rows are left to train on",
                self.validation, self.test
            ));
        }
        if !LOGGED_METRICS.contains(&self.objective.as_str()) {
            return bad(format!(
                "objective = {:?} is not a metric Kiln logs; use one of {}",
                self.objective,
                LOGGED_METRICS.join(", ")
            ));
        }
        if self.objective().needs_validation() && self.validation == 0.0 {
            return bad(format!(
                "objective = {:?} needs a validation split, but validation = 0; set validation (for example 0.15) or use a train/ metric",
                self.objective
            ));
        }
        if self.patience == Some(0) {
            return bad("patience = 0 would stop every trial after its first epoch; use at least 1, or leave it out".into());
        }
        if self.halving.eta < 2 || self.halving.min_epochs == 0 {
            return bad("halving needs eta of at least 2 and min_epochs of at least 1".into());
        }
        Ok(())
    }

    fn validate(&self, t: &Hyperparams) -> Result<(), TrainError> {
        let bad = |what: String| Err(TrainError::Space(what));
        if t.optimizer == OptimizerKind::Lbfgs {
            if t.epochs == 0 {
                return bad("max_iter must be at least 1".into());
            }
            if !(t.c.is_finite() && t.c > 0.0) {
                return bad(format!(
                    "c = {} must be a number above 0 (1.0 is scikit-learn's default)",
                    t.c
                ));
            }
            if !(t.tol.is_finite() && t.tol > 0.0) {
                return bad(format!(
                    "tol = {} must be a number above 0 (for example 1e-4)",
                    t.tol
                ));
            }
        }
        if t.batch_size == 0 || t.epochs == 0 {
            return bad("batch_size and epochs must be at least 1".into());
        }
        if !(t.learning_rate.is_finite() && t.learning_rate > 0.0) {
            return bad(format!(
                "learning_rate = {} must be a number above 0 (for example 0.01)",
                t.learning_rate
            ));
        }
        if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
            return bad(format!(
                "weight_decay = {} must be 0 or a positive number",
                t.weight_decay
            ));
        }
        if t.epochs > MAX_EPOCHS {
            return bad(format!(
                "epochs = {} is more than {MAX_EPOCHS}; early stopping (patience) ends a long run sooner",
                t.epochs
            ));
        }
        if !(t.dropout.is_finite() && (0.0..1.0).contains(&t.dropout)) {
            return bad(format!("dropout {} must be in [0, 1)", t.dropout));
        }
        if t.hidden.contains(&0) {
            return bad("hidden layer widths must be at least 1".into());
        }
        Ok(())
    }
}

fn list<T: Clone>(key: &str, values: &Values<T>) -> Result<Vec<T>, TrainError> {
    match values {
        Values::One(v) => Ok(vec![v.clone()]),
        Values::List(v) if v.is_empty() => {
            Err(TrainError::Space(format!("{key} has an empty list")))
        }
        Values::List(v) => Ok(v.clone()),
        Values::Range { .. } => Err(TrainError::Space(format!(
            "{key} is a range, which a grid cannot enumerate; give a list, or use --strategy random"
        ))),
    }
}

fn choose<T: Clone + DeserializeOwned>(
    key: &str,
    values: &Values<T>,
    rng: &mut SeededRng,
) -> Result<T, TrainError> {
    let options = list(key, values)?;
    Ok(options[rng.below(options.len() as u64) as usize].clone())
}

fn sample_f64(key: &str, values: &Values<f64>, rng: &mut SeededRng) -> Result<f64, TrainError> {
    match values {
        Values::Range { min, max, log } => {
            let ordered = matches!(
                min.partial_cmp(max),
                Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
            );
            if !ordered || (*log && *min <= 0.0) {
                return Err(TrainError::Space(format!(
                    "{key}: range min {min} max {max} is not valid"
                )));
            }
            let u = rng.unit();
            Ok(if *log {
                (min.ln() + u * (max.ln() - min.ln())).exp()
            } else {
                min + u * (max - min)
            })
        }
        other => choose(key, other, rng),
    }
}

fn sample_usize(
    key: &str,
    values: &Values<usize>,
    rng: &mut SeededRng,
) -> Result<usize, TrainError> {
    match values {
        Values::Range { min, max, .. } => {
            let (lo, hi) = (min.round().max(1.0) as u64, max.round().max(1.0) as u64);
            if lo > hi {
                return Err(TrainError::Space(format!(
                    "{key}: range min {min} max {max} is not valid"
                )));
            }
            Ok((lo + rng.below(hi - lo + 1)) as usize)
        }
        other => choose(key, other, rng),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn each_metric_says_what_its_step_counts() {
        assert_eq!(step_unit("train/batch_loss"), "batch");
        assert_eq!(step_unit("train/objective"), "iteration");
        for key in LOGGED_METRICS {
            assert_eq!(step_unit(key), "epoch", "{key}");
        }
        assert_eq!(step_unit("test/accuracy"), "epoch");
        assert_eq!(step_unit("loss"), "step");
    }

    use super::*;

    #[test]
    fn a_typed_space_round_trips_through_its_file_and_is_checked_by_the_core() {
        let space = SearchSpace {
            learning_rate: Values::List(vec![0.01, 0.03]),
            batch_size: Values::One(16),
            hidden: Values::List(vec![vec![16], vec![32, 16]]),
            dropout: Values::Range {
                min: 0.0,
                max: 0.5,
                log: false,
            },
            optimizer: Some(Values::List(vec![OptimizerKind::Adam, OptimizerKind::Sgd])),
            patience: Some(3),
            objective: "val/loss".into(),
            ..SearchSpace::default()
        };
        let text = space.to_toml().expect("toml");
        assert_eq!(SearchSpace::from_toml(&text).expect("parse"), space);
        assert_eq!(space.objective(), crate::Objective::for_metric("val/loss"));
        assert!(space.objective().minimize());
        let trials = space
            .trials(Strategy::Random, ModelFamily::Mlp)
            .expect("trials");
        assert_eq!(trials.len(), space.samples);

        let unknown = SearchSpace {
            objective: "val/precision".into(),
            ..SearchSpace::default()
        };
        let e = unknown
            .check_settings()
            .expect_err("unknown metric")
            .to_string();
        assert!(
            e.contains("val/precision") && e.contains("val/macro_f1"),
            "{e}"
        );
        let bad_rate = SearchSpace {
            learning_rate: Values::List(vec![0.01, -1.0]),
            ..SearchSpace::default()
        };
        let e = bad_rate
            .trials(Strategy::Grid, ModelFamily::Mlp)
            .expect_err("negative rate")
            .to_string();
        assert!(e.contains("learning_rate = -1"), "{e}");
    }

    #[test]
    fn a_grid_is_the_product_of_its_lists() {
        let space = SearchSpace::from_toml(
            "learning_rate = [0.1, 0.01]\nbatch_size = [16, 32]\nhidden = [[8], [16, 8]]\nepochs = 3\n",
        )
        .expect("space");
        let trials = space
            .trials(Strategy::Grid, ModelFamily::Mlp)
            .expect("grid");
        assert_eq!(trials.len(), 8);
        assert_eq!(trials[0].hidden, [8]);
        assert_eq!(trials[1].hidden, [16, 8]);
        assert!(trials.iter().all(|t| t.epochs == 3));
        // Hidden layers mean nothing to a logistic regression: the grid shrinks.
        let mut adam = space.clone();
        adam.optimizer = Some(Values::One(OptimizerKind::Adam));
        assert_eq!(
            adam.trials(Strategy::Grid, ModelFamily::Logreg)
                .expect("logreg")
                .len(),
            4
        );
        // Nor do steps and batches to its default full-batch solver; its strengths do.
        let lbfgs = space
            .trials(Strategy::Grid, ModelFamily::Logreg)
            .expect("lbfgs");
        assert_eq!(lbfgs.len(), 1);
        assert_eq!(lbfgs[0].optimizer, OptimizerKind::Lbfgs);
        assert_eq!(lbfgs[0].epochs, space.max_iter);
        let mut strengths = space.clone();
        strengths.c = Values::List(vec![0.1, 1.0, 10.0]);
        let trials = strengths
            .trials(Strategy::Grid, ModelFamily::Logreg)
            .expect("c");
        let cs: Vec<f64> = trials.iter().map(|t| t.c).collect();
        assert_eq!(cs, [0.1, 1.0, 10.0]);
        assert_eq!(
            strengths
                .trials(Strategy::Grid, ModelFamily::Mlp)
                .expect("mlp")
                .len(),
            8
        );
        let mut wrong = space.clone();
        wrong.optimizer = Some(Values::One(OptimizerKind::Lbfgs));
        let e = wrong
            .trials(Strategy::Grid, ModelFamily::Mlp)
            .expect_err("mlp")
            .to_string();
        assert!(e.contains("lbfgs"), "{e}");
        wrong.c = Values::One(0.0);
        let e = wrong
            .trials(Strategy::Grid, ModelFamily::Logreg)
            .expect_err("c")
            .to_string();
        assert!(e.contains("c = 0"), "{e}");
    }

    #[test]
    fn random_samples_are_seeded_and_respect_ranges() {
        let text = "samples = 6\nlearning_rate = { min = 1e-4, max = 1e-1, log = true }\ndropout = { min = 0.0, max = 0.5 }\noptimizer = [\"adam\", \"sgd\"]\n";
        let space = SearchSpace::from_toml(text).expect("space");
        let a = space
            .trials(Strategy::Random, ModelFamily::Mlp)
            .expect("random");
        let b = space
            .trials(Strategy::Random, ModelFamily::Mlp)
            .expect("random");
        assert_eq!(a, b);
        assert_eq!(a.len(), 6);
        assert!(
            a.iter().all(
                |t| (1e-4..=1e-1).contains(&t.learning_rate) && (0.0..0.5).contains(&t.dropout)
            )
        );
        let err = space
            .trials(Strategy::Grid, ModelFamily::Mlp)
            .expect_err("grid of a range");
        assert!(
            err.to_string().contains("learning_rate is a range"),
            "{err}"
        );
    }

    #[test]
    fn bad_spaces_say_what_is_wrong() {
        assert!(
            SearchSpace::from_toml("learning_rat = 0.1")
                .expect_err("typo")
                .to_string()
                .contains("learning_rat")
        );
        let space = SearchSpace::from_toml("dropout = 1.5").expect("parses");
        assert!(
            space
                .trials(Strategy::Grid, ModelFamily::Mlp)
                .expect_err("dropout")
                .to_string()
                .contains("dropout")
        );
    }
}
