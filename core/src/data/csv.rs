//! Reading CSV: the delimiter sniffed, quoted fields, a header row, and an error that names
//! file, line and column for anything malformed.

use std::path::Path;

use super::table::{Table, is_missing};
use super::{DataError, Location};

/// The delimiters Kiln recognises, in order of preference on a tie.
const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
/// Lines looked at to sniff the delimiter.
const SNIFF_LINES: usize = 50;

/// Parses CSV `bytes` read from `file`. The first row is the header. With `delimiter` `None`
/// the delimiter is sniffed. Returns the table and the delimiter used.
pub fn parse_csv(
    bytes: &[u8],
    file: &Path,
    delimiter: Option<u8>,
) -> Result<(Table, u8), DataError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DataError::Empty {
            file: file.to_owned(),
            what: "the file is empty".into(),
        });
    }
    let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(bytes));
    if let Some((line, column)) = unclosed_quote(bytes, delimiter) {
        return Err(DataError::Malformed {
            at: Location {
                file: file.to_owned(),
                line,
                column: Some((column, None)),
            },
            problem: "a quoted field opens here and never closes; add the closing quote".into(),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let at = |line: u64, column: Option<(usize, Option<String>)>| Location {
        file: file.to_owned(),
        line,
        column,
    };

    let header = match records.next() {
        Some(record) => record.map_err(|e| csv_error(file, &e))?,
        None => {
            return Err(DataError::Empty {
                file: file.to_owned(),
                what: "the file is empty".into(),
            });
        }
    };
    let names = header_names(&header, &at)?;
    let mut table = Table {
        names: names.clone(),
        columns: vec![Vec::new(); names.len()],
        lines: Vec::new(),
    };
    for record in records {
        let record = record.map_err(|e| csv_error(file, &e))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != names.len() {
            return Err(width_error(&record, &names, at(line, None)));
        }
        for (index, field) in record.iter().enumerate() {
            let text = std::str::from_utf8(field).map_err(|e| DataError::BadUtf8 {
                at: at(line, Some((index + 1, Some(names[index].clone())))),
                byte: e.valid_up_to() + 1,
            })?;
            let cell = (!is_missing(text)).then(|| text.to_owned());
            table.columns[index].push(cell);
        }
        table.lines.push(line);
    }
    if table.rows() == 0 {
        return Err(DataError::Empty {
            file: file.to_owned(),
            what: "it has a header but no data rows".into(),
        });
    }
    Ok((table, delimiter))
}

fn header_names(
    header: &csv::ByteRecord,
    at: &impl Fn(u64, Option<(usize, Option<String>)>) -> Location,
) -> Result<Vec<String>, DataError> {
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    for (index, field) in header.iter().enumerate() {
        let name = std::str::from_utf8(field)
            .map_err(|e| DataError::BadUtf8 {
                at: at(1, Some((index + 1, None))),
                byte: e.valid_up_to() + 1,
            })?
            .trim()
            .to_owned();
        if name.is_empty() {
            return Err(DataError::Malformed {
                at: at(1, Some((index + 1, None))),
                problem: "the header has an empty column name; name every column".into(),
            });
        }
        if names.contains(&name) {
            return Err(DataError::Malformed {
                at: at(1, Some((index + 1, Some(name.clone())))),
                problem: format!("the header names {name:?} twice; column names must be unique"),
            });
        }
        names.push(name);
    }
    Ok(names)
}

/// A row with more or fewer fields than the header.
fn width_error(record: &csv::ByteRecord, names: &[String], mut at: Location) -> DataError {
    let found = record.len();
    let expected = names.len();
    let spans_lines = record.iter().any(|f| f.contains(&b'\n'));
    let hint = if spans_lines {
        " (a quoted field runs over several lines: is a closing quote missing?)"
    } else {
        ""
    };
    let problem = if found > expected {
        at.column = Some((expected + 1, None));
        format!(
            "the row has {found} fields but the header has {expected}; an unquoted delimiter inside a value?{hint}"
        )
    } else {
        at.column = Some((found + 1, names.get(found).cloned()));
        format!(
            "the row has {found} fields but the header has {expected}; this column is missing{hint}"
        )
    };
    DataError::Malformed { at, problem }
}

fn csv_error(file: &Path, e: &csv::Error) -> DataError {
    let line = e.position().map_or(0, |p| p.line());
    DataError::Malformed {
        at: Location {
            file: file.to_owned(),
            line,
            column: None,
        },
        problem: e.to_string(),
    }
}

/// Picks the candidate that splits the first lines into the same number of fields (more than
/// one) most consistently; a comma when nothing does.
fn sniff_delimiter(bytes: &[u8]) -> u8 {
    let lines: Vec<&[u8]> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .take(SNIFF_LINES)
        .collect();
    let mut best = (0usize, 0usize, b',');
    for candidate in CANDIDATES {
        let counts: Vec<usize> = lines.iter().map(|l| count_unquoted(l, candidate)).collect();
        let header = counts.first().copied().unwrap_or(0);
        if header == 0 {
            continue;
        }
        let agreeing = counts.iter().filter(|&&c| c == header).count();
        if (agreeing, header) > (best.0, best.1) {
            best = (agreeing, header, candidate);
        }
    }
    best.2
}

/// Where a quoted field opens and is never closed, as (line, column), reading fields the way
/// the CSV reader does: a quote opens a field only at its start, and `""` inside is a quote.
fn unclosed_quote(bytes: &[u8], delimiter: u8) -> Option<(u64, usize)> {
    let (mut line, mut column, mut at_field_start) = (1u64, 1usize, true);
    let mut open: Option<(u64, usize)> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match open {
            Some(_) if b == b'"' && bytes.get(i + 1) == Some(&b'"') => i += 1,
            Some(_) if b == b'"' => open = None,
            Some(_) => {}
            None if b == b'"' && at_field_start => open = Some((line, column)),
            None if b == delimiter => column += 1,
            None if b == b'\n' => column = 1,
            None => {}
        }
        if b == b'\n' {
            line += 1;
        }
        at_field_start = open.is_none() && (b == delimiter || b == b'\n');
        i += 1;
    }
    open
}

fn count_unquoted(line: &[u8], delimiter: u8) -> usize {
    let mut quoted = false;
    let mut count = 0;
    for &b in line {
        if b == b'"' {
            quoted = !quoted;
        } else if b == delimiter && !quoted {
            count += 1;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &[u8]) -> Result<(Table, u8), DataError> {
        parse_csv(text, Path::new("data.csv"), None)
    }

    #[test]
    fn reads_quoted_fields_and_missing_values() {
        let (t, d) = parse(b"name,note,age\n\"Lovelace, Ada\",\"said \"\"hi\"\"\",36\nBob,,NA\n")
            .expect("parse");
        assert_eq!(d, b',');
        assert_eq!(t.names, ["name", "note", "age"]);
        assert_eq!(t.columns[0][0].as_deref(), Some("Lovelace, Ada"));
        assert_eq!(t.columns[1][0].as_deref(), Some("said \"hi\""));
        assert_eq!(t.columns[1][1], None);
        assert_eq!(t.columns[2][1], None);
        assert_eq!(t.lines, [2, 3]);
    }

    #[test]
    fn sniffs_semicolons_tabs_and_pipes() {
        for (text, want) in [
            (&b"a;b;c\n1,5;2;3\n4;5;6\n"[..], b';'),
            (b"a\tb\n1\t2\n", b'\t'),
            (b"a|b|c\n1|2|3\n", b'|'),
            (b"a,b\n\"x;y\",2\n", b','),
            (b"only\n1\n2\n", b','),
        ] {
            assert_eq!(
                parse(text).expect("parse").1,
                want,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        let (t, _) = parse(b"a;b;c\n1,5;2;3\n").expect("parse");
        assert_eq!(t.columns[0][0].as_deref(), Some("1,5"));
    }

    #[test]
    fn a_short_or_long_row_names_its_line_and_column() {
        let err = parse(b"a,b,c\n1,2,3\n4,5\n").expect_err("short row");
        assert_eq!(
            err.to_string(),
            "data.csv: line 3, column 3 (c): the row has 2 fields but the header has 3; this column is missing"
        );
        let err = parse(b"a,b\n1,2\n3,4,5\n").expect_err("long row");
        assert!(
            err.to_string()
                .starts_with("data.csv: line 3, column 3: the row has 3 fields"),
            "{err}"
        );
    }

    #[test]
    fn bad_utf8_names_its_line_and_column() {
        let err = parse(b"a,b\n1,ok\n2,caf\xE9\n").expect_err("latin-1");
        assert!(matches!(err, DataError::BadUtf8 { .. }));
        assert!(
            err.to_string()
                .starts_with("data.csv: line 3, column 2 (b): the text is not valid UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn empty_files_and_headers_alone_are_refused() {
        assert!(
            parse(b"")
                .expect_err("empty")
                .to_string()
                .contains("the file is empty")
        );
        assert!(
            parse(b"  \n\n")
                .expect_err("blank")
                .to_string()
                .contains("the file is empty")
        );
        assert!(
            parse(b"a,b\n")
                .expect_err("header")
                .to_string()
                .contains("no data rows")
        );
    }

    #[test]
    fn header_problems_name_the_column() {
        let err = parse(b"a,,c\n1,2,3\n").expect_err("empty name");
        assert!(
            err.to_string().starts_with("data.csv: line 1, column 2:"),
            "{err}"
        );
        let err = parse(b"a,b,a\n1,2,3\n").expect_err("duplicate");
        assert!(err.to_string().contains("line 1, column 3 (a)"), "{err}");
    }

    #[test]
    fn an_unclosed_quote_is_reported_with_a_hint() {
        let err = parse(b"a,b\n1,\"open\n2,3\n4,5\n").expect_err("unclosed");
        assert_eq!(
            err.to_string(),
            "data.csv: line 2, column 2: a quoted field opens here and never closes; add the closing quote"
        );
        parse(b"a,b\n\"x\"\"y\",\"multi\nline\"\n5'6\",2\n").expect("balanced quotes are fine");
    }
}
