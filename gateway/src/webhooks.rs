//! Cluster-wide webhooks (`/webhooks`): every change goes through the `meta` log
//! ([`miroir_schemas::meta_log::webhooks`]) and every gateway answers from its own fold of it
//! ([`MetaFollower`]), so a webhook created through one gateway is listed by all of them.
//!
//! A request is judged as one Meilisearch node judges it, against this gateway's view caught
//! up with `meta` (so its errors come in Meilisearch's order); the change it appends carries
//! only what the request asked, and the fold has the last word on what depends on other
//! requests (the 20 webhooks, a webhook deleted meanwhile, headers merged past 200).
//!
//! One gateway at a time calls the webhooks when tasks finish ([`caller`]).

pub mod body;
pub mod caller;
pub mod delivery;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use miroir_clients::log::WriteLog;
use miroir_schemas::meta_log::webhooks::{Webhook, WebhookApplied, WebhookChange, Webhooks, MAX_WEBHOOKS};
use miroir_schemas::meta_log::MetaEnvelope;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::error::GatewayError;
use crate::meta_fold::{MetaFollower, MetaState};
use body::{
    check_editable, check_new_header_count, new_webhook, not_found, parse_uuid, patched_webhook, too_many_headers, too_many_webhooks,
    Setting, WebhookSettings,
};
use view::webhook_view;

/// Routing key of webhook records in `meta` (the topic has one partition).
const META_KEY: &str = "webhooks";

/// How long a request waits for this gateway's fold of `meta`.
const FOLD_TIMEOUT: Duration = Duration::from_secs(10);

impl MetaState for Webhooks {
    type Change = WebhookChange;
    type Outcome = WebhookApplied;

    fn change_of(envelope: MetaEnvelope) -> Option<WebhookChange> {
        envelope.webhook_change()
    }

    fn apply(&mut self, change: &WebhookChange) -> WebhookApplied {
        Webhooks::apply(self, change)
    }
}

/// This gateway's webhooks, kept current from `meta`.
pub struct WebhooksService {
    meta: MetaFollower<Webhooks>,
}

impl WebhooksService {
    /// Starts folding `meta` (call inside a Tokio runtime).
    pub fn start(log: Arc<dyn WriteLog>) -> WebhooksService {
        WebhooksService { meta: MetaFollower::start(log, Webhooks::default(), FOLD_TIMEOUT) }
    }

    /// `GET /webhooks`.
    pub async fn list(&self) -> Result<Value, GatewayError> {
        self.meta.catch_up().await?;
        let results: Vec<Value> =
            self.meta.ring().read(|webhooks| webhooks.iter().map(|(uuid, webhook)| webhook_view(uuid, webhook)).collect());
        Ok(json!({ "results": results }))
    }

    /// `GET /webhooks/{uuid}`.
    pub async fn get(&self, param: &str) -> Result<Value, GatewayError> {
        let uuid = parse_uuid(param)?;
        self.meta.catch_up().await?;
        Ok(self.view_of(uuid)?)
    }

    /// `POST /webhooks`: `201` with the new webhook.
    pub async fn create(&self, settings: WebhookSettings) -> Result<Value, GatewayError> {
        let uuid = Uuid::new_v4();
        check_new_header_count(uuid, &settings)?;
        self.meta.catch_up().await?;
        if self.meta.ring().read(Webhooks::len) >= MAX_WEBHOOKS {
            return Err(too_many_webhooks().into());
        }
        let webhook = new_webhook(uuid, settings)?;
        match self.meta.append_and_fold(META_KEY, WebhookChange::WebhookCreate { uuid, webhook }).await? {
            WebhookApplied::Created(_) => Ok(self.view_of(uuid)?),
            WebhookApplied::TooManyWebhooks(_) => Err(too_many_webhooks().into()),
            other => Err(unexpected(other)),
        }
    }

    /// `PATCH /webhooks/{uuid}`: `200` with the webhook as changed.
    pub async fn update(&self, param: &str, settings: WebhookSettings) -> Result<Value, GatewayError> {
        let uuid = parse_uuid(param)?;
        check_editable(uuid)?;
        self.meta.catch_up().await?;
        let old = self.meta.ring().read(|webhooks| webhooks.get(&uuid).cloned()).ok_or_else(|| not_found(uuid))?;
        patched_webhook(uuid, &old, &settings)?;
        let change = WebhookChange::WebhookUpdate {
            uuid,
            url: match settings.url {
                Setting::Set(url) => Some(url),
                Setting::NotSet | Setting::Reset => None,
            },
            clear_headers: settings.headers == Setting::Reset,
            headers: match settings.headers {
                Setting::Set(headers) => headers,
                Setting::NotSet | Setting::Reset => Default::default(),
            },
        };
        match self.meta.append_and_fold(META_KEY, change).await? {
            WebhookApplied::Updated(_) => Ok(self.view_of(uuid)?),
            WebhookApplied::NotFound(_) => Err(not_found(uuid).into()),
            // Another gateway's headers were merged first.
            WebhookApplied::TooManyHeaders(_) => Err(too_many_headers(uuid).into()),
            other => Err(unexpected(other)),
        }
    }

    /// `DELETE /webhooks/{uuid}`: `204`.
    pub async fn delete(&self, param: &str) -> Result<(), GatewayError> {
        let uuid = parse_uuid(param)?;
        check_editable(uuid)?;
        self.meta.catch_up().await?;
        if self.meta.ring().read(|webhooks| webhooks.get(&uuid).is_none()) {
            return Err(not_found(uuid).into());
        }
        match self.meta.append_and_fold(META_KEY, WebhookChange::WebhookDelete { uuid }).await? {
            WebhookApplied::Deleted(_) => Ok(()),
            WebhookApplied::NotFound(_) => Err(not_found(uuid).into()),
            other => Err(unexpected(other)),
        }
    }

    /// Every webhook, current with every change acknowledged before the call, by uuid (what a
    /// finished task is posted to).
    pub async fn all(&self) -> Result<Vec<(Uuid, Webhook)>, GatewayError> {
        self.meta.catch_up().await?;
        Ok(self.meta.ring().read(|webhooks| webhooks.iter().map(|(uuid, webhook)| (*uuid, webhook.clone())).collect()))
    }

    fn view_of(&self, uuid: Uuid) -> Result<Value, miroir_schemas::error::ResponseError> {
        self.meta.ring().read(|webhooks| webhooks.get(&uuid).map(|webhook| webhook_view(&uuid, webhook))).ok_or_else(|| not_found(uuid))
    }
}

fn unexpected(applied: WebhookApplied) -> GatewayError {
    GatewayError::Internal(format!("a webhook record folded as {applied:?}, which its request cannot cause"))
}

#[cfg(test)]
mod tests;
