//! Records of the `meta` log: API key changes, webhook changes ([`webhooks`]), index aliases
//! ([`aliases`]), and the two records that decide task cancelation (see [`crate::cancelation`]). Every process folds them in log order, so a key
//! created through one gateway is known to all, and every gateway and indexer reaches the same
//! verdict on whether a task was canceled.

pub mod aliases;
pub mod replica_lag;
pub mod topology_changes;
pub mod ttl;
pub mod webhooks;

use crate::envelope::{LogRecord, SCHEMA_VERSION};
use aliases::AliasChange;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use ttl::TtlChange;
use uuid::Uuid;
use webhooks::WebhookChange;

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
    Create {
        key: ApiKeyRecord,
    },
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
    Delete {
        uid: Uuid,
    },
}

/// Tells a present field (even `null`) from an absent one, which `#[serde(default)]` maps to `None`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A record about tasks. Both go to `meta` because cancelation needs one total order between
/// "an indexer is about to apply this task" and "this task is canceled", and `meta` is the
/// one-partition log every process already reads (`tasks` positions are task uids, so nothing
/// else may be appended there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum TaskChange {
    /// An indexer is about to send these tasks' operations to a node for the first time.
    TasksStarted { tasks: Vec<u64> },
    /// Cancelation task `cancelation_uid` was registered at `at` for these tasks (those that
    /// were neither finished nor known to be started when the gateway registered it).
    TasksCanceled {
        cancelation_uid: u64,
        tasks: Vec<u64>,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
}

/// What one `meta` record says. The kinds have disjoint `type` tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetaChange {
    Key(KeyChange),
    Task(TaskChange),
    Webhook(WebhookChange),
    Ttl(TtlChange),
    Alias(AliasChange),
    ReplicaLag(replica_lag::ReplicaLagChange),
    Topology(topology_changes::TopologyChange),
}

impl From<KeyChange> for MetaChange {
    fn from(change: KeyChange) -> Self {
        MetaChange::Key(change)
    }
}

impl From<TaskChange> for MetaChange {
    fn from(change: TaskChange) -> Self {
        MetaChange::Task(change)
    }
}

impl From<TtlChange> for MetaChange {
    fn from(change: TtlChange) -> Self {
        MetaChange::Ttl(change)
    }
}

impl From<AliasChange> for MetaChange {
    fn from(change: AliasChange) -> Self {
        MetaChange::Alias(change)
    }
}

impl From<replica_lag::ReplicaLagChange> for MetaChange {
    fn from(change: replica_lag::ReplicaLagChange) -> Self {
        MetaChange::ReplicaLag(change)
    }
}

impl From<topology_changes::TopologyChange> for MetaChange {
    fn from(change: topology_changes::TopologyChange) -> Self {
        MetaChange::Topology(change)
    }
}

impl From<WebhookChange> for MetaChange {
    fn from(change: WebhookChange) -> Self {
        MetaChange::Webhook(change)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaEnvelope {
    pub schema_version: u32,
    pub change: MetaChange,
}

impl MetaEnvelope {
    pub fn new(change: impl Into<MetaChange>) -> MetaEnvelope {
        MetaEnvelope { schema_version: SCHEMA_VERSION, change: change.into() }
    }

    /// The key change this record carries, if it is one.
    pub fn key_change(self) -> Option<KeyChange> {
        match self.change {
            MetaChange::Key(change) => Some(change),
            _ => None,
        }
    }

    /// The task change this record carries, if it is one.
    pub fn task_change(self) -> Option<TaskChange> {
        match self.change {
            MetaChange::Task(change) => Some(change),
            _ => None,
        }
    }

    /// The TTL setting change this record carries, if it is one.
    pub fn ttl_change(self) -> Option<TtlChange> {
        match self.change {
            MetaChange::Ttl(change) => Some(change),
            _ => None,
        }
    }

    /// The webhook change this record carries, if it is one.
    pub fn webhook_change(self) -> Option<WebhookChange> {
        match self.change {
            MetaChange::Webhook(change) => Some(change),
            _ => None,
        }
    }
}

impl MetaEnvelope {
    /// The alias change this record carries, if it is one.
    pub fn alias_change(self) -> Option<AliasChange> {
        match self.change {
            MetaChange::Alias(change) => Some(change),
            _ => None,
        }
    }

    /// The topology change this record carries, if it is one.
    pub fn topology_change(self) -> Option<topology_changes::TopologyChange> {
        match self.change {
            MetaChange::Topology(change) => Some(change),
            _ => None,
        }
    }

    /// The replica lag announcement this record carries, if it is one.
    pub fn replica_lag_change(self) -> Option<replica_lag::ReplicaLagChange> {
        match self.change {
            MetaChange::ReplicaLag(change) => Some(change),
            _ => None,
        }
    }
}

impl LogRecord for MetaEnvelope {
    const KIND: &'static str = "MetaEnvelope";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{decode, encode};

    #[test]
    fn key_and_task_changes_round_trip_and_tell_themselves_apart() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let changes = [
            MetaEnvelope::new(KeyChange::Delete { uid: Uuid::from_u128(9) }),
            MetaEnvelope::new(TaskChange::TasksStarted { tasks: vec![3, 4] }),
            MetaEnvelope::new(TaskChange::TasksCanceled { cancelation_uid: 7, tasks: vec![5], at }),
        ];
        for envelope in changes {
            let back: MetaEnvelope = decode(&encode(&envelope)).unwrap();
            assert_eq!(back, envelope);
        }
        let started = encode(&MetaEnvelope::new(TaskChange::TasksStarted { tasks: vec![1] }));
        let text = String::from_utf8(started).unwrap();
        assert!(text.contains(r#""type":"tasksStarted""#), "{text}");
        let key: MetaEnvelope = decode(&encode(&MetaEnvelope::new(KeyChange::Delete { uid: Uuid::nil() }))).unwrap();
        assert!(key.clone().task_change().is_none() && key.clone().webhook_change().is_none() && key.key_change().is_some());
        let hook: MetaEnvelope = decode(&encode(&MetaEnvelope::new(WebhookChange::WebhookDelete { uuid: Uuid::nil() }))).unwrap();
        assert!(hook.clone().key_change().is_none() && hook.clone().task_change().is_none() && hook.webhook_change().is_some());
        let ttl = MetaEnvelope::new(TtlChange::TtlSet { index_uid: "movies".into(), field: "expiresAt".into() });
        let back: MetaEnvelope = decode(&encode(&ttl)).unwrap();
        assert_eq!(back, ttl);
        assert!(back.clone().webhook_change().is_none() && back.clone().key_change().is_none() && back.ttl_change().is_some());
    }
}
