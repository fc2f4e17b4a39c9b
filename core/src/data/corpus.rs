//! Reading a text corpus: a folder with one sub-folder per class, each holding `.txt` files.
//! It becomes a table with a `text` column and a `label` column (the sub-folder's name).

use std::fs;
use std::path::{Path, PathBuf};

use super::table::Table;
use super::{DataError, Location};

/// Reads the corpus under `root`, classes and files in name order, so the same folder always
/// gives the same table.
pub fn read_corpus(root: &Path) -> Result<Table, DataError> {
    read_corpus_noting(root).map(|(table, _)| table)
}

/// [`read_corpus`], with notices of what a user may not expect: class folders without text
/// files (skipped) and empty text files (kept, as empty texts).
pub fn read_corpus_noting(root: &Path) -> Result<(Table, Vec<String>), DataError> {
    let mut notices = Vec::new();
    let mut empty_files = Vec::new();
    let io = |file: &Path| {
        let file = file.to_owned();
        move |source| DataError::Io { file, source }
    };
    let mut classes: Vec<PathBuf> = list(root)
        .map_err(io(root))?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    classes.sort();
    let mut table = Table {
        names: vec!["text".into(), "label".into()],
        columns: vec![Vec::new(), Vec::new()],
        lines: Vec::new(),
    };
    for class_dir in &classes {
        let label = class_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut files: Vec<PathBuf> = list(class_dir)
            .map_err(io(class_dir))?
            .into_iter()
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt")))
            .collect();
        files.sort();
        if files.is_empty() {
            notices.push(format!(
                "class folder {} holds no .txt files, so class {label:?} was skipped",
                class_dir.display()
            ));
        }
        for file in files {
            let bytes = fs::read(&file).map_err(io(&file))?;
            let text = decode_text(&bytes, &file)?;
            if text.trim().is_empty() {
                empty_files.push(file.display().to_string());
            }
            table.columns[0].push(Some(text));
            table.columns[1].push(Some(label.clone()));
            table.lines.push(table.lines.len() as u64 + 1);
        }
    }
    if table.rows() == 0 {
        return Err(DataError::Empty {
            file: root.to_owned(),
            what: "no .txt files in sub-folders; a corpus has one sub-folder per class, each holding .txt files".into(),
        });
    }
    if let Some(first) = empty_files.first() {
        notices.push(format!(
            "{} empty text file(s) kept as empty texts (the first: {first}); delete them to leave them out",
            empty_files.len()
        ));
    }
    Ok((table, notices))
}

/// The text of one corpus file, or where its UTF-8 breaks.
pub(super) fn decode_text(bytes: &[u8], file: &Path) -> Result<String, DataError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.trim_end().to_owned()),
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            let line = good.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
            Err(DataError::BadUtf8 {
                at: Location {
                    file: file.to_owned(),
                    line,
                    column: Some((column, None)),
                },
                byte: good.len() - line_start + 1,
            })
        }
    }
}

fn list(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_class_per_sub_folder_in_name_order() {
        let dir = tempfile::tempdir().expect("dir");
        for (class, name, text) in [
            ("spam", "b.txt", "win money"),
            ("ham", "a.txt", "lunch?\n"),
            ("spam", "a.txt", "free"),
        ] {
            fs::create_dir_all(dir.path().join(class)).expect("mkdir");
            fs::write(dir.path().join(class).join(name), text).expect("write");
        }
        fs::write(dir.path().join("ham").join("notes.md"), "ignored").expect("write");
        let t = read_corpus(dir.path()).expect("read");
        let text: Vec<_> = t.columns[0].iter().flatten().cloned().collect();
        let labels: Vec<_> = t.columns[1].iter().flatten().cloned().collect();
        assert_eq!(text, ["lunch?", "free", "win money"]);
        assert_eq!(labels, ["ham", "spam", "spam"]);
    }

    #[test]
    fn an_empty_corpus_and_bad_utf8_are_refused_with_where() {
        let dir = tempfile::tempdir().expect("dir");
        let err = read_corpus(dir.path()).expect_err("empty");
        assert!(
            err.to_string().contains("one sub-folder per class"),
            "{err}"
        );
        fs::create_dir(dir.path().join("x")).expect("mkdir");
        fs::write(dir.path().join("x").join("1.txt"), b"fine\nnot \xFFfine").expect("write");
        let err = read_corpus(dir.path()).expect_err("utf-8");
        assert!(err.to_string().contains("1.txt: line 2, column 5"), "{err}");
        assert!(read_corpus(&dir.path().join("missing")).is_err());
    }
}
