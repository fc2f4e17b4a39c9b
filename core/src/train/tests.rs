//! Training tests: real Burn models trained on the shipped data.

use std::path::Path;
use std::sync::atomic::Ordering;

use super::*;
use crate::data::ImportOptions;
use crate::events::Event;
use crate::store::Project;
use crate::tracking::RunStatus;

fn project_with(dataset: &str) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().expect("dir");
    let mut project = Project::create(dir.path().join("train.kiln"), "train").expect("create");
    let asset = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets")
        .join(dataset);
    project
        .import(&asset, &ImportOptions::default())
        .expect("import");
    (dir, project)
}

fn request(
    dataset: &str,
    family: ModelFamily,
    space: &str,
    device: DevicePreference,
) -> StudyRequest {
    StudyRequest {
        dataset: dataset.into(),
        family,
        strategy: Strategy::Grid,
        space: SearchSpace::from_toml(space).expect("space"),
        parallel: 1,
        device,
        max_trials: None,
    }
}

const PENGUIN_MLP: &str = "learning_rate = 0.01\nbatch_size = 16\nepochs = 30\nhidden = [16]\n";

/// The accuracy the README states for a small MLP on the penguins.
const PENGUIN_TEST_ACCURACY: f64 = 0.95;

#[test]
fn a_small_mlp_on_the_penguins_reaches_the_stated_test_accuracy() {
    let (_dir, mut project) = project_with("penguins.csv");
    let req = request(
        "penguins",
        ModelFamily::Mlp,
        PENGUIN_MLP,
        DevicePreference::Cpu,
    );
    let outcome = project
        .run_study(&req, &TrainOptions::default())
        .expect("study");
    assert_eq!(
        (outcome.status, outcome.finished, outcome.failed),
        (StudyStatus::Finished, 1, 0)
    );
    let best = outcome.best.expect("a best trial");
    let test = project
        .best_value(best.run, "test/accuracy")
        .expect("read")
        .expect("test accuracy logged");
    assert!(test >= PENGUIN_TEST_ACCURACY, "test accuracy {test}");
    let run = project.run(best.run).expect("run");
    assert_eq!(run.device.as_deref(), Some("cpu: flex"));
    let keys = project.metric_keys(best.run).expect("keys");
    for key in [
        "train/batch_loss",
        "train/loss",
        "train/accuracy",
        "train/macro_f1",
        "val/loss",
        "val/accuracy",
        "val/macro_f1",
        "epoch_seconds",
        "samples_per_second",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
    }
    assert!(
        project
            .metric_history(best.run, "train/batch_loss")
            .expect("loss")
            .len()
            >= 30 * 14,
        "a loss point per batch"
    );
    // The epoch's loss is a series of its own, one point per epoch.
    let epochs = project
        .metric_history(best.run, "train/loss")
        .expect("epoch loss");
    let steps: Vec<i64> = epochs.iter().map(|p| p.step).collect();
    assert_eq!(steps, (1..=steps.len() as i64).collect::<Vec<_>>());
}

#[test]
fn the_same_seed_data_config_and_device_give_the_same_metrics_step_for_step() {
    let (_dir, mut project) = project_with("penguins.csv");
    let space = "learning_rate = 0.02\nbatch_size = 32\nepochs = 6\nhidden = [12]\ndropout = 0.2\n";
    let req = request("penguins", ModelFamily::Mlp, space, DevicePreference::Cpu);
    let first = project
        .run_study(&req, &TrainOptions::default())
        .expect("first")
        .best
        .expect("best")
        .run;
    let second = project
        .run_study(&req, &TrainOptions::default())
        .expect("second")
        .best
        .expect("best")
        .run;
    for key in ["train/batch_loss", "train/loss", "val/loss", "val/macro_f1"] {
        let a: Vec<(i64, f64)> = project
            .metric_history(first, key)
            .expect("a")
            .iter()
            .map(|p| (p.step, p.value))
            .collect();
        let b: Vec<(i64, f64)> = project
            .metric_history(second, key)
            .expect("b")
            .iter()
            .map(|p| (p.step, p.value))
            .collect();
        assert!(!a.is_empty());
        assert_eq!(a, b, "{key} differs between two runs with the same seed");
    }
    let other = SearchSpace {
        seed: 7,
        ..req.space.clone()
    };
    let third = project
        .run_study(
            &StudyRequest {
                space: other,
                ..req
            },
            &TrainOptions::default(),
        )
        .expect("third")
        .best
        .expect("best")
        .run;
    assert_ne!(
        project.metric_history(first, "train/loss").expect("a"),
        project.metric_history(third, "train/loss").expect("c")
    );
}

#[test]
fn cancelling_stops_the_study_within_one_batch() {
    let (_dir, mut project) = project_with("penguins.csv");
    let space = "learning_rate = [0.01, 0.02, 0.03]\nbatch_size = 8\nepochs = 50\nhidden = [16]\n";
    let mut req = request("penguins", ModelFamily::Mlp, space, DevicePreference::Cpu);
    req.parallel = 2;
    let mut options = TrainOptions::default();
    let cancel = options.cancel.clone();
    let steps = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = steps.clone();
    // A callback runs on the training thread, so the cancel lands before the next batch starts.
    options
        .events
        .on_event(std::sync::Arc::new(move |event: &Event| {
            if let Event::Metric { key, .. } = event
                && key == "train/batch_loss"
                && counter.fetch_add(1, Ordering::SeqCst) + 1 == 20
            {
                cancel.store(true, Ordering::SeqCst);
            }
        }));
    let outcome = project.run_study(&req, &options).expect("study");
    let steps = steps.load(Ordering::SeqCst);
    assert_eq!(outcome.status, StudyStatus::Cancelled);
    assert!(
        steps <= 20 + req.parallel,
        "{steps} steps: more than one batch per running trial after the cancel"
    );
    let runs = project.runs().expect("runs");
    assert!(
        runs.iter().all(|r| r.status == RunStatus::Killed),
        "{runs:?}"
    );
    assert_eq!(
        project.study_summaries().expect("studies")[0].status,
        crate::train::StudyStatus::Cancelled
    );
}

#[test]
fn cancelling_between_halving_rungs_ends_every_run() {
    let (_dir, mut project) = project_with("penguins.csv");
    let space = "learning_rate = [0.01, 0.02, 0.03]\nbatch_size = 16\nepochs = 9\nhidden = [8]\n[halving]\neta = 3\nmin_epochs = 1\n";
    let mut req = request("penguins", ModelFamily::Mlp, space, DevicePreference::Cpu);
    req.strategy = Strategy::Halving;
    let mut options = TrainOptions::default();
    let cancel = options.cancel.clone();
    let epochs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = epochs.clone();
    // Cancelled as the second trial ends the first rung: the first waits, state in hand, for
    // a rung that never comes.
    options
        .events
        .on_event(std::sync::Arc::new(move |event: &Event| {
            if let Event::Progress { .. } = event
                && counter.fetch_add(1, Ordering::SeqCst) + 1 == 2
            {
                cancel.store(true, Ordering::SeqCst);
            }
        }));
    let outcome = project.run_study(&req, &options).expect("study");
    assert_eq!(outcome.status, StudyStatus::Cancelled);
    let runs = project.runs().expect("runs");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(
        runs.iter().all(|r| r.status == RunStatus::Killed),
        "a run left running after the cancel: {runs:?}"
    );
}

#[test]
fn a_search_too_large_is_refused_before_it_is_drawn() {
    let space = SearchSpace {
        samples: 1_000_000_000_000,
        ..SearchSpace::default()
    };
    let mut req = request("penguins", ModelFamily::Mlp, "", DevicePreference::Cpu);
    req.space = space;
    req.strategy = Strategy::Random;
    let e = req.trials().expect_err("too many").to_string();
    assert!(e.contains("1000000000000") && e.contains("10000"), "{e}");
    // A grid's size is the product of its lists; settings a logistic regression ignores do
    // not count.
    let grid =
        "learning_rate = [0.1, 0.2, 0.3]\nbatch_size = [8, 16]\nhidden = [[8], [16], [32]]\n";
    let mlp = request("penguins", ModelFamily::Mlp, grid, DevicePreference::Cpu);
    assert_eq!(mlp.space.trial_bound(Strategy::Grid, ModelFamily::Mlp), 18);
    assert_eq!(mlp.trials().expect("trials").len(), 18);
    assert_eq!(
        mlp.space.trial_bound(Strategy::Grid, ModelFamily::Logreg),
        6
    );
    let mut capped = mlp.clone();
    capped.max_trials = Some(17);
    assert!(capped.trials().is_err());
}

#[test]
fn a_trial_whose_loss_turns_nan_is_marked_failed_and_the_others_finish() {
    let (_dir, mut project) = project_with("penguins.csv");
    // A learning rate this large sends the weights, then the loss, past what f32 holds.
    let space = "learning_rate = [1e30, 0.01]\nbatch_size = 32\nepochs = 5\nhidden = [8]\noptimizer = \"sgd\"\n";
    let req = request("penguins", ModelFamily::Mlp, space, DevicePreference::Cpu);
    let outcome = project
        .run_study(&req, &TrainOptions::default())
        .expect("study");
    assert_eq!((outcome.finished, outcome.failed), (1, 1));
    assert_eq!(outcome.best.as_ref().map(|b| b.trial), Some(1));
    let failed = project
        .runs()
        .expect("runs")
        .into_iter()
        .find(|r| r.status == RunStatus::Failed)
        .expect("failed run");
    assert_eq!(failed.trial_index, Some(0));
    assert!(
        failed
            .failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("NaN") || r.contains("inf")),
        "{:?}",
        failed.failure_reason
    );
}

#[test]
fn resume_reruns_only_the_trials_that_did_not_finish() {
    let (_dir, mut project) = project_with("penguins.csv");
    let space = "c = [0.01, 0.1, 1.0]\n";
    let req = request(
        "penguins",
        ModelFamily::Logreg,
        space,
        DevicePreference::Cpu,
    );
    let first = project
        .run_study(&req, &TrainOptions::default())
        .expect("study");
    // As if the process had died during trial 1: its run is left `running`, another is gone.
    let runs = project.runs().expect("runs");
    let trial = |i| {
        runs.iter()
            .find(|r| r.trial_index == Some(i))
            .map(|r| r.id)
            .expect("trial run")
    };
    project
        .write(|tx| crate::store::studies::simulate_crash(tx, trial(1), trial(2)))
        .expect("simulate a crash");
    let resumed = project
        .resume_study(first.study, &TrainOptions::default())
        .expect("resume");
    assert_eq!((resumed.trials, resumed.kept, resumed.finished), (3, 1, 3));
    let live: Vec<_> = project
        .runs()
        .expect("runs")
        .into_iter()
        .filter(|r| r.status != RunStatus::Killed)
        .collect();
    let mut indices: Vec<u32> = live.iter().filter_map(|r| r.trial_index).collect();
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2], "each trial exactly once");
    assert!(live.iter().all(|r| r.status == RunStatus::Finished));
}

#[test]
fn successive_halving_promotes_the_best_third_and_stops_the_rest() {
    let (_dir, mut project) = project_with("penguins.csv");
    let space = "learning_rate = [0.001, 0.003, 0.01, 0.03, 0.1, 0.0003, 0.3, 0.05, 0.02]\nbatch_size = 32\nepochs = 9\nhidden = [8]\n[halving]\neta = 3\nmin_epochs = 1\n";
    let mut req = request("penguins", ModelFamily::Mlp, space, DevicePreference::Cpu);
    req.strategy = Strategy::Halving;
    req.parallel = 2;
    let outcome = project
        .run_study(&req, &TrainOptions::default())
        .expect("study");
    assert_eq!(
        (outcome.trials, outcome.finished, outcome.failed),
        (9, 9, 0)
    );
    let mut epochs_trained: Vec<usize> = project
        .runs()
        .expect("runs")
        .iter()
        .map(|r| {
            project
                .metric_history(r.id, "val/accuracy")
                .expect("history")
                .len()
        })
        .collect();
    epochs_trained.sort_unstable();
    assert_eq!(epochs_trained, [1, 1, 1, 1, 1, 1, 3, 3, 9]);
    let best = outcome.best.expect("best");
    assert_eq!(
        project
            .metric_history(best.run, "val/accuracy")
            .expect("h")
            .len(),
        9
    );
}

#[test]
fn logistic_regression_learns_the_fortune_topics_from_tfidf() {
    let (_dir, mut project) = project_with("fortunes");
    let space = "learning_rate = 0.05\nbatch_size = 32\nepochs = 15\n[tfidf]\nmin_df = 2\nsublinear_tf = true\n";
    let req = request(
        "fortunes",
        ModelFamily::Logreg,
        space,
        DevicePreference::Cpu,
    );
    let outcome = project
        .run_study(&req, &TrainOptions::default())
        .expect("study");
    let best = outcome.best.expect("best");
    let accuracy = project
        .best_value(best.run, "test/accuracy")
        .expect("read")
        .expect("logged");
    // Four topics, the largest a third of the texts: well above the majority baseline.
    assert!(accuracy > 0.6, "test accuracy {accuracy}");
}

/// Logistic regression defaults to the full-batch solver: it stops at convergence, logs its
/// objective per iteration (never rising), measures the splits once at the iteration it
/// stopped, and leaves a model that scores the test split well.
#[test]
fn logistic_regression_solves_to_convergence_by_default() {
    let (_dir, mut project) = project_with("penguins.csv");
    let req = request(
        "penguins",
        ModelFamily::Logreg,
        "c = [0.05, 1.0]\ntol = 1e-6\n",
        DevicePreference::Cpu,
    );
    let outcome = project
        .run_study(&req, &TrainOptions::default())
        .expect("study");
    assert_eq!((outcome.trials, outcome.finished), (2, 2));
    for run in project.runs().expect("runs") {
        let objective = project
            .metric_history(run.id, "train/objective")
            .expect("history");
        assert!(
            objective.len() >= 3 && objective.len() < 100,
            "{}",
            objective.len()
        );
        assert!(
            objective.windows(2).all(|w| w[1].value <= w[0].value),
            "the objective never rises"
        );
        let accuracy = project.metric_history(run.id, "val/accuracy").expect("val");
        // Measured once, at the iteration the solver stopped.
        assert_eq!(accuracy.len(), 1);
        assert_eq!(accuracy[0].step, objective.len() as i64);
        let test = project
            .best_value(run.id, "test/accuracy")
            .expect("read")
            .expect("logged");
        assert!(test > 0.9, "test accuracy {test}");
    }
}

/// CI installs Mesa's lavapipe, so the wgpu path is always exercised; where no adapter exists
/// this test fails and says so rather than passing quietly on the CPU.
#[test]
fn forcing_the_gpu_trains_on_wgpu() {
    let adapters = probe_adapters();
    assert!(
        !adapters.is_empty(),
        "no wgpu adapter: install mesa-vulkan-drivers (lavapipe) to run this test"
    );
    let (_dir, mut project) = project_with("penguins.csv");
    let space = "learning_rate = 0.02\nbatch_size = 64\nepochs = 3\nhidden = [8]\n";
    let req = request("penguins", ModelFamily::Mlp, space, DevicePreference::Gpu);
    let outcome = project
        .run_study(&req, &TrainOptions::default())
        .expect("study");
    assert!(
        outcome.device.starts_with("wgpu: "),
        "trained on {} ({:?})",
        outcome.device,
        outcome.notice
    );
    let run = project.run(outcome.best.expect("best").run).expect("run");
    assert_eq!(run.device.as_deref(), Some(outcome.device.as_str()));
}

#[test]
fn a_trial_that_early_stopping_ends_says_at_which_epoch_and_why() {
    let (_dir, mut project) = project_with("penguins.csv");
    // A rate too small to change any prediction: the objective never improves on its first
    // value, so patience 2 ends the trial at epoch 3 of 300.
    let space =
        "learning_rate = 0.000000001\nbatch_size = 64\nepochs = 300\nhidden = [4]\npatience = 2\n";
    let req = request("penguins", ModelFamily::Mlp, space, DevicePreference::Cpu);
    let (sink, events) = crate::events::EventSink::channel();
    let options = TrainOptions {
        events: sink,
        ..TrainOptions::default()
    };
    let outcome = project.run_study(&req, &options).expect("study");
    assert_eq!(outcome.status, StudyStatus::Finished);
    let reasons: Vec<Option<String>> = events
        .try_iter()
        .filter_map(|e| match e {
            Event::TrialFinished { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [Some(
            "stopped early at epoch 3 (no gain in 2 epochs)".to_owned()
        )]
    );
    let run = outcome.best.expect("best").run;
    assert_eq!(
        project
            .metric_history(run, "val/macro_f1")
            .expect("f1")
            .len(),
        3
    );
}
