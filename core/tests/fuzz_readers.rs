//! Fuzzing the CSV and corpus readers with proptest: arbitrary bytes, CSV-shaped noise, and
//! corpus folders of random files must give a table or a clear error, never a panic.
//!
//! `KILN_FUZZ_CASES=N` sets the number of inputs per target (default 3000 for CSV, a tenth of
//! that for corpus folders, which touch the disk). Each target prints how many it ran.

use std::path::Path;

use kiln_core::data::{SourceFormat, infer_schema, parse_csv, read_corpus};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn cases() -> u32 {
    std::env::var("KILN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// Parses and, when that works, infers a schema: neither may panic, and a table is rectangular.
fn exercise_csv(bytes: &[u8]) -> Result<(), TestCaseError> {
    let file = Path::new("fuzz.csv");
    if let Ok((table, delimiter)) = parse_csv(bytes, file, None) {
        prop_assert_eq!(table.columns.len(), table.names.len());
        for column in &table.columns {
            prop_assert_eq!(column.len(), table.rows());
        }
        let _ = infer_schema(
            &table,
            SourceFormat::Csv { delimiter },
            file,
            None,
            &[],
            false,
        );
    }
    Ok(())
}

fn run(name: &str, cases: u32, strategy: impl Strategy<Value = Vec<u8>>) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |bytes| exercise_csv(&bytes));
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    println!("{name}: {cases} inputs, no panic");
}

#[test]
fn csv_reader_survives_arbitrary_bytes() {
    run(
        "csv arbitrary bytes",
        cases(),
        proptest::collection::vec(any::<u8>(), 0..600),
    );
}

#[test]
fn csv_reader_survives_csv_shaped_noise() {
    // Bytes drawn mostly from what CSV is made of, so the parser's states are all reached.
    let alphabet: Vec<u8> = b"ab1.5-,;|\t\"\"\n\r NA?\xC3\xA9\xFF\xEF\xBB\xBF".to_vec();
    let byte = proptest::sample::select(alphabet);
    run(
        "csv shaped noise",
        cases(),
        proptest::collection::vec(byte, 0..400),
    );
}

#[test]
fn corpus_reader_survives_random_folders() {
    let cases = (cases() / 10).max(10);
    let file = (
        0..3usize,
        "[a-z]{1,6}(\\.txt|\\.TXT|\\.md|)",
        proptest::collection::vec(any::<u8>(), 0..80),
    );
    let strategy = proptest::collection::vec(file, 0..8);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |files| {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut texts = 0;
        for (class, name, bytes) in &files {
            let folder = dir.path().join(format!("class{class}"));
            std::fs::create_dir_all(&folder).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let path = folder.join(name);
            if !path.exists() && name.to_lowercase().ends_with(".txt") {
                texts += 1;
            }
            std::fs::write(&path, bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        match read_corpus(dir.path()) {
            Ok(table) => prop_assert_eq!(table.rows(), texts),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("corpus folders: {e}");
    }
    println!("corpus folders: {cases} inputs, no panic");
}
