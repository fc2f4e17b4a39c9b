//! Writing a Triton model repository safely: names that would leave the target are refused, a
//! new version takes the next number and old ones stay, and every file lands by rename, so a
//! server polling the folder never sees half a model.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::ExportError;

/// The files of one export, before they are written.
pub struct RepositoryWrite<'a> {
    pub target: &'a Path,
    pub model: &'a str,
    pub onnx: &'a [u8],
    /// Extra files of the version folder (name, bytes), such as `pipeline.json`.
    pub extra: Vec<(&'a str, Vec<u8>)>,
    /// The configuration, given the version number it will serve.
    pub config: &'a dyn Fn(u32) -> String,
    pub labels: &'a str,
    /// The export's record, given its version number: written into the version folder as
    /// [`RECORD_FILE`], so that a folder whose record a kill prevented can be recorded later.
    pub record: &'a dyn Fn(u32) -> Result<String, ExportError>,
}

/// The record of an export, inside its version folder.
pub const RECORD_FILE: &str = "kiln-export.json";

/// Where an export landed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Written {
    pub model_dir: PathBuf,
    pub version: u32,
    pub version_dir: PathBuf,
    pub config_path: PathBuf,
}

/// Writes the model as the next version under `target/model`, atomically.
pub fn write_repository(w: &RepositoryWrite) -> Result<Written, ExportError> {
    check_component(w.model)?;
    let model_dir = w.target.join(w.model);
    fs::create_dir_all(&model_dir).map_err(|e| io(&model_dir, e))?;
    // Staging folders of exports whose process is gone: `.staging-<version>-<pid>`.
    crate::store::remove_dead_leftovers(&model_dir, |name| {
        name.strip_prefix(".staging-")?
            .rsplit_once('-')?
            .1
            .parse()
            .ok()
    });
    let version = next_version(&model_dir)?;
    let version_dir = model_dir.join(version.to_string());
    // The version folder is filled under a hidden name Triton ignores, then renamed: it appears
    // whole or not at all.
    let staging = model_dir.join(format!(".staging-{version}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir(&staging).map_err(|e| io(&staging, e))?;
    let filled = write_file(&staging.join("model.onnx"), w.onnx)
        .and_then(|()| {
            w.extra.iter().try_for_each(|(name, bytes)| {
                check_component(name)?;
                write_file(&staging.join(name), bytes)
            })
        })
        .and_then(|()| (w.record)(version))
        .and_then(|record| write_file(&staging.join(RECORD_FILE), record.as_bytes()))
        .and_then(|()| sync_dir(&staging));
    if let Err(e) = filled {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    // The model's files come first, so that a version folder never appears without them.
    let config_path = model_dir.join("config.pbtxt");
    let shared = write_atomically(
        &model_dir.join(super::triton::LABELS_FILE),
        w.labels.as_bytes(),
    )
    .and_then(|()| write_atomically(&config_path, (w.config)(version).as_bytes()));
    if let Err(e) = shared {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    if let Err(e) = fs::rename(&staging, &version_dir) {
        let _ = fs::remove_dir_all(&staging);
        return Err(io(&version_dir, e));
    }
    sync_dir(&model_dir)?;
    Ok(Written {
        model_dir,
        version,
        version_dir,
        config_path,
    })
}

/// The records of the version folders under `model_dir` that carry one: (version, record).
pub fn recorded_versions(model_dir: &Path) -> Vec<(u32, String)> {
    let Ok(entries) = fs::read_dir(model_dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, String)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let record = fs::read_to_string(e.path().join(RECORD_FILE)).ok()?;
            Some((version, record))
        })
        .collect();
    found.sort();
    found
}

/// One past the highest numbered version folder (1 for a new model).
fn next_version(model_dir: &Path) -> Result<u32, ExportError> {
    let mut highest = 0;
    for entry in fs::read_dir(model_dir).map_err(|e| io(model_dir, e))? {
        let entry = entry.map_err(|e| io(model_dir, e))?;
        if let Some(n) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        {
            highest = highest.max(n);
        }
    }
    Ok(highest + 1)
}

/// A single path component that stays inside its folder.
fn check_component(name: &str) -> Result<(), ExportError> {
    let path = Path::new(name);
    let plain = path.components().count() == 1
        && matches!(
            path.components().next(),
            Some(std::path::Component::Normal(_))
        )
        && !name.contains(['/', '\\'])
        && !name.starts_with('.');
    if plain {
        Ok(())
    } else {
        Err(ExportError::UnsafeName(name.to_owned()))
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let mut file = fs::File::create(path).map_err(|e| io(path, e))?;
    file.write_all(bytes).map_err(|e| io(path, e))?;
    file.sync_all().map_err(|e| io(path, e))
}

/// Writes `path` through a temporary file beside it and a rename, as every output is.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let mut file = crate::output::OutputFile::create(path, true, &[])
        .map_err(|e| ExportError::Io(e.to_string()))?;
    file.write_all(bytes).map_err(|e| io(path, e))?;
    file.commit().map_err(|e| ExportError::Io(e.to_string()))
}

fn sync_dir(dir: &Path) -> Result<(), ExportError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}

fn io(path: &Path, e: std::io::Error) -> ExportError {
    ExportError::Io(format!(
        "{}: {e}{}",
        path.display(),
        crate::store::io_advice(&e)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write<'a>(
        target: &'a Path,
        model: &'a str,
        onnx: &'a [u8],
        config: &'a dyn Fn(u32) -> String,
    ) -> Result<Written, ExportError> {
        write_repository(&RepositoryWrite {
            target,
            model,
            onnx,
            extra: vec![("pipeline.json", b"{}".to_vec())],
            config,
            labels: "a\nb\n",
            record: &|v| Ok(format!("{{\"version\": {v}}}")),
        })
    }

    #[test]
    fn versions_count_up_and_old_ones_are_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let config = |v: u32| format!("version {v}");
        let first = write(dir.path(), "penguins", b"one", &config).expect("first");
        let second = write(dir.path(), "penguins", b"two", &config).expect("second");
        assert_eq!((first.version, second.version), (1, 2));
        assert_eq!(
            fs::read(dir.path().join("penguins/1/model.onnx")).expect("v1"),
            b"one"
        );
        assert_eq!(
            fs::read(dir.path().join("penguins/2/model.onnx")).expect("v2"),
            b"two"
        );
        assert_eq!(
            fs::read_to_string(&second.config_path).expect("config"),
            "version 2"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("penguins/labels.txt")).expect("labels"),
            "a\nb\n"
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("penguins"))
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn debris_of_a_dead_export_is_removed_and_a_live_ones_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let model_dir = dir.path().join("m");
        fs::create_dir_all(&model_dir).expect("dir");
        // A process id that cannot be running: above the kernel's largest.
        let dead = 4_194_305;
        let ours = std::process::id();
        for name in [format!(".staging-3-{dead}"), format!(".staging-4-{ours}")] {
            fs::create_dir(model_dir.join(&name)).expect("staging");
            fs::write(model_dir.join(&name).join("model.onnx"), b"half").expect("file");
        }
        fs::write(
            model_dir.join(format!(".config.pbtxt.kiln-tmp-{dead}")),
            b"x",
        )
        .expect("tmp");
        let config = |v: u32| format!("v{v}");
        let written = write(dir.path(), "m", b"one", &config).expect("write");
        assert_eq!(written.version, 1);
        assert!(!model_dir.join(format!(".staging-3-{dead}")).exists());
        assert!(
            !model_dir
                .join(format!(".config.pbtxt.kiln-tmp-{dead}"))
                .exists()
        );
        assert!(model_dir.join(format!(".staging-4-{ours}")).exists());
        assert_eq!(
            recorded_versions(&model_dir),
            vec![(1, "{\"version\": 1}".to_string())]
        );
    }

    #[test]
    fn names_that_would_leave_the_target_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let target = dir.path().join("repo");
        let config = |_| String::new();
        for name in ["../escape", "a/b", "/abs", "..", ".hidden", ""] {
            let err = write(&target, name, b"x", &config).expect_err(name);
            assert!(matches!(err, ExportError::UnsafeName(_)), "{name}: {err}");
        }
        assert!(!dir.path().join("escape").exists());
    }

    #[test]
    fn a_poller_never_sees_a_half_written_model() {
        let dir = tempfile::tempdir().expect("dir");
        let target = dir.path().to_owned();
        let model: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
        let expected_len = model.len() as u64;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let poller = {
            let (target, stop) = (target.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut looks, mut seen) = (0u64, 0u64);
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    looks += 1;
                    for v in 1..=5 {
                        let path = target.join(format!("big/{v}/model.onnx"));
                        if let Ok(meta) = fs::metadata(&path) {
                            seen += 1;
                            assert_eq!(
                                meta.len(),
                                expected_len,
                                "a partial model.onnx was visible at {}",
                                path.display()
                            );
                        }
                    }
                }
                (looks, seen)
            })
        };
        let config = |v: u32| format!("v{v}");
        for _ in 0..5 {
            write(&target, "big", &model, &config).expect("write");
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let (looks, seen) = poller.join().expect("poller");
        assert!(
            looks > 10 && seen > 0,
            "the poller looked {looks} times and saw {seen} models"
        );
    }
}
