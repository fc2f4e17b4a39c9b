//! Registry and export tests on real trained models.

use std::path::Path;

use super::*;
use crate::data::{ColumnKind, ImportOptions};
use crate::registry::VersionSelector;
use crate::train::{
    DevicePreference, ModelFamily, SearchSpace, Strategy, StudyRequest, TrainOptions,
};

fn trained(kinds: &[(&str, ColumnKind)]) -> (tempfile::TempDir, Project, crate::RunId) {
    let options = ImportOptions {
        kinds: kinds.iter().map(|(c, k)| (c.to_string(), *k)).collect(),
        ..Default::default()
    };
    trained_on(
        "penguins.csv",
        &options,
        "learning_rate = 0.02\nbatch_size = 16\nepochs = 15\nhidden = [12]\n",
    )
}

/// A project that imported `asset` (under `assets/`) with `options`, and the best run of an MLP
/// grid search over `space` on it.
fn trained_on(
    asset: &str,
    options: &ImportOptions,
    space: &str,
) -> (tempfile::TempDir, Project, crate::RunId) {
    let dir = tempfile::tempdir().expect("dir");
    let mut project = Project::create(dir.path().join("export.kiln"), "export").expect("create");
    let asset = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets")
        .join(asset);
    let dataset = project.import(&asset, options).expect("import").name;
    let request = StudyRequest {
        dataset,
        family: ModelFamily::Mlp,
        strategy: Strategy::Grid,
        space: SearchSpace::from_toml(space).expect("space"),
        parallel: 1,
        device: DevicePreference::Cpu,
        max_trials: None,
    };
    let run = project
        .run_study(&request, &TrainOptions::default())
        .expect("study")
        .best
        .expect("best")
        .run;
    (dir, project, run)
}

#[test]
fn versions_count_up_and_aliases_move_atomically() {
    let (_dir, mut project, run) = trained(&[]);
    let v1 = project.register_model("penguins", run).expect("v1");
    let v2 = project.register_model("penguins", run).expect("v2");
    assert_eq!((v1.version, v2.version), (1, 2));
    project.set_alias("penguins", "champion", 1).expect("alias");
    project.set_alias("penguins", "champion", 2).expect("move");
    let champion = project
        .model_version("penguins", &VersionSelector::Alias("champion".into()))
        .expect("champion");
    assert_eq!(champion.version, 2);
    assert!(
        project
            .model_version("penguins", &VersionSelector::Number(1))
            .expect("v1")
            .aliases
            .is_empty()
    );
    assert_eq!(
        project
            .model_version("penguins", &VersionSelector::Latest)
            .expect("latest")
            .version,
        2
    );
    assert!(
        project.set_alias("penguins", "champion", 9).is_err(),
        "no version 9"
    );
    // A face that holds the list picks as the store looks up.
    let versions = project.model_versions("penguins").expect("versions");
    for selector in [
        VersionSelector::Latest,
        VersionSelector::Number(1),
        VersionSelector::Number(2),
        VersionSelector::Alias("champion".into()),
    ] {
        let stored = project
            .model_version("penguins", &selector)
            .expect("stored");
        let picked = selector.pick(&versions).expect("picked");
        assert_eq!(picked.version, stored.version, "{selector}");
    }
    for selector in [
        VersionSelector::Number(9),
        VersionSelector::Alias("nobody".into()),
    ] {
        assert!(project.model_version("penguins", &selector).is_err());
        assert!(selector.pick(&versions).is_none(), "{selector}");
    }
    assert!(project.register_model("../escape", run).is_err());

    let lineage = &v1.lineage;
    assert_eq!(lineage.dataset.as_deref(), Some("penguins"));
    assert_eq!(lineage.device.as_deref(), Some("cpu: flex"));
    assert!(
        lineage
            .dataset_hash
            .as_deref()
            .is_some_and(|h| h.len() == 64)
    );
    assert_eq!(v1.signature.input_name, "features");
    assert_eq!(v1.signature.classes, ["Adelie", "Chinstrap", "Gentoo"]);
    assert_eq!(v1.signature.input_shape[0], -1);
    for section in [
        "## Intended use",
        "## Data",
        "## Metrics",
        "## Fairness",
        "| test/accuracy |",
    ] {
        assert!(
            v1.card.contains(section),
            "{section} missing from the card:\n{}",
            v1.card
        );
    }
}

#[test]
fn an_export_proves_parity_in_tract_and_writes_a_linted_triton_repository() {
    let (dir, mut project, run) = trained(&[]);
    project.register_model("penguins", run).expect("register");
    let target = dir.path().join("repo");
    let latest = VersionSelector::Latest;
    let first = project
        .export_triton("penguins", &latest, &target, &TritonOptions::default())
        .expect("export");
    assert!(
        first.parity.holds() && first.parity.rows > 40,
        "{:?}",
        first.parity
    );
    assert_eq!(first.input_form, InputForm::RawRows, "the servable form");
    let names: Vec<(&str, &str)> = first
        .inputs
        .iter()
        .map(|t| (t.name.as_str(), t.elem_type.as_str()))
        .collect();
    assert!(names.contains(&("island", "STRING")), "{names:?}");
    assert!(names.contains(&("bill_length_mm", "FLOAT")), "{names:?}");
    assert!(
        first.inputs.iter().all(|t| t.dims == [-1, 1]),
        "{:?}",
        first.inputs
    );
    let outputs: Vec<&str> = first.outputs.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(outputs, ["label", "probabilities"]);
    assert!(
        first.config.contains("data_type: TYPE_STRING"),
        "{}",
        first.config
    );
    assert!(triton::lint(&first.config, &first.inputs, &first.outputs).is_empty());
    let onnx = std::fs::read(target.join("penguins/1/model.onnx")).expect("onnx");
    let (inputs, _) = onnx::graph_io(&onnx).expect("graph");
    assert_eq!(inputs, first.inputs);
    let second = project
        .export_triton("penguins", &latest, &target, &TritonOptions::default())
        .expect("again");
    assert_eq!(second.triton_version, 2);
    assert!(
        target.join("penguins/1/model.onnx").is_file(),
        "old versions are kept"
    );
    assert_eq!(project.info().expect("info").exports, 2);
}

#[test]
fn standardisation_is_folded_into_the_first_layer_when_every_feature_is_numeric() {
    let (dir, mut project, run) = trained(&[
        ("island", ColumnKind::Ignored),
        ("sex", ColumnKind::Ignored),
    ]);
    project.register_model("numeric", run).expect("register");
    let features = TritonOptions {
        input: InputChoice::Features,
        ..TritonOptions::default()
    };
    let out = project
        .export_triton(
            "numeric",
            &VersionSelector::Latest,
            &dir.path().join("repo"),
            &features,
        )
        .expect("export");
    assert_eq!(out.input_form, InputForm::RawNumeric);
    assert!(out.parity.holds(), "{:?}", out.parity);
}

#[test]
fn a_parity_failure_is_refused_with_its_figures() {
    let (_dir, mut project, run) = trained(&[]);
    project.register_model("penguins", run).expect("register");
    let loaded = project
        .load_model(run, &burn::tensor::Device::flex())
        .expect("load");
    let exported = onnx::export_onnx(&loaded, true).expect("onnx");
    let held_out = project
        .held_out(run, &loaded.artifact.pipeline)
        .expect("held out");
    let mut expected =
        crate::train::predict_probabilities(&loaded.classifier, &held_out.features, &loaded.device);
    let exact = onnx::check_parity(&exported.bytes, &held_out.features, &expected).expect("parity");
    assert!(exact.max_abs_diff <= 1e-5, "{exact:?}");
    for row in &mut expected {
        row[0] += 0.01;
    }
    let off = onnx::check_parity(&exported.bytes, &held_out.features, &expected).expect("parity");
    assert!(!off.holds());
    let message = ExportError::ParityFailed(off).to_string();
    assert!(
        message.contains("largest probability difference is 1.000e-2")
            && message.contains("nothing was written"),
        "{message}"
    );
}

#[test]
fn behavioural_tests_report_pass_rates_and_failing_examples() {
    let (_dir, mut project, run) = trained(&[]);
    project.register_model("penguins", run).expect("register");
    let spec = crate::eval::BehaviourSpec::from_toml(
        r#"
        [[invariance]]
        description = "the year of measurement does not change the species"
        column = "year"
        set = "2009"

        [[directional]]
        description = "much longer flippers make a Gentoo more likely"
        column = "flipper_length_mm"
        add = 40.0
        class = "Gentoo"
        direction = "up"

        [[directional]]
        description = "a deliberately wrong expectation"
        column = "flipper_length_mm"
        add = 40.0
        class = "Gentoo"
        direction = "down"
        "#,
    )
    .expect("spec");
    let options = crate::eval::EvaluateOptions {
        behaviour: Some(spec),
        sensitive: Some("island".into()),
        positive: None,
    };
    let evaluation = project
        .evaluate_model("penguins", &VersionSelector::Latest, &options)
        .expect("evaluate");
    let rows = evaluation.metrics.rows;
    let [invariance, up, down] = &evaluation.behaviour[..] else {
        panic!("three results: {:?}", evaluation.behaviour)
    };
    assert_eq!(invariance.tested, rows);
    assert!(invariance.pass_rate > 0.8, "{invariance:?}");
    assert!(up.pass_rate > 0.9, "{up:?}");
    assert!(
        down.pass_rate < 0.5 && !down.failures.is_empty(),
        "{down:?}"
    );
    assert!(down.failures.len() <= 5 && down.failures[0].row >= 1);
    let fairness = evaluation.fairness.expect("fairness");
    assert_eq!(fairness.groups.len(), 3, "three islands");
    assert_eq!(
        project.evaluations(run, "behaviour").expect("stored").len(),
        1
    );
    assert!(project.evaluations(run, "metrics").expect("stored").len() == 1);
    let card = project
        .model_version("penguins", &VersionSelector::Latest)
        .expect("v")
        .card;
    assert!(
        card.contains("By `island`: demographic-parity difference"),
        "{card}"
    );
}

#[test]
fn a_version_folder_whose_record_a_kill_prevented_is_recorded_by_the_next_export() {
    let (dir, mut project, run) = trained(&[]);
    project.register_model("penguins", run).expect("register");
    let target = dir.path().join("repo");
    let latest = VersionSelector::Latest;
    let first = project
        .export_triton("penguins", &latest, &target, &TritonOptions::default())
        .expect("export");
    // As if the process had died between the rename of the folder and the insert of its row.
    project
        .write(crate::store::exports::testing_forget_records)
        .expect("forget");
    assert_eq!(project.info().expect("info").exports, 0);
    let second = project
        .export_triton("penguins", &latest, &target, &TritonOptions::default())
        .expect("export");
    assert_eq!((first.triton_version, second.triton_version), (1, 2));
    assert_eq!(triton_versions_in_records(&project), [1, 2]);
    // Recording again adds nothing.
    assert_eq!(
        project
            .record_unrecorded_exports(&target, "penguins")
            .expect("reconcile"),
        0
    );
}

#[test]
fn a_refused_alias_leaves_no_version_and_a_refused_evaluation_no_report() {
    let (_dir, mut project, run) = trained(&[]);
    let err = project
        .register_model_as("penguins", run, Some("bad name"))
        .expect_err("a bad alias");
    assert!(err.to_string().contains("alias"), "{err}");
    assert!(project.registered_models().expect("models").is_empty());
    project
        .register_model_as("penguins", run, Some("champion"))
        .expect("register");
    let options = crate::eval::EvaluateOptions {
        sensitive: Some("no such column".into()),
        positive: None,
        behaviour: None,
    };
    let err = project
        .evaluate_model("penguins", &VersionSelector::Latest, &options)
        .expect_err("an unknown fairness column");
    assert!(err.to_string().contains("\"no such column\""), "{err}");
    assert!(
        project
            .evaluations(run, "metrics")
            .expect("evaluations")
            .is_empty()
    );
}

/// The Triton versions that `project`'s export records name, in order.
fn triton_versions_in_records(project: &Project) -> Vec<i64> {
    project
        .read(crate::store::exports::testing_triton_versions)
        .expect("records")
}

#[test]
fn another_projects_exports_in_the_same_folder_are_never_claimed() {
    let (_a_dir, mut a, a_run) = trained(&[]);
    let (b_dir, mut b, b_run) = trained(&[]);
    a.register_model("penguins", a_run).expect("register a");
    b.register_model("penguins", b_run).expect("register b");
    let target = b_dir.path().join("shared");
    let latest = VersionSelector::Latest;
    let options = TritonOptions::default();
    a.export_triton("penguins", &latest, &target, &options)
        .expect("a exports version 1");
    b.export_triton("penguins", &latest, &target, &options)
        .expect("b exports version 2");
    a.export_triton("penguins", &latest, &target, &options)
        .expect("a exports version 3");
    assert_eq!(triton_versions_in_records(&a), [1, 3]);
    assert_eq!(triton_versions_in_records(&b), [2]);
}

#[test]
fn the_servable_graph_scores_raw_rows_as_kiln_does_unknown_and_missing_cells_included() {
    let (dir, mut project, run) = trained(&[]);
    project.register_model("penguins", run).expect("register");
    let out = project
        .export_triton(
            "penguins",
            &VersionSelector::Latest,
            &dir.path().join("repo"),
            &TritonOptions::default(),
        )
        .expect("export");
    assert!(out.parity.holds(), "{:?}", out.parity);
    let graph = std::fs::read(out.version_dir.join("model.onnx")).expect("onnx");
    let csv = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\n\
        Adelie,Torgersen,39.1,18.7,181,3750,male,2007\n\
        Gentoo,Biscoe,47.5,14.2,220,5000,female,2008\n\
        ,Atlantis,45.0,17.0,200,4200,,2009\n\
        ,Dream,NA,,195,,female,2009\n\
        ,,,,,,,\n";
    let source = dir.path().join("rows.csv");
    let (table, _) = crate::data::parse_csv(csv.as_bytes(), &source, None).expect("csv");
    let kiln = project
        .score("penguins", &VersionSelector::Latest, &table, &source)
        .expect("score");
    let loaded = project
        .load_model(run, &burn::tensor::Device::flex())
        .expect("load");
    let pipeline = &loaded.artifact.pipeline;
    let rows: Vec<usize> = (0..table.rows()).collect();
    let runner = servable::ServableRunner::load(&graph, pipeline).expect("tract");
    // The first layer is one product over the concatenated blocks, not one per block: tract's
    // pass that splits it is left out, and still exists under its name.
    let declutter = tract_onnx::tract_core::optim::Optimizer::declutter();
    assert!(
        declutter
            .passes
            .iter()
            .any(|p| format!("{p:?}").starts_with(onnx::SPLITS_CONCATENATED_PRODUCTS)),
        "{:?}",
        declutter.passes
    );
    let operators = runner.operators();
    assert!(
        operators.iter().any(|o| o.contains("Concat")),
        "{operators:?}"
    );
    let served = runner.run_table(&table, &rows).expect("run");
    assert_serves_as_kiln(&served, &rows, &kiln);
    // Batches of one row give the same answers as the whole batch.
    let one = runner.run_table(&table, &[2]).expect("run one");
    assert_eq!(one.labels[0], served.labels[2]);
}

#[test]
fn the_features_form_stays_available() {
    let (dir, mut project, run) = trained(&[]);
    project.register_model("penguins", run).expect("register");
    let options = TritonOptions {
        input: InputChoice::Features,
        ..TritonOptions::default()
    };
    let out = project
        .export_triton(
            "penguins",
            &VersionSelector::Latest,
            &dir.path().join("repo"),
            &options,
        )
        .expect("export");
    assert_eq!(out.input_form, InputForm::Features);
    assert_eq!(out.inputs[0].name, "features");
}

/// A model of the fortunes corpus, an MLP trained for `epochs` on TF-IDF set by `tfidf` (the
/// space's `[tfidf]` table).
fn trained_on_text(epochs: usize, tfidf: &str) -> (tempfile::TempDir, Project, crate::RunId) {
    trained_on(
        "fortunes",
        &ImportOptions::default(),
        &format!(
            "learning_rate = 0.02\nbatch_size = 32\nepochs = {epochs}\nhidden = [16]\n[tfidf]\n{tfidf}"
        ),
    )
}

/// Asserts that `served` (the graph's answers for some rows) gives, row by row, the label and
/// (within 1e-5) the probabilities of `kiln`'s scoring of the rows `rows`.
fn assert_serves_as_kiln(served: &servable::Served, rows: &[usize], kiln: &crate::score::Scoring) {
    for (k, &i) in rows.iter().enumerate() {
        let row = &kiln.rows[i];
        assert!(row.error.is_none(), "{row:?}");
        assert_eq!(Some(&served.labels[k]), row.prediction.as_ref(), "row {i}");
        let got = &served.probabilities[k * served.classes..(k + 1) * served.classes];
        assert_eq!(got.len(), row.probabilities.len(), "row {i}");
        for (a, b) in got.iter().zip(&row.probabilities) {
            assert!(
                (a - b).abs() <= 1e-5,
                "row {i}: {got:?} against {:?}",
                row.probabilities
            );
        }
    }
}

#[test]
fn a_text_model_is_served_from_raw_text_through_the_onnx_text_operators() {
    // 1- and 2-grams with sublinear counts (the vectorizer counts, arithmetic weighs), and the
    // defaults (the vectorizer weighs by the idf itself).
    serves_raw_text(
        "min_df = 2\nngram_range = [1, 2]\nsublinear_tf = true\n",
        "TF",
    );
    serves_raw_text("", "TFIDF");
}

fn serves_raw_text(tfidf: &str, mode: &str) {
    let (dir, mut project, run) = trained_on_text(8, tfidf);
    project.register_model("fortunes", run).expect("register");
    let out = project
        .export_triton(
            "fortunes",
            &VersionSelector::Latest,
            &dir.path().join("repo"),
            &TritonOptions::default(),
        )
        .expect("export");
    assert_eq!(out.input_form, InputForm::RawRows);
    assert!(out.parity.holds(), "{:?}", out.parity);
    assert!(out.parity.rows > 20, "{:?}", out.parity);
    assert_eq!(out.inputs.len(), 1);
    assert_eq!(
        (
            out.inputs[0].name.as_str(),
            out.inputs[0].elem_type.as_str()
        ),
        ("text", "STRING")
    );
    let config = std::fs::read_to_string(out.version_dir.join("../config.pbtxt")).expect("config");
    assert!(config.contains("TYPE_STRING"), "{config}");
    assert!(triton::lint(&config, &out.inputs, &out.outputs).is_empty());
    let graph = std::fs::read(out.version_dir.join("model.onnx")).expect("onnx");
    use onnx_ir::Message;
    let ops = onnx_ir::ModelProto::parse_from_bytes(&graph).expect("graph");
    let op_types: Vec<&str> = ops.graph.node.iter().map(|n| n.op_type.as_str()).collect();
    for op in ["StringNormalizer", "Tokenizer", "TfIdfVectorizer"] {
        assert!(op_types.contains(&op), "{op} in {op_types:?}");
    }
    assert!(ops.opset_import.iter().any(|o| o.domain == "com.microsoft"));
    let vectorizer = ops
        .graph
        .node
        .iter()
        .find(|n| n.op_type == "TfIdfVectorizer")
        .expect("vectorizer");
    let written = vectorizer
        .attribute
        .iter()
        .find(|a| a.name == "mode")
        .expect("mode");
    assert_eq!(&written.s[..], mode.as_bytes());
    // The traced softmax is one Softmax node.
    assert!(
        op_types.contains(&"Softmax")
            && !op_types.contains(&"ReduceMax")
            && !op_types.contains(&"TopK"),
        "{op_types:?}"
    );

    // Texts a client may send: mixed case and punctuation, repeated words, unknown words only,
    // empty, accented, and one long enough to set the batch's token width.
    let texts = [
        "The DOCTOR said: take two aspirin, and call me in the morning.",
        "goal goal goal! The referee, the referee...",
        "zzzq xxyyz",
        "",
        "Le médecin était très occupé; the court is in session",
        &"law and order, ".repeat(40),
    ];
    let mut csv = String::from("text,label\n");
    for t in texts {
        csv.push_str(&format!("\"{t}\",\n"));
    }
    let source = dir.path().join("texts.csv");
    let (table, _) = crate::data::parse_csv(csv.as_bytes(), &source, None).expect("csv");
    let kiln = project
        .score("fortunes", &VersionSelector::Latest, &table, &source)
        .expect("score");
    let loaded = project
        .load_model(run, &burn::tensor::Device::flex())
        .expect("load");
    let pipeline = &loaded.artifact.pipeline;
    let runner = servable::ServableRunner::load(&graph, pipeline).expect("tract");
    // tract runs the tokens straight into their counts, and sums the squares in one pass.
    let operators = runner.operators();
    for fused in ["TokenCounts", "RowSumOfSquares"] {
        assert!(
            operators.iter().any(|o| o == fused),
            "{fused} in {operators:?}"
        );
    }
    assert!(!operators.iter().any(|o| o == "Tokenizer"), "{operators:?}");
    let check = |rows: &[usize]| {
        let served = runner.run_table(&table, rows).expect("run");
        assert_serves_as_kiln(&served, rows, &kiln);
    };
    check(&(0..texts.len()).collect::<Vec<_>>());
    // One row at a time, and a batch in which no text has a token at all.
    for i in 0..texts.len() {
        check(&[i]);
    }
    check(&[3, 3]);
}

#[test]
fn token_patterns_are_translated_to_re2_or_refused_by_name() {
    use servable::tokenexp;
    let word = format!("[{}]", servable::WORD);
    assert_eq!(
        tokenexp(r"(?u)\b\w\w+\b").expect("translates"),
        format!("{word}{word}+")
    );
    assert_eq!(
        tokenexp(r"\b\w+\b").expect("translates"),
        format!("{word}+")
    );
    assert_eq!(
        tokenexp(r"\w{3,}").expect("translates"),
        format!("{word}{{3,}}")
    );
    assert_eq!(
        tokenexp(r"[\w']+").expect("translates"),
        format!("[{}']+", servable::WORD)
    );
    assert_eq!(
        tokenexp(r"\p{Greek}+|\pL\x41\x{263A}\.").expect("translates"),
        r"\p{Greek}+|\pL\x41\x{263A}\."
    );
    assert_eq!(
        tokenexp(r"\d+|[a-z]+").expect("translates"),
        r"[\p{Nd}]+|[a-z]+"
    );
    assert_eq!(
        tokenexp(r"(?i)(?:ab)+").expect("translates"),
        r"(?i)(?:ab)+"
    );
    // A bounded run between \b's is not the same without them ("abcdef" holds no 3-letter word).
    let refused = [
        (r"\b\w{3}\b", "\\b"),
        (r"(\w+)", "capture group"),
        (r"(?P<word>\w+)", "named capture"),
        (r"[^\W\d]+", "inside brackets"),
        (r"[[a-z]&&[^q]]+", "nested"),
        // Rust's alone, or read otherwise by RE2 (onnxruntime refuses the first three to load).
        (r"(?x) a b", "flag x"),
        (r"\p{Alphabetic}+", "general categories and scripts"),
        (r"\u{41}", "not read the same way"),
        (r"\<\w+", "not read the same way"),
        // An empty token counts in Kiln and never comes out of the tokenizer.
        (r"\w*", "empty string"),
        (r"a|", "empty string"),
    ];
    for (pattern, why) in refused {
        let err = tokenexp(pattern).expect_err(pattern);
        assert!(err.contains(why), "{pattern}: {err}");
    }
    // A text model whose pattern keeps a group cannot be composed, and the reason names the
    // column and the group.
    let docs = ["the cat sat", "the dog ran", "a cat ran"];
    let settings = crate::features::tfidf::TfidfSettings {
        token_pattern: r"(\w+)".into(),
        ..Default::default()
    };
    let text = crate::features::FeaturePipeline {
        label: "topic".into(),
        classes: vec!["a".into(), "b".into()],
        steps: vec![crate::features::Step::Tfidf {
            column: "review".into(),
            model: Box::new(crate::features::tfidf::Tfidf::fit(&settings, &docs).expect("tfidf")),
        }],
    };
    let Err(refused) = servable::composable(&text) else {
        panic!("a group is composable");
    };
    // The advice depends on the input choice: the export adds it (see the test below).
    assert!(
        refused.contains("\"review\"")
            && refused.contains("capture group")
            && !refused.contains("--input features"),
        "{refused}"
    );
}

/// Under the default input choice, a text model whose token pattern keeps a group reads features,
/// and the export says why.
#[test]
fn a_pattern_with_no_re2_form_exports_features_and_says_why() {
    // Only the export's choice matters here, not the model's accuracy: one epoch.
    let (dir, mut project, run) = trained_on_text(1, "token_pattern = '(\\w\\w+)'\n");
    project.register_model("fortunes", run).expect("register");
    let out = project
        .export_triton(
            "fortunes",
            &VersionSelector::Latest,
            &dir.path().join("repo"),
            &TritonOptions::default(),
        )
        .expect("export");
    assert_eq!(out.input_form, InputForm::Features);
    let why = out.raw_refused.expect("the reason");
    assert!(
        why.contains("\"text\"") && why.contains("capture group"),
        "{why}"
    );
    // It already reads features: the advice is how to serve raw text instead.
    assert!(
        why.contains("retrain with a token pattern") && !why.contains("--input features"),
        "{why}"
    );
    let raw = TritonOptions {
        input: InputChoice::Raw,
        ..TritonOptions::default()
    };
    let refused = project
        .preview_triton("fortunes", &VersionSelector::Latest, &raw)
        .expect_err("refused under Raw")
        .to_string();
    assert!(refused.contains("--input features"), "{refused}");
}

/// The classes written for `\w`, `\s` and `\d` hold exactly the characters Rust's hold, over
/// every character there is.
#[test]
fn the_translated_classes_are_rusts_over_every_character() {
    for (rust, ours) in [
        (r"\w", servable::WORD.to_string()),
        (r"\s", servable::SPACE.to_string()),
        (r"\d", r"\p{Nd}".to_string()),
    ] {
        let rust = regex::Regex::new(&format!("^{rust}$")).expect("rust");
        let ours = regex::Regex::new(&format!("^[{ours}]$")).expect("ours");
        let differ: Vec<char> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| {
                let s = c.to_string();
                rust.is_match(&s) != ours.is_match(&s)
            })
            .take(20)
            .collect();
        assert!(
            differ.is_empty(),
            "{rust} and [{ours}] differ on {differ:?}"
        );
    }
}

#[test]
fn two_versions_are_served_side_by_side_and_different_signatures_are_refused() {
    let (dir, mut project, run) = trained(&[]);
    project.register_model("penguins", run).expect("v1");
    project.register_model("penguins", run).expect("v2");
    let target = dir.path().join("repo");
    let both = project
        .export_triton_versions(
            "penguins",
            &[VersionSelector::Number(1), VersionSelector::Number(2)],
            &target,
            &TritonOptions::default(),
        )
        .expect("both");
    assert_eq!(
        both.iter().map(|o| o.triton_version).collect::<Vec<_>>(),
        [1, 2]
    );
    let config = std::fs::read_to_string(target.join("penguins/config.pbtxt")).expect("config");
    assert!(
        config.contains("specific { versions: [ 1, 2 ] }"),
        "{config}"
    );
    assert!(triton::lint(&config, &both[1].inputs, &both[1].outputs).is_empty());
    assert!(
        target.join("penguins/1/model.onnx").is_file()
            && target.join("penguins/2/model.onnx").is_file()
    );

    // A version whose graph reads other inputs cannot share the configuration.
    project
        .set_column_kind("penguins", "island", ColumnKind::Ignored)
        .expect("kind");
    let request = project.study_request_of_run(run).expect("request");
    let narrower = project
        .run_study(&request, &TrainOptions::default())
        .expect("study")
        .best
        .expect("best")
        .run;
    project.register_model("penguins", narrower).expect("v3");
    let refused = project
        .export_triton_versions(
            "penguins",
            &[VersionSelector::Number(1), VersionSelector::Number(3)],
            &dir.path().join("other"),
            &TritonOptions::default(),
        )
        .expect_err("different inputs")
        .to_string();
    assert!(
        refused.contains("versions 1 and 3 cannot share") && refused.contains("island STRING"),
        "{refused}"
    );
    assert!(
        !dir.path().join("other/penguins").exists(),
        "nothing was written"
    );
}
