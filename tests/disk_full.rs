//! A full disk: import, train and export on a small file system that fills up. The project must
//! stay intact, the error must say that the disk is full, and once space is freed the same
//! command must succeed.
//!
//! The file system is a small tmpfs mounted for the test, which needs the right to mount (root).
//! Where that is refused, the test says so on the terminal (past the test harness's capture)
//! and does not run; with `KILN_REQUIRE_MOUNT=1` (which `.ci/run` sets where it can mount) it
//! fails instead, so that a machine that should run it never passes it silently.

mod common;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use kiln_core::Project;

/// A tmpfs mounted at a folder for as long as it lives.
struct SmallDisk {
    at: PathBuf,
}

impl SmallDisk {
    fn mount(at: &Path, megabytes: u32) -> Result<SmallDisk, String> {
        fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={megabytes}m"),
                "tmpfs",
                path_str(at),
            ])
            .output()
            .map_err(|e| format!("mount could not be run: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(SmallDisk { at: at.to_owned() })
    }
}

/// A small disk at `at`, or `None` (said on the terminal) where mounting is refused.
fn small_disk(at: &Path, megabytes: u32, test: &str) -> Option<SmallDisk> {
    match SmallDisk::mount(at, megabytes) {
        Ok(disk) => Some(disk),
        Err(why) if std::env::var_os("KILN_REQUIRE_MOUNT").is_some() => {
            panic!("the {test} test needs a tmpfs, and KILN_REQUIRE_MOUNT is set: {why}")
        }
        Err(why) => {
            // Straight to the terminal: the harness captures `println!` of a passing test.
            let line = format!(
                "SKIPPED: the {test} test did not run: a tmpfs could not be mounted ({why})\n"
            );
            let _unseen = std::io::stderr().write_all(line.as_bytes());
            None
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.at).status();
    }
}

/// Fills the file system of `dir` so that about `leave` bytes stay free; returns the filler.
fn fill_leaving(dir: &Path, leave: usize) -> PathBuf {
    let filler = dir.join("filler");
    let mut file = File::create(&filler).expect("filler");
    let block = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&block) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(_) => break,
        }
    }
    let _ = file.sync_all();
    drop(file);
    let keep = written.saturating_sub(leave as u64);
    File::options()
        .write(true)
        .open(&filler)
        .and_then(|f| f.set_len(keep))
        .expect("shrink the filler");
    filler
}

fn check_intact(file: &Path, context: &str) {
    let project = Project::open_read_only(file)
        .unwrap_or_else(|e| panic!("{context}: the project does not open: {e}"));
    project
        .check_integrity()
        .unwrap_or_else(|e| panic!("{context}: {e}"));
}

/// A CSV of `rows` rows like the penguins, large enough that importing it needs real space.
#[test]
fn a_full_disk_keeps_the_project_intact_and_says_so() {
    let dir = tempfile::tempdir().expect("dir");
    let base = trained_project(dir.path());
    let big = dir.path().join("big.csv");
    big_csv(&big, 60_000);
    let small = dir.path().join("small");
    let Some(disk) = small_disk(&small, 24, "full-disk") else {
        return;
    };
    let file = disk.at.join("p.kiln");
    let f = path_str(&file);
    let target = disk.at.join("models");
    let space = quick_space(dir.path(), 3, 20);
    let commands: [(&str, Vec<&str>, usize); 3] = [
        (
            "import",
            vec!["import", f, path_str(&big), "--name", "big"],
            256 * 1024,
        ),
        (
            "train",
            train_args(f, path_str(&space)).to_vec(),
            128 * 1024,
        ),
        (
            "export",
            vec![
                "export",
                f,
                "penguins@champion",
                "--target",
                path_str(&target),
            ],
            8 * 1024,
        ),
    ];
    for (name, args, leave) in commands {
        fs::copy(&base, &file).expect("copy");
        let before = info(&file);
        let filler = fill_leaving(&disk.at, leave);
        let out = kiln(&args);
        let said = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            !out.status.success(),
            "{name} succeeded on a full disk:\n{said}"
        );
        assert!(
            said.contains("disk is full"),
            "{name}: the error should say so:\n{said}"
        );
        assert!(!said.contains("panicked"), "{name}:\n{said}");
        fs::remove_file(&filler).expect("free the space");
        check_intact(&file, name);
        let after = info(&file);
        match name {
            "import" => assert_eq!(after["datasets"], before["datasets"], "half an import"),
            "export" => {
                assert_eq!(after["exports"], before["exports"], "an export recorded");
                let versions: Vec<_> = fs::read_dir(target.join("penguins"))
                    .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
                    .unwrap_or_default();
                assert!(
                    versions
                        .iter()
                        .all(|n| n.to_string_lossy().parse::<u32>().is_err()),
                    "a version folder appeared: {versions:?}"
                );
            }
            _ => {}
        }
        // With space again, the same command works.
        kiln_ok(&args);
        check_intact(&file, name);
        let _ = fs::remove_file(&file);
        let _ = fs::remove_dir_all(&target);
    }
}

#[test]
fn a_project_where_nothing_can_be_written_still_opens_for_reading() {
    let dir = tempfile::tempdir().expect("dir");
    let base = trained_project(dir.path());
    let place = dir.path().join("readonly");
    let Some(disk) = small_disk(&place, 16, "read-only") else {
        return;
    };
    let file = disk.at.join("p.kiln");
    fs::copy(&base, &file).expect("copy");
    let remounted = Command::new("mount")
        .args(["-o", "remount,ro", path_str(&disk.at)])
        .status()
        .expect("mount");
    assert!(remounted.success(), "remount read-only");
    let f = path_str(&file);
    for args in [
        vec!["info", f],
        vec!["runs", f],
        vec!["datasets", f],
        vec!["models", f],
        vec!["predict", f, "penguins@champion", &asset("penguins.csv")],
    ] {
        let out = kiln(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let out = kiln(&["import", f, &asset("penguins.csv"), "--name", "more"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("p.kiln") && err.contains("read-only"), "{err}");
}
