//! Records of the `meta` log: API key changes. Every gateway folds them in log order, so a key
//! created through one gateway is known to all.

use crate::envelope::{LogRecord, SCHEMA_VERSION};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// An API key as stored; its secret value is derived (`hex(HMAC-SHA256(masterKey, uid))`)
/// and never written to the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRecord {
    pub uid: Uuid,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Action names as Meilisearch spells them (`search`, `documents.*`, `*`, …), validated.
    pub actions: Vec<String>,
    /// Index uid patterns (`movies`, `mov*`, `*`).
    pub indexes: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A change to the key set. Updates carry only the fields the request touched, so two
/// gateways updating different fields of one key both win.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum KeyChange {
    Create { key: ApiKeyRecord },
    Update {
        uid: Uuid,
        /// Absent: unchanged; `null`: cleared; a string: set.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        name: Option<Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        description: Option<Option<String>>,
        #[serde(with = "time::serde::rfc3339")]
        updated_at: OffsetDateTime,
    },
    Delete { uid: Uuid },
}

/// Tells a present field (even `null`) from an absent one, which `#[serde(default)]` maps to `None`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaEnvelope {
    pub schema_version: u32,
    pub change: KeyChange,
}

impl MetaEnvelope {
    pub fn new(change: KeyChange) -> MetaEnvelope {
        MetaEnvelope { schema_version: SCHEMA_VERSION, change }
    }
}

impl LogRecord for MetaEnvelope {
    const KIND: &'static str = "MetaEnvelope";
}
