//! The demo data built into Kiln, so that the course lab and a first session need no files:
//! the Palmer penguins (see `assets/README.md` for provenance and licence).

/// `assets/penguins.csv`, verbatim.
pub const PENGUINS_CSV: &str = include_str!("../../assets/penguins.csv");

/// The search the lab runs: a small grid of MLPs that trains in seconds on a CPU.
pub const LAB_SPACE: &str = r#"learning_rate = [0.01, 0.03]
batch_size = 16
epochs = 40
hidden = [[16], [32]]
patience = 8
seed = 42
"#;
