//! Document TTL (docs/ttl.md): each index's TTL field, folded from `meta` like webhooks, so
//! every gateway writes the same normalized expiry into documents of an index with TTL and
//! hides the same expired documents from reads. The setting is changed through
//! `/_miroir/indexes/{uid}/ttl` (`routes::ttl`); the reconciler folds the same records and
//! sweeps expired documents.

use std::sync::Arc;
use std::time::Duration;

use miroir_clients::log::WriteLog;
use miroir_schemas::meta_log::ttl::{check_ttl_field, TtlChange, TtlFields};
use miroir_schemas::meta_log::MetaEnvelope;
use miroir_schemas::node_layout::{add_expiry, now_millis, with_unexpired};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use crate::error::GatewayError;
use crate::meta_fold::{MetaFollower, MetaState};

/// Routing key of TTL records in `meta` (the topic has one partition).
const META_KEY: &str = "ttl";

/// How long a request waits for this gateway's fold of `meta`.
const FOLD_TIMEOUT: Duration = Duration::from_secs(10);

impl MetaState for TtlFields {
    type Change = TtlChange;
    /// The index's field after the change.
    type Outcome = Option<String>;

    fn change_of(envelope: MetaEnvelope) -> Option<TtlChange> {
        envelope.ttl_change()
    }

    fn apply(&mut self, change: &TtlChange) -> Option<String> {
        TtlFields::apply(self, change)
    }
}

/// Why a TTL setting request is refused.
#[derive(Debug, thiserror::Error)]
pub enum TtlRequestError {
    #[error("the body must be a JSON object with a string `field` (the documents' expiry field), e.g. {{\"field\": \"expiresAt\"}}")]
    Shape,
    #[error(transparent)]
    Field(#[from] miroir_schemas::meta_log::ttl::TtlFieldError),
}

/// The TTL field a `PUT /_miroir/indexes/{uid}/ttl` body names.
pub fn requested_field(body: &Value) -> Result<String, TtlRequestError> {
    let object = body.as_object().ok_or(TtlRequestError::Shape)?;
    if object.keys().any(|key| key != "field") {
        return Err(TtlRequestError::Shape);
    }
    let field = object.get("field").and_then(Value::as_str).ok_or(TtlRequestError::Shape)?;
    check_ttl_field(field)?;
    Ok(field.to_owned())
}

/// This gateway's TTL settings, kept current from `meta`.
pub struct TtlService {
    meta: MetaFollower<TtlFields>,
    /// Reads and writes do not catch up with `meta` each time (a log round trip per search):
    /// they read the fold as the watcher keeps it, once it has caught up the first time.
    first_catch_up: OnceCell<()>,
}

impl TtlService {
    /// Starts folding `meta` (call inside a Tokio runtime).
    pub fn start(log: Arc<dyn WriteLog>) -> TtlService {
        TtlService { meta: MetaFollower::start(log, TtlFields::default(), FOLD_TIMEOUT), first_catch_up: OnceCell::new() }
    }

    /// `GET /_miroir/indexes/{uid}/ttl`: current with every change acknowledged before the call.
    pub async fn get(&self, index_uid: &str) -> Result<Option<String>, GatewayError> {
        self.meta.catch_up().await?;
        Ok(self.meta.ring().read(|fields| fields.field_of(index_uid).map(str::to_owned)))
    }

    /// `PUT /_miroir/indexes/{uid}/ttl`.
    pub async fn set(&self, index_uid: &str, field: String) -> Result<Option<String>, GatewayError> {
        self.meta.append_and_fold(META_KEY, TtlChange::TtlSet { index_uid: index_uid.to_owned(), field }).await
    }

    /// `DELETE /_miroir/indexes/{uid}/ttl`.
    pub async fn delete(&self, index_uid: &str) -> Result<(), GatewayError> {
        self.meta.append_and_fold(META_KEY, TtlChange::TtlDelete { index_uid: index_uid.to_owned() }).await.map(drop)
    }

    /// The TTL field of `index_uid` as this gateway's watcher has folded it (after catching up
    /// once, at the first call).
    pub async fn field_of(&self, index_uid: &str) -> Result<Option<String>, GatewayError> {
        self.first_catch_up.get_or_try_init(|| self.meta.catch_up()).await?;
        Ok(self.meta.ring().read(|fields| fields.field_of(index_uid).map(str::to_owned)))
    }

    /// Adds each document's normalized expiry when `index_uid` has TTL.
    pub async fn add_expiries<'a>(
        &self,
        index_uid: &str,
        documents: impl IntoIterator<Item = &'a mut Map<String, Value>>,
    ) -> Result<(), GatewayError> {
        if let Some(field) = self.field_of(index_uid).await? {
            documents.into_iter().for_each(|document| add_expiry(document, &field));
        }
        Ok(())
    }

    /// ANDs "not expired now" into a read's `filter` when `index_uid` has TTL; the time it
    /// compared with, if it did.
    pub async fn hide_expired(&self, index_uid: &str, request: &mut Map<String, Value>) -> Result<Option<i64>, GatewayError> {
        if self.field_of(index_uid).await?.is_none() {
            return Ok(None);
        }
        let now = now_millis();
        let filter = with_unexpired(request.get("filter").unwrap_or(&Value::Null), now);
        request.insert("filter".to_owned(), filter);
        Ok(Some(now))
    }

    /// [`TtlService::hide_expired`] for every query of a `/multi-search` body.
    pub async fn hide_expired_in_queries(&self, body: &mut Map<String, Value>) -> Result<(), GatewayError> {
        let Some(Value::Array(queries)) = body.get_mut("queries") else { return Ok(()) };
        for query in queries.iter_mut().filter_map(Value::as_object_mut) {
            let Some(index_uid) = query.get("indexUid").and_then(Value::as_str).map(str::to_owned) else { continue };
            self.hide_expired(&index_uid, query).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn setting_bodies() {
        assert_eq!(requested_field(&json!({"field": "expiresAt"})).unwrap(), "expiresAt");
        for refused in [json!({}), json!({"field": 1}), json!({"field": "a", "other": 1}), json!("expiresAt"), json!({"field": ""})] {
            assert!(requested_field(&refused).is_err(), "{refused}");
        }
        assert!(matches!(requested_field(&json!({"field": "_miroir_x"})), Err(TtlRequestError::Field(_))));
    }
}
