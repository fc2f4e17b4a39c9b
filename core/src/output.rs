//! Output files of commands (predictions, reports): never written over a project or over the
//! command's own input, never over another existing file unless asked, and always written to a
//! temporary file beside the target and renamed into place, so that a kill leaves either the
//! old file or the whole new one.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::store::{
    StoreError, file_name, folder_of, is_project_file, remove_dead_leftovers, same_file,
};

/// An output file being written. Nothing appears at its path until [`OutputFile::commit`];
/// dropped without it, the temporary file is removed.
pub struct OutputFile {
    path: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl OutputFile {
    /// Checks `path` and opens a temporary file beside it.
    ///
    /// Refused, whatever `force` says: a Kiln project, and any of `inputs` (the project and the
    /// files the command reads). Refused without `force`: any other existing file.
    pub fn create(path: &Path, force: bool, inputs: &[&Path]) -> crate::Result<OutputFile> {
        check_target(path, force, inputs)?;
        let name = file_name(path);
        // Temporary files of earlier writes of this path whose process is gone.
        let prefix = format!(".{name}.kiln-tmp-");
        remove_dead_leftovers(folder_of(path), |n| n.strip_prefix(&prefix)?.parse().ok());
        let temp = path.with_file_name(format!(".{name}.kiln-tmp-{}", std::process::id()));
        // Named by the path the user gave: the temporary name means nothing to them.
        let file = File::create(&temp).map_err(|source| StoreError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(OutputFile {
            path: path.to_owned(),
            temp,
            writer: Some(BufWriter::new(file)),
        })
    }

    /// Flushes and syncs the temporary file, then renames it over the target.
    pub fn commit(mut self) -> crate::Result<()> {
        // Named by the path the user gave, as in `create`.
        let io_err = |source| StoreError::Io {
            path: self.path.clone(),
            source,
        };
        let writer = self
            .writer
            .take()
            .ok_or_else(|| io_err(io::Error::other("the output was already closed")))?;
        let file = writer.into_inner().map_err(|e| io_err(e.into_error()))?;
        file.sync_all().map_err(io_err)?;
        drop(file);
        // A last look: the target may have become a project while we wrote.
        check_target(&self.path, true, &[])?;
        fs::rename(&self.temp, &self.path).map_err(io_err)?;
        let _ = File::open(folder_of(&self.path)).and_then(|d| d.sync_all());
        Ok(())
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.writer {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("the output was already closed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.writer {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

fn check_target(path: &Path, force: bool, inputs: &[&Path]) -> crate::Result<()> {
    let protected = |reason: &str| -> crate::Result<()> {
        Err(StoreError::ProtectedOutput {
            path: path.to_owned(),
            reason: reason.to_owned(),
        }
        .into())
    };
    if path.is_dir() {
        return Err(StoreError::Io {
            path: path.to_owned(),
            source: io::Error::from(io::ErrorKind::IsADirectory),
        }
        .into());
    }
    if is_project_file(path) {
        return protected("it is a Kiln project");
    }
    if inputs.iter().any(|input| same_file(input, path)) {
        return protected("it is this command's own input");
    }
    if path.exists() && !force {
        return Err(StoreError::OutputExists {
            path: path.to_owned(),
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Project;

    #[test]
    fn outputs_never_replace_a_project_or_an_input() {
        let dir = tempfile::tempdir().expect("dir");
        let project = dir.path().join("p.kiln");
        Project::create(&project, "p").expect("create");
        let before = fs::read(&project).expect("read");
        let input = dir.path().join("in.csv");
        fs::write(&input, "a,b\n1,2\n").expect("input");
        for force in [false, true] {
            let err = OutputFile::create(&project, force, &[&input])
                .err()
                .expect("a project is refused");
            assert!(err.to_string().contains("Kiln project"), "{err}");
            let err = OutputFile::create(&input, force, &[&project, &input])
                .err()
                .expect("the input is refused");
            assert!(err.to_string().contains("own input"), "{err}");
        }
        assert_eq!(fs::read(&project).expect("read"), before);
        assert_eq!(fs::read_to_string(&input).expect("read"), "a,b\n1,2\n");
    }

    #[test]
    fn an_existing_file_needs_force_and_appears_only_whole() {
        let dir = tempfile::tempdir().expect("dir");
        let out = dir.path().join("out.csv");
        fs::write(&out, "old\n").expect("old");
        let err = OutputFile::create(&out, false, &[]).err().expect("exists");
        assert!(err.to_string().contains("--force"), "{err}");
        let mut file = OutputFile::create(&out, true, &[]).expect("forced");
        file.write_all(b"new\n").expect("write");
        // Until the commit, the old file is untouched.
        assert_eq!(fs::read_to_string(&out).expect("read"), "old\n");
        file.commit().expect("commit");
        assert_eq!(fs::read_to_string(&out).expect("read"), "new\n");
        // An abandoned output leaves nothing behind.
        let other = dir.path().join("other.csv");
        let mut file = OutputFile::create(&other, false, &[]).expect("new");
        file.write_all(b"half").expect("write");
        drop(file);
        assert!(!other.exists());
        let left: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }
}
