//! Storage of the model registry: registered models, their versions and aliases.

use rusqlite::{Connection, OptionalExtension, params};

use super::{BlobHash, to_json};
use crate::now_ms;
use crate::registry::{Lineage, Signature, VersionSelector};
use crate::tracking::RunId;

/// One stored model version, its signature and lineage still as JSON.
pub(crate) struct VersionRow {
    pub id: i64,
    pub version: u32,
    pub run: RunId,
    pub weights: BlobHash,
    pub signature_json: String,
    pub lineage_json: String,
    pub card: String,
    pub created_at: i64,
}

/// A model version about to be inserted.
pub(crate) struct NewVersion<'a> {
    pub model_id: i64,
    pub version: u32,
    pub run: RunId,
    pub weights: &'a BlobHash,
    pub signature: &'a Signature,
    pub lineage: &'a Lineage,
}

/// The id of registered model `name`, inserted if it does not exist yet.
pub(crate) fn ensure_model(c: &Connection, name: &str) -> rusqlite::Result<i64> {
    c.execute(
        "INSERT INTO registered_models (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        params![name, now_ms()],
    )?;
    c.query_row(
        "SELECT id FROM registered_models WHERE name = ?1",
        [name],
        |r| r.get(0),
    )
}

/// The number the next version of model `model_id` takes.
pub(crate) fn next_version(c: &Connection, model_id: i64) -> rusqlite::Result<u32> {
    c.query_row(
        "SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE model_id = ?1",
        [model_id],
        |r| r.get(0),
    )
}

/// Inserts `version`, without a card yet; returns its id.
pub(crate) fn insert_version(c: &Connection, version: &NewVersion) -> rusqlite::Result<i64> {
    c.execute(
        "INSERT INTO model_versions (model_id, version, run_id, artifact_hash, signature_json, lineage_json, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            version.model_id,
            version.version,
            version.run.0,
            version.weights.as_str(),
            to_json(version.signature)?,
            to_json(version.lineage)?,
            now_ms()
        ],
    )?;
    Ok(c.last_insert_rowid())
}

/// Replaces the model card of the version with id `version_id`.
pub(crate) fn set_card(c: &Connection, version_id: i64, card: &str) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE model_versions SET card_md = ?2 WHERE id = ?1",
        params![version_id, card],
    )
    .map(|_| ())
}

/// Points `alias` of the version's model at the version with id `version_id`, moving it from
/// wherever it was.
pub(crate) fn set_alias(c: &Connection, version_id: i64, alias: &str) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO model_aliases (model_id, alias, version_id)
         SELECT model_id, ?2, id FROM model_versions WHERE id = ?1
         ON CONFLICT (model_id, alias) DO UPDATE SET version_id = excluded.version_id",
        params![version_id, alias],
    )
    .map(|_| ())
}

/// Removes `alias` from `model`, if it is there.
pub(crate) fn remove_alias(c: &Connection, model: &str, alias: &str) -> rusqlite::Result<()> {
    c.execute(
        "DELETE FROM model_aliases WHERE alias = ?2 AND model_id = (SELECT id FROM registered_models WHERE name = ?1)",
        params![model, alias],
    )
    .map(|_| ())
}

/// The registered models' names, in order.
pub(crate) fn model_names(c: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = c.prepare("SELECT name FROM registered_models ORDER BY name")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// The version numbers of `model`, oldest first.
pub(crate) fn version_numbers(c: &Connection, model: &str) -> rusqlite::Result<Vec<u32>> {
    let mut stmt = c.prepare(
        "SELECT v.version FROM model_versions v JOIN registered_models m ON m.id = v.model_id
         WHERE m.name = ?1 ORDER BY v.version",
    )?;
    let rows = stmt.query_map([model], |r| r.get(0))?;
    rows.collect()
}

/// The version of `model` that `selector` names, if there is one.
pub(crate) fn version(
    c: &Connection,
    model: &str,
    selector: &VersionSelector,
) -> rusqlite::Result<Option<VersionRow>> {
    let (filter, arg) = match selector {
        VersionSelector::Latest => (
            "?2 = '' AND v.version = (SELECT max(version) FROM model_versions WHERE model_id = m.id)",
            String::new(),
        ),
        VersionSelector::Number(n) => ("v.version = ?2", n.to_string()),
        VersionSelector::Alias(a) => (
            "v.id = (SELECT version_id FROM model_aliases WHERE model_id = m.id AND alias = ?2)",
            a.clone(),
        ),
    };
    let sql = format!(
        "SELECT v.id, v.version, v.run_id, v.artifact_hash, v.signature_json, v.lineage_json, v.card_md, v.created_at
         FROM model_versions v JOIN registered_models m ON m.id = v.model_id
         WHERE m.name = ?1 AND {filter}"
    );
    c.query_row(&sql, params![model, arg], |r| {
        Ok(VersionRow {
            id: r.get(0)?,
            version: r.get(1)?,
            run: RunId(r.get(2)?),
            weights: BlobHash::from_hex(&r.get::<_, String>(3)?),
            signature_json: r.get(4)?,
            lineage_json: r.get(5)?,
            card: r.get(6)?,
            created_at: r.get(7)?,
        })
    })
    .optional()
}

/// The aliases pointing at the version with id `version_id`, in order.
pub(crate) fn aliases(c: &Connection, version_id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        c.prepare("SELECT alias FROM model_aliases WHERE version_id = ?1 ORDER BY alias")?;
    let rows = stmt.query_map([version_id], |r| r.get(0))?;
    rows.collect()
}
