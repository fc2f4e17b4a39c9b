//! `kiln repair`: copies everything still readable from a damaged project into a new file, and
//! says what was lost. The damaged file is only ever read.
//!
//! Each table is read by ranges of its integer key (the rowid, or the leading key column of a
//! table without rowids), which SQLite finds by descending the b-tree rather than by walking
//! every leaf. A range that fails to read is split in two until the failing keys are alone:
//! those rows are lost, and every other row is kept. Blobs are kept only when their bytes still
//! hash to their name. Rows whose parent row was lost (the metrics of a lost run) are dropped
//! last, so that the new project is whole.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, params_from_iter};
use serde::Serialize;

use super::{BlobHash, StoreError, build_new_file, file};
use crate::Result;

/// Rows per read: small enough that a failing range is found in a few splits.
const CHUNK: i64 = 1024;

/// What was kept and lost of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableLoss {
    pub table: String,
    pub recovered: u64,
    /// Keys that could not be read (within a damaged stretch every key counts, so this is an
    /// upper bound where keys have gaps), and rows dropped because their parent was lost or
    /// their bytes were damaged.
    pub lost: u64,
    /// When the table's last keys could not be found: the key from which nothing more could
    /// be read. How many rows were there is unknown.
    pub unreadable_after: Option<i64>,
}

/// What `kiln repair` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    pub source: PathBuf,
    pub out: PathBuf,
    pub tables: Vec<TableLoss>,
    /// Runs that could not be read, or whose model (weights, description) was lost.
    pub lost_runs: Vec<i64>,
    /// Model versions (`name:version`) that could not be read, or whose weights were lost.
    pub lost_models: Vec<String>,
}

impl RepairReport {
    /// Whether anything at all was lost.
    pub fn lost_anything(&self) -> bool {
        self.tables
            .iter()
            .any(|t| t.lost > 0 || t.unreadable_after.is_some())
            || !self.lost_runs.is_empty()
            || !self.lost_models.is_empty()
    }
}

/// Copies what is readable of the project at `source` into a new project at `out`, which must
/// not exist. `source` is opened read-only and never changed.
pub fn repair(source: &Path, out: &Path) -> Result<RepairReport> {
    if out.exists() {
        return Err(StoreError::AlreadyExists {
            path: out.to_owned(),
        }
        .into());
    }
    if !source.exists() {
        return Err(StoreError::NotFound {
            path: source.to_owned(),
        }
        .into());
    }
    if !file::is_project_file(source) {
        return Err(StoreError::NotAProject {
            path: source.to_owned(),
            reason: "its header is not a Kiln project's, so there is nothing to recover".into(),
        }
        .into());
    }
    let map = |e| StoreError::from_sqlite(source, e);
    let damaged = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(map)?;
    let format: u32 = damaged
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(map)?;
    if format > super::schema::latest_format() {
        return Err(StoreError::TooNew {
            path: source.to_owned(),
            found: format,
            supported: super::schema::latest_format(),
            written_by: "a newer version".into(),
        }
        .into());
    }
    let name: String = damaged
        .query_row("SELECT name FROM project WHERE id = 1", [], |r| r.get(0))
        .unwrap_or_else(|_| "recovered".into());

    file::remove_stale_staging(out);
    let staging = file::staging_path(out);
    let result = (|| {
        build_new_file(&staging, &name)?;
        let map_out = |e| StoreError::from_sqlite(out, e);
        let mut fresh = Connection::open(&staging).map_err(map_out)?;
        let report = copy_all(&damaged, &mut fresh, source, out).map_err(map_out)?;
        let problems: String = fresh
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(map_out)?;
        if problems != "ok" {
            return Err(StoreError::Corrupt {
                path: out.to_owned(),
                reason: format!("the repaired copy failed its own check: {problems}"),
            }
            .into());
        }
        fresh.close().map_err(|(_, e)| map_out(e))?;
        Ok(report)
    })();
    let placed = result.and_then(|report| {
        file::place_without_clobbering(&staging, out)?;
        Ok(report)
    });
    file::remove_staging(&staging);
    placed
}

fn copy_all(
    damaged: &Connection,
    fresh: &mut Connection,
    source: &Path,
    out: &Path,
) -> rusqlite::Result<RepairReport> {
    fresh.pragma_update(None, "foreign_keys", "OFF")?;
    let tx = fresh.transaction()?;
    tx.execute_batch("DELETE FROM project; DELETE FROM meta; DELETE FROM experiments;")?;
    let tables: Vec<String> = {
        let mut stmt = tx.prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rootpage",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut losses = Vec::new();
    let mut unreadable_runs = BTreeSet::new();
    let mut unreadable_versions = BTreeSet::new();
    for table in &tables {
        if table == "metric_summaries" {
            // Derived from the points: worked out anew from those that were read.
            continue;
        }
        let copied = copy_table(damaged, &tx, table)?;
        match table.as_str() {
            "runs" => unreadable_runs.extend(copied.lost_keys.iter().copied()),
            "model_versions" => unreadable_versions.extend(copied.lost_keys.iter().copied()),
            _ => {}
        }
        losses.push(TableLoss {
            table: table.clone(),
            recovered: copied.rows,
            lost: copied.lost,
            unreadable_after: copied.unreadable_after,
        });
    }
    let bad_blobs = drop_damaged_blobs(&tx)?;
    add_loss(&mut losses, "blobs", bad_blobs);

    // Runs and versions whose rows survived but whose model did not.
    let mut lost_runs: BTreeSet<i64> = unreadable_runs;
    {
        let mut stmt = tx.prepare(
            "SELECT DISTINCT run_id FROM artifacts WHERE blob_hash NOT IN (SELECT hash FROM blobs)
             UNION SELECT DISTINCT run_id FROM metrics WHERE run_id NOT IN (SELECT id FROM runs)
             UNION SELECT DISTINCT run_id FROM artifacts WHERE run_id NOT IN (SELECT id FROM runs)",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
        for run in rows {
            lost_runs.insert(run?);
        }
    }
    let mut lost_models: BTreeSet<String> = unreadable_versions
        .iter()
        .map(|id| format!("version row {id}"))
        .collect();
    {
        let mut stmt = tx.prepare(
            "SELECT coalesce(m.name, '?'), v.version FROM model_versions v
             LEFT JOIN registered_models m ON m.id = v.model_id
             WHERE v.artifact_hash NOT IN (SELECT hash FROM blobs)
                OR v.run_id NOT IN (SELECT id FROM runs)
                OR m.id IS NULL",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(format!(
                "{}:{}",
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?
            ))
        })?;
        for v in rows {
            lost_models.insert(v?);
        }
    }
    // Rows whose parent was lost cannot stay: drop them until none is left.
    loop {
        let orphans: Vec<(String, i64)> = {
            let mut stmt = tx.prepare("PRAGMA foreign_key_check")?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
            })?;
            let mut found = Vec::new();
            for row in rows {
                let (table, rowid) = row?;
                if let Some(rowid) = rowid {
                    found.push((table, rowid));
                }
            }
            found
        };
        let without_rowid = drop_orphans_without_rowid(&tx)?;
        if orphans.is_empty() && without_rowid.is_empty() {
            break;
        }
        for (table, rowid) in &orphans {
            tx.execute(
                &format!("DELETE FROM \"{table}\" WHERE rowid = ?1"),
                [rowid],
            )?;
            add_loss(&mut losses, table, 1);
        }
        for (table, n) in without_rowid {
            add_loss(&mut losses, &table, n);
        }
    }
    tx.execute_batch(super::schema::SUMMARISE_METRICS)?;
    // A project needs its one row and its default experiment, whatever was lost.
    tx.execute(
        "INSERT OR IGNORE INTO project (id, name, created_at) VALUES (1, 'recovered', ?1)",
        [crate::now_ms()],
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO experiments (id, name, created_at) VALUES (1, 'Default', 0)",
        [],
    )?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('written_by', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [crate::KILN_VERSION],
    )?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('repaired_from', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [source.display().to_string()],
    )?;
    tx.commit()?;
    fresh.pragma_update(None, "foreign_keys", "ON")?;
    for loss in &mut losses {
        let count: i64 = fresh.query_row(
            &format!("SELECT count(*) FROM \"{}\"", loss.table),
            [],
            |r| r.get(0),
        )?;
        loss.recovered = count.max(0) as u64;
    }
    Ok(RepairReport {
        source: source.to_owned(),
        out: out.to_owned(),
        tables: losses,
        lost_runs: lost_runs.into_iter().collect(),
        lost_models: lost_models.into_iter().collect(),
    })
}

fn add_loss(losses: &mut [TableLoss], table: &str, n: u64) {
    if let Some(loss) = losses.iter_mut().find(|l| l.table == table) {
        loss.lost += n;
    }
}

/// The key a table is read by: `rowid`, or the leading integer column of its primary key.
fn range_key(fresh: &Connection, table: &str) -> rusqlite::Result<String> {
    let without_rowid: bool = fresh.query_row(
        "SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_schema WHERE name = ?1",
        [table],
        |r| r.get(0),
    )?;
    if !without_rowid {
        return Ok("rowid".into());
    }
    fresh.query_row(
        &format!("SELECT name FROM pragma_table_info('{table}') WHERE pk = 1"),
        [],
        |r| r.get(0),
    )
}

/// Copies the readable rows of `table`; returns how many were copied and the keys that failed.
fn copy_table(damaged: &Connection, fresh: &Connection, table: &str) -> rusqlite::Result<Copied> {
    let columns: Vec<String> = {
        let mut stmt = fresh.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let key = range_key(fresh, table)?;
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let select = format!(
        "SELECT {} FROM \"{table}\" WHERE {key} BETWEEN ?1 AND ?2",
        quoted.join(", ")
    );
    let insert = format!(
        "INSERT OR IGNORE INTO \"{table}\" ({}) VALUES ({})",
        quoted.join(", "),
        vec!["?"; columns.len()].join(", ")
    );
    // The table may be missing from the damaged file (an older format), or its root unreadable.
    let bounds = damaged.query_row(
        &format!("SELECT min({key}), max({key}) FROM \"{table}\""),
        [],
        |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?)),
    );
    let (lo, hi, bounded) = match bounds {
        Ok((Some(lo), Some(hi))) => (lo, hi, true),
        Ok(_) => return Ok(Copied::default()),
        Err(e) if is_missing_table(&e) => return Ok(Copied::default()),
        // The extremes could not be read (the last leaf, where appends land, is a likely
        // victim): read upwards from the start until a long stretch yields nothing.
        Err(_) => (0, i64::MAX, false),
    };
    // Blobs are large: fewer at a time.
    let chunk = if table == "blobs" { 8 } else { CHUNK };
    let mut insert = fresh.prepare(&insert)?;
    let mut copied = Copied::default();
    // Keys that failed since the last chunk that yielded rows: only counted as lost once
    // readable rows follow them, since past the end they may never have existed.
    let mut pending: Vec<i64> = Vec::new();
    let mut idle = 0;
    let mut start = lo;
    loop {
        let end = start.saturating_add(chunk - 1).min(hi);
        let (rows, failed) = copy_range(damaged, &select, &mut insert, start, end)?;
        copied.rows += rows;
        pending.extend(failed);
        if rows > 0 || bounded {
            copied.note_lost(std::mem::take(&mut pending));
            idle = 0;
        } else {
            idle += 1;
            if idle >= IDLE_CHUNKS {
                copied.unreadable_after = pending.first().copied();
                break;
            }
        }
        if end >= hi {
            copied.note_lost(pending);
            break;
        }
        start = end + 1;
    }
    Ok(copied)
}

/// Chunks in a row that may yield nothing before a search without bounds stops.
const IDLE_CHUNKS: usize = 64;

/// Lost keys listed by name, at most: beyond it they are only counted.
const LOST_LISTED: usize = 10_000;

/// What was read of one table.
#[derive(Default)]
struct Copied {
    rows: u64,
    lost: u64,
    lost_keys: Vec<i64>,
    /// Where a search without bounds stopped: keys from here on could not be read.
    unreadable_after: Option<i64>,
}

impl Copied {
    fn note_lost(&mut self, keys: Vec<i64>) {
        self.lost += keys.len() as u64;
        let room = LOST_LISTED.saturating_sub(self.lost_keys.len());
        self.lost_keys.extend(keys.into_iter().take(room));
    }
}

/// Copies the readable rows with keys in `a..=b`, splitting ranges that fail to read until
/// the failing keys are alone. Returns the rows copied and the keys that could not be read.
fn copy_range(
    damaged: &Connection,
    select: &str,
    insert: &mut rusqlite::Statement<'_>,
    a: i64,
    b: i64,
) -> rusqlite::Result<(u64, Vec<i64>)> {
    let mut copied = 0;
    let mut failed = Vec::new();
    let mut stack = vec![(a, b)];
    while let Some((a, b)) = stack.pop() {
        match read_range(damaged, select, a, b) {
            Ok(rows) => {
                for row in rows {
                    copied += insert.execute(params_from_iter(row))? as u64;
                }
            }
            Err(_) if a == b => failed.push(a),
            Err(_) => {
                let mid = a + (b - a) / 2;
                stack.push((mid + 1, b));
                stack.push((a, mid));
            }
        }
    }
    Ok((copied, failed))
}

fn read_range(
    damaged: &Connection,
    select: &str,
    a: i64,
    b: i64,
) -> rusqlite::Result<Vec<Vec<Value>>> {
    let mut stmt = damaged.prepare_cached(select)?;
    let width = stmt.column_count();
    let rows = stmt.query_map([a, b], |r| {
        (0..width)
            .map(|i| r.get::<_, Value>(i))
            .collect::<rusqlite::Result<Vec<_>>>()
    })?;
    rows.collect()
}

fn is_missing_table(e: &rusqlite::Error) -> bool {
    e.to_string().contains("no such table")
}

/// Deletes blobs whose bytes no longer hash to their name; returns how many.
fn drop_damaged_blobs(fresh: &Connection) -> rusqlite::Result<u64> {
    let mut bad = Vec::new();
    {
        let mut stmt = fresh.prepare("SELECT rowid, hash, data FROM blobs")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let hash: String = row.get(1)?;
            let data: Vec<u8> = row.get(2)?;
            if BlobHash::of(&data).as_str() != hash {
                bad.push(row.get::<_, i64>(0)?);
            }
        }
    }
    for rowid in &bad {
        fresh.execute("DELETE FROM blobs WHERE rowid = ?1", [rowid])?;
    }
    Ok(bad.len() as u64)
}

/// `PRAGMA foreign_key_check` names no row of a table without rowids: delete their orphans by
/// their own foreign keys. Returns (table, rows deleted) where any were.
fn drop_orphans_without_rowid(fresh: &Connection) -> rusqlite::Result<Vec<(String, u64)>> {
    let statements = [
        (
            "params",
            "DELETE FROM params WHERE run_id NOT IN (SELECT id FROM runs)",
        ),
        (
            "tags",
            "DELETE FROM tags WHERE run_id NOT IN (SELECT id FROM runs)",
        ),
        (
            "artifacts",
            "DELETE FROM artifacts WHERE run_id NOT IN (SELECT id FROM runs)
             OR blob_hash NOT IN (SELECT hash FROM blobs)",
        ),
        (
            "model_aliases",
            "DELETE FROM model_aliases WHERE version_id NOT IN (SELECT id FROM model_versions)
             OR model_id NOT IN (SELECT id FROM registered_models)",
        ),
    ];
    let mut dropped = Vec::new();
    for (table, sql) in statements {
        let n = fresh.execute(sql, [])?;
        if n > 0 {
            dropped.push((table.to_owned(), n as u64));
        }
    }
    Ok(dropped)
}
