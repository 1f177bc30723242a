//! How many documents one shard of one index holds, for a topology change's plan
//! (docs/topology.md): asked of one replica reads would ask, another if it fails.

use super::executor::ReadExecutor;
use super::fanout::Failure;
use super::rewrite::{client_error, ClientRequest};
use super::transport::NodeCall;
use miroir_schemas::node_layout::narrowed_to_shards;
use miroir_schemas::topology::ShardId;
use serde_json::{json, Value};

impl ReadExecutor {
    /// The documents of `shard` of `index_uid` under the current read placement: one
    /// filtered fetch of no document on the node index holding it, whose `total` is exact.
    /// `None` when no replica answered (nodes down, or the index missing on them).
    pub async fn shard_documents(&self, index_uid: &str, shard: ShardId) -> Option<u64> {
        let inner = self.inner();
        let view = inner.view(index_uid);
        let user_failure = |error| Failure::from_node_error(error, |object| client_error(object, ClientRequest::SingleIndex, |_| None));
        let gathered = inner
            .gather(&view, index_uid, &[shard], |node, shards| {
                let node_index = view.node_index_parts(node, &shards).first().map(|part| view.node_index(index_uid, part.rank));
                async move {
                    let node_index =
                        node_index.ok_or_else(|| Failure::Node(format!("node {node} holds no replica of shard {}", shard.0)))?;
                    let body = json!({"limit": 0, "filter": narrowed_to_shards(&Value::Null, &shards)});
                    let counted = inner.transport.call(node, &NodeCall::FetchDocuments { node_index, body }).await.map_err(user_failure)?;
                    Ok(counted.get("total").and_then(Value::as_u64))
                }
            })
            .await
            .ok()?;
        gathered.answers.into_iter().next().and_then(|answered| answered.value)
    }
}
