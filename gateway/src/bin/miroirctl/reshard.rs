//! `miroirctl reshard <index> --shards N`: reshard an index online
//! (`/_miroir/indexes/{uid}/reshard`, docs/resharding.md).

use anyhow::Context;
use miroir_gateway::ctl::reshard::render_reshard_plan;
use serde_json::json;

use crate::nodes::{admin_answer, print_answer};

/// Asks the gateway at `url` to reshard `index` to `shards` shards (or only plans it).
pub async fn run(url: &str, master_key: Option<&str>, print_json: bool, index: &str, shards: u32, dry_run: bool) -> anyhow::Result<()> {
    let mut endpoint = reqwest::Url::parse(url).with_context(|| format!("`{url}` is not a URL"))?;
    endpoint
        .path_segments_mut()
        .map_err(|()| anyhow::anyhow!("`{url}` cannot be a base URL"))?
        .pop_if_empty()
        .extend(["_miroir", "indexes", index, "reshard"]);
    let request = reqwest::Client::new().post(endpoint.clone()).query(&[("dryRun", dry_run.to_string())]).json(&json!({"shards": shards}));
    let answer = admin_answer(request, &endpoint, url, master_key).await?;
    print_answer(&answer, print_json, render_reshard_plan)
}
