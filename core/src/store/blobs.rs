//! Content-addressed blobs: datasets, weights, pipelines and reports, stored once by sha256.

use std::fmt;

use rusqlite::OptionalExtension;
use sha2::{Digest, Sha256};

use super::Project;
use crate::{Result, now_ms};

/// The sha256 of a blob's bytes, in lowercase hex: its name in the project.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct BlobHash(String);

impl BlobHash {
    pub fn of(bytes: &[u8]) -> BlobHash {
        let digest = Sha256::digest(bytes);
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push_str(&format!("{byte:02x}"));
        }
        BlobHash(hex)
    }

    /// A hash read back from the project (trusted to be hex already).
    pub(crate) fn from_hex(hex: &str) -> BlobHash {
        BlobHash(hex.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Project {
    /// Stores `bytes` unless an identical blob is already there; either way returns its hash.
    pub fn put_blob(&mut self, bytes: &[u8]) -> Result<BlobHash> {
        let hash = BlobHash::of(bytes);
        self.write(|tx| insert_blob(tx, &hash, bytes))?;
        Ok(hash)
    }

    /// Whether a blob is stored under `hash`, without reading it.
    pub fn has_blob(&self, hash: &BlobHash) -> Result<bool> {
        self.read(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM blobs WHERE hash = ?1)",
                [hash.as_str()],
                |r| r.get(0),
            )
        })
    }

    /// The bytes stored under `hash`, if any.
    pub fn blob(&self, hash: &BlobHash) -> Result<Option<Vec<u8>>> {
        self.read(|c| {
            c.query_row(
                "SELECT data FROM blobs WHERE hash = ?1",
                [hash.as_str()],
                |r| r.get(0),
            )
            .optional()
        })
    }
}

/// Inserts a blob inside a caller's transaction, so it lands with whatever refers to it.
pub(crate) fn insert_blob(
    tx: &rusqlite::Connection,
    hash: &BlobHash,
    bytes: &[u8],
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO blobs (hash, size, data, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (hash) DO NOTHING",
        rusqlite::params![hash.as_str(), bytes.len() as i64, bytes, now_ms()],
    )
    .map(|_| ())
}
