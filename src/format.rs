//! Plain-text formatting for the command line: tables, times, durations, sizes.

/// Left-aligned columns two spaces apart, each as wide as its widest cell.
pub fn format_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

pub fn format_duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
    }
}

pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// An OS error on `path`, with what to do about it where that is known.
pub fn io_error(path: &impl AsRef<std::path::Path>, e: &std::io::Error) -> String {
    format!(
        "{}: {e}{}",
        path.as_ref().display(),
        kiln_core::store::io_advice(e)
    )
}

/// Shows a progress line on stderr: redrawn in place at a terminal (`live`), one line each
/// elsewhere, so that a log keeps them.
pub fn progress_line(line: &str, live: bool) {
    use std::io::Write;
    let mut err = std::io::stderr();
    if live {
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    } else {
        let _ = writeln!(err, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_durations_and_sizes() {
        assert_eq!(format_duration(250), "250 ms");
        assert_eq!(format_duration(12_340), "12.3 s");
        assert_eq!(format_duration(125_000), "2m05s");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
