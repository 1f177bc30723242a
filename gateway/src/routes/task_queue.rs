//! `POST /tasks/compact` and `GET /tasks/{uid}/documents`: answered as a Meilisearch 1.50 node
//! without the `task queue compaction route` and `get task documents route` experimental
//! features (the cluster has them off, see [`crate::features`]). Neither reads anything before
//! its feature check.

use crate::error::GatewayError;
use crate::features::{GET_TASK_DOCUMENTS_ROUTE, TASK_QUEUE_COMPACTION_ROUTE};

/// `POST /tasks/compact`.
pub async fn compact() -> GatewayError {
    TASK_QUEUE_COMPACTION_ROUTE.refuse("Using the /tasks/compact route").into()
}

/// `GET /tasks/{uid}/documents`, whatever the uid.
pub async fn documents() -> GatewayError {
    GET_TASK_DOCUMENTS_ROUTE.refuse("Getting the documents of an enqueued task").into()
}
