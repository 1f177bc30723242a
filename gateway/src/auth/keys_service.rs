//! Cluster-wide API keys: every change goes through the `meta` log, and every gateway answers
//! from its own fold of that log.
//!
//! * A background watcher ([`MetaFollower`]) tails `meta` from offset 0 into this gateway's [`KeyRing`], so a key
//!   changed through any gateway applies on every gateway, and a restarted gateway rebuilds
//!   the same keys.
//! * A `/keys` write appends one [`KeyChange`], waits until this gateway's own watcher has
//!   folded that record, and answers with what the fold decided (a duplicate uid, a key
//!   deleted meanwhile by another gateway…), so all gateways agree with the log.
//! * An empty log is seeded with Meilisearch's default keys. Their uids derive from the master
//!   key and their dedup ids from the uids, so gateways racing to seed store them once.
//! * Expiry is checked at request time ([`authorize`] gets the clock's `now`).

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use miroir_clients::log::{NewRecord, Topic, WriteLog};
use miroir_schemas::envelope::encode;
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::meta_log::{KeyChange, MetaEnvelope};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::authorize::{authorize, AuthContext};
use super::key::default_keys;
use super::key_body::{parse_create, parse_patch};
use super::key_ring::KeyRing;
use super::key_snapshot::KeysSnapshot;
use super::key_view::{key_not_found, key_view, list_view, resolve_key, ListQuery};
use super::routes::RoutePolicy;
use super::store::{Applied, KeyStore};
use crate::error::GatewayError;
use crate::meta_fold::MetaFollower;

/// Routing key of every `meta` record (the topic has one partition).
const META_KEY: &str = "keys";

/// The time requests are judged at (a fixed or stepped clock in tests).
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// Settings of a [`KeysService`].
#[derive(Clone)]
pub struct KeysOptions {
    pub clock: Clock,
    /// How long a `/keys` write or a catch-up waits for the watcher before answering `503`.
    pub fold_timeout: Duration,
    /// How long a request with an unknown key may wait for this gateway to catch up with
    /// `meta` before it is refused (kept short: a refused key must not hold a request long).
    pub auth_catch_up_timeout: Duration,
    /// Largest `/keys` request body, in bytes (the gateway's `--payload-limit`).
    pub payload_limit: usize,
}

impl Default for KeysOptions {
    fn default() -> Self {
        KeysOptions {
            clock: Arc::new(OffsetDateTime::now_utc),
            fold_timeout: Duration::from_secs(10),
            auth_catch_up_timeout: Duration::from_secs(2),
            payload_limit: crate::config::DEFAULT_PAYLOAD_LIMIT,
        }
    }
}

/// The key set of one gateway, kept current from the `meta` log. Cheap to clone.
#[derive(Clone)]
pub struct KeysService(Arc<Inner>);

struct Inner {
    meta: MetaFollower<KeyStore>,
    options: KeysOptions,
}

impl KeysService {
    /// Starts the `meta` watcher, seeds the default keys into an empty log (when a master key
    /// is set), and returns once every record already in the log is folded, so the first
    /// request is judged against the whole key set. Call inside a Tokio runtime.
    pub async fn start(log: Arc<dyn WriteLog>, master_key: Option<String>, options: KeysOptions) -> Result<Self, GatewayError> {
        KeysService::start_from(log, master_key, options, None).await
    }

    /// [`KeysService::start`] from the key section of a snapshot, when there is one: only the
    /// `meta` records after it are folded.
    pub async fn start_from(
        log: Arc<dyn WriteLog>,
        master_key: Option<String>,
        options: KeysOptions,
        snapshot: Option<KeysSnapshot>,
    ) -> Result<Self, GatewayError> {
        let ring = match snapshot {
            Some(snapshot) => {
                let (next, changes) = (snapshot.meta, snapshot.changes);
                tracing::info!(from_meta = next, keys = snapshot.keys.len(), "API keys start from the snapshot; folding meta after it");
                KeyRing::folded_up_to(snapshot.into_store(master_key.clone()), next, changes)
            }
            None => KeyRing::new(KeyStore::new(master_key.clone())),
        };
        let meta = MetaFollower::start_from(log, ring, options.fold_timeout);
        let service = KeysService(Arc::new(Inner { meta, options }));
        service.catch_up().await?;
        if let Some(master_key) = master_key {
            service.seed_default_keys(&master_key).await?;
            service.catch_up().await?;
        }
        Ok(service)
    }

    /// Seeds the default keys into a log that never held a key change (`meta` also carries
    /// task records, so an indexer may have written first). Gateways starting together may both
    /// seed: the uids and dedup ids are derived from the master key, and the fold keeps the
    /// first creation of a uid, so they agree.
    async fn seed_default_keys(&self, master_key: &str) -> Result<(), GatewayError> {
        if self.ring().changes_folded() > 0 {
            return Ok(());
        }
        let records = default_keys(master_key, self.now())
            .into_iter()
            .map(|key| {
                let dedup_id = format!("default-key:{}", key.uid);
                NewRecord::new(META_KEY, dedup_id, encode(&MetaEnvelope::new(KeyChange::Create { key })))
            })
            .collect();
        self.0.meta.log().append_many(Topic::Meta, records).await?;
        Ok(())
    }

    pub fn payload_limit(&self) -> usize {
        self.0.options.payload_limit
    }

    pub fn now(&self) -> OffsetDateTime {
        (self.0.options.clock)()
    }

    /// This gateway's fold of `meta`.
    pub fn ring(&self) -> &KeyRing {
        self.0.meta.ring()
    }

    /// Waits until every record appended to `meta` before this call is folded.
    pub async fn catch_up(&self) -> Result<(), GatewayError> {
        self.0.meta.catch_up().await
    }

    /// Authenticates a request for `policy` now. A bearer value this gateway refuses is tried
    /// once more after catching up with `meta`, so a key created through another gateway
    /// works as soon as its creation was acknowledged.
    pub async fn authorize(&self, headers: &HeaderMap, policy: &RoutePolicy) -> Result<AuthContext, ResponseError> {
        let now = self.now();
        let judge = || self.ring().read(|store| authorize(store, headers, policy, now));
        match judge() {
            Err(error) if error.known_code() == Some(Code::InvalidApiKey) => {
                let folded_before = self.ring().next_offset();
                let caught_up = tokio::time::timeout(self.0.options.auth_catch_up_timeout, self.catch_up()).await;
                match caught_up {
                    Ok(Ok(())) if self.ring().next_offset() > folded_before => judge(),
                    // Nothing new (or the log is unreachable): the first answer stands.
                    _ => Err(error),
                }
            }
            answer => answer,
        }
    }

    /// `POST /keys`: 201 with the new key, or the fold's verdict.
    pub async fn create(&self, body: &Value) -> Result<Value, GatewayError> {
        let new_key = parse_create(body, Uuid::new_v4(), self.now())?;
        let uid = new_key.record.uid;
        match self.append_and_fold(KeyChange::Create { key: new_key.record }).await? {
            Applied::Created(_) => self.view_of(uid),
            Applied::AlreadyExists(_) => {
                Err(GatewayError::meili(Code::ApiKeyAlreadyExists, format!("`uid` field value `{uid}` is already an existing API key.")))
            }
            other => Err(unexpected(other)),
        }
    }

    /// `PATCH /keys/{key}`: the body is checked before the key is looked up, as Meilisearch does.
    pub async fn update(&self, param: &str, body: &Value) -> Result<Value, GatewayError> {
        let patch = parse_patch(body)?;
        let uid = self.resolve(param).await?;
        match self.append_and_fold(patch.into_change(uid, self.now())).await? {
            Applied::Updated(_) => self.view_of(uid),
            Applied::NotFound(_) => Err(key_not_found(param).into()),
            other => Err(unexpected(other)),
        }
    }

    /// `DELETE /keys/{key}`.
    pub async fn delete(&self, param: &str) -> Result<(), GatewayError> {
        let uid = self.resolve(param).await?;
        match self.append_and_fold(KeyChange::Delete { uid }).await? {
            Applied::Deleted(_) => Ok(()),
            Applied::NotFound(_) => Err(key_not_found(param).into()),
            other => Err(unexpected(other)),
        }
    }

    /// `GET /keys/{key}`, current with every change acknowledged before the call.
    pub async fn get(&self, param: &str) -> Result<Value, GatewayError> {
        self.catch_up().await?;
        Ok(self.ring().read(|store| resolve_key(store, param).map(|key| key_view(store, key)))?)
    }

    /// `GET /keys`, current with every change acknowledged before the call.
    pub async fn list(&self, query: ListQuery) -> Result<Value, GatewayError> {
        self.catch_up().await?;
        Ok(self.ring().read(|store| list_view(store, query)))
    }

    /// The uid a `{key}` parameter names, after catching up with `meta`.
    async fn resolve(&self, param: &str) -> Result<Uuid, GatewayError> {
        self.catch_up().await?;
        Ok(self.ring().read(|store| resolve_key(store, param).map(|key| key.uid()))?)
    }

    fn view_of(&self, uid: Uuid) -> Result<Value, GatewayError> {
        self.ring().read(|store| store.get(uid).map(|key| key_view(store, key))).ok_or_else(|| {
            // Folded, then removed by a later record before we looked.
            key_not_found(&uid.to_string()).into()
        })
    }

    /// Appends `change` to `meta` and returns what this gateway's fold of that record did.
    async fn append_and_fold(&self, change: KeyChange) -> Result<Applied, GatewayError> {
        self.0.meta.append_and_fold(META_KEY, change).await
    }
}

fn unexpected(applied: Applied) -> GatewayError {
    GatewayError::Internal(format!("a meta record folded as {applied:?}, which its request cannot cause"))
}
