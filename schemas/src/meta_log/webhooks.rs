//! The cluster's webhooks (`/webhooks`), kept in the `meta` log like API keys: every gateway
//! folds the same changes in the same order, so every gateway lists the same webhooks.
//!
//! The fold is the judge of what depends on the other webhooks: a creation beyond
//! Meilisearch's 20 webhooks, an update of a webhook deleted meanwhile, or headers merged past
//! 200 are refused by the fold itself, so two gateways racing cannot pass a limit one node
//! would keep. What depends on the request alone (the URL, header names and values) is checked
//! by the gateway before it appends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most webhooks Meilisearch 1.50 keeps.
pub const MAX_WEBHOOKS: usize = 20;
/// Most headers one webhook may carry.
pub const MAX_HEADERS: usize = 200;

/// One webhook: where finished tasks are posted, and with which headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A change to the webhooks, as one `meta` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum WebhookChange {
    WebhookCreate {
        uuid: Uuid,
        webhook: Webhook,
    },
    /// `PATCH /webhooks/{uuid}`: only what the request touched, so two gateways changing
    /// different headers of one webhook both win.
    WebhookUpdate {
        uuid: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// `headers: null`: every header removed (before `headers` applies).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        clear_headers: bool,
        /// Header → new value, or `None` to remove it.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, Option<String>>,
    },
    WebhookDelete {
        uuid: Uuid,
    },
}

/// What folding one change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookApplied {
    Created(Uuid),
    Updated(Uuid),
    Deleted(Uuid),
    /// An update or delete of a webhook that is not (or no longer) there: nothing changed.
    NotFound(Uuid),
    /// A creation while [`MAX_WEBHOOKS`] exist: nothing changed.
    TooManyWebhooks(Uuid),
    /// A creation of a uuid that exists (the first creation wins): nothing changed.
    AlreadyExists(Uuid),
    /// An update that would leave more than [`MAX_HEADERS`] headers: nothing changed.
    TooManyHeaders(Uuid),
}

/// The webhooks folded so far, by uuid (the order `GET /webhooks` lists them in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Webhooks {
    webhooks: BTreeMap<Uuid, Webhook>,
}

impl Webhooks {
    /// Folds one change.
    pub fn apply(&mut self, change: &WebhookChange) -> WebhookApplied {
        match change {
            WebhookChange::WebhookCreate { uuid, webhook } => {
                if self.webhooks.contains_key(uuid) {
                    return WebhookApplied::AlreadyExists(*uuid);
                }
                if self.webhooks.len() >= MAX_WEBHOOKS {
                    return WebhookApplied::TooManyWebhooks(*uuid);
                }
                self.webhooks.insert(*uuid, webhook.clone());
                WebhookApplied::Created(*uuid)
            }
            WebhookChange::WebhookUpdate { uuid, url, clear_headers, headers } => {
                let Some(existing) = self.webhooks.get(uuid) else {
                    return WebhookApplied::NotFound(*uuid);
                };
                let mut updated = existing.clone();
                if let Some(url) = url {
                    updated.url = url.clone();
                }
                if *clear_headers {
                    updated.headers.clear();
                }
                for (name, value) in headers {
                    match value {
                        Some(value) => updated.headers.insert(name.clone(), value.clone()),
                        None => updated.headers.remove(name),
                    };
                }
                if updated.headers.len() > MAX_HEADERS {
                    return WebhookApplied::TooManyHeaders(*uuid);
                }
                self.webhooks.insert(*uuid, updated);
                WebhookApplied::Updated(*uuid)
            }
            WebhookChange::WebhookDelete { uuid } => match self.webhooks.remove(uuid) {
                Some(_) => WebhookApplied::Deleted(*uuid),
                None => WebhookApplied::NotFound(*uuid),
            },
        }
    }

    pub fn get(&self, uuid: &Uuid) -> Option<&Webhook> {
        self.webhooks.get(uuid)
    }

    /// Every webhook, by uuid.
    pub fn iter(&self) -> impl Iterator<Item = (&Uuid, &Webhook)> {
        self.webhooks.iter()
    }

    pub fn len(&self) -> usize {
        self.webhooks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.webhooks.is_empty()
    }
}

#[cfg(test)]
mod tests;
