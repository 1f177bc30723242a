//! `miroirctl nodes …` and `miroirctl rebalance plan|run …`: online topology changes
//! (`/_miroir/topology/nodes`, docs/topology.md).

use anyhow::{bail, Context};
use clap::Subcommand;
use miroir_gateway::ctl::topology::render_plan;
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum NodesCommand {
    /// A node joins its replica group; it takes its share of the group's shard replicas.
    Add {
        /// The node's id (stable: placement hashes it).
        #[arg(long)]
        id: String,
        /// The node's HTTP address, as the gateways and indexers reach it (`--url` is the
        /// gateway's).
        #[arg(long)]
        node_url: String,
        /// The replica group it joins.
        #[arg(long)]
        group: String,
        /// The key Miroir uses to talk to the node (its master key).
        #[arg(long, env = "MIROIR_NODE_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
        /// Print the plan only; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A node leaves: its replicas move to the other nodes of its group (stop it once the
    /// move is complete).
    Remove {
        id: String,
        /// Print the plan only; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A node stays in the cluster but gives up every replica.
    Drain {
        id: String,
        /// Print the plan only; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
pub enum RebalanceCommand {
    /// What a change would move, replica by replica with its documents, without making it
    /// (the change's dry run).
    Plan {
        #[command(subcommand)]
        change: NodesCommand,
    },
    /// Makes the change (as `miroirctl nodes …`) and prints its plan, replica by replica with
    /// its documents.
    Run {
        #[command(subcommand)]
        change: NodesCommand,
    },
}

/// Whether a change is made or only planned, beyond what its own `--dry-run` says.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `miroirctl nodes …`: as `--dry-run` says.
    AsAsked,
    /// `miroirctl rebalance plan …`.
    Plan,
    /// `miroirctl rebalance run …`.
    Run,
}

/// Runs one change against the gateway at `url`.
pub async fn run(url: &str, master_key: Option<&str>, print_json: bool, command: &NodesCommand, mode: Mode) -> anyhow::Result<()> {
    let mut endpoint = reqwest::Url::parse(url).with_context(|| format!("`{url}` is not a URL"))?;
    let client = reqwest::Client::new();
    let (method, segments, body, dry_run) = match command {
        NodesCommand::Add { id, node_url, group, api_key, dry_run } => {
            let mut body = json!({"id": id, "url": node_url, "replicaGroup": group});
            if let Some(key) = api_key {
                body["apiKey"] = json!(key);
            }
            (reqwest::Method::POST, vec![], Some(body), *dry_run)
        }
        NodesCommand::Remove { id, dry_run } => (reqwest::Method::DELETE, vec![id.as_str()], None, *dry_run),
        NodesCommand::Drain { id, dry_run } => (reqwest::Method::POST, vec![id.as_str(), "drain"], None, *dry_run),
    };
    let dry_run = match mode {
        Mode::AsAsked => dry_run,
        Mode::Plan => true,
        Mode::Run if dry_run => bail!("`rebalance run` makes the change; `rebalance plan` is its dry run"),
        Mode::Run => false,
    };
    endpoint
        .path_segments_mut()
        .map_err(|()| anyhow::anyhow!("`{url}` cannot be a base URL"))?
        .pop_if_empty()
        .extend(["_miroir", "topology", "nodes"])
        .extend(segments);
    let mut request = client.request(method, endpoint.clone()).query(&[("dryRun", dry_run.to_string())]);
    if let Some(body) = &body {
        request = request.json(body);
    }
    let answer = admin_answer(request, &endpoint, url, master_key).await?;
    print_answer(&answer, print_json, render_plan)
}

/// Sends an admin request (with the master key when given) and returns its JSON answer; an
/// answer that is not a success is an error naming its code and message.
pub async fn admin_answer(
    mut request: reqwest::RequestBuilder,
    endpoint: &reqwest::Url,
    url: &str,
    master_key: Option<&str>,
) -> anyhow::Result<Value> {
    if let Some(key) = master_key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.with_context(|| format!("cannot reach the gateway at {url}"))?;
    let status = response.status();
    let answer: Value = response.json().await.with_context(|| format!("{endpoint} did not answer JSON"))?;
    if !status.is_success() {
        bail!(
            "{} answered {status} ({}): {}",
            endpoint.path(),
            answer["code"].as_str().unwrap_or("no code"),
            answer["message"].as_str().unwrap_or("(no message)")
        );
    }
    Ok(answer)
}

/// Prints `answer` as JSON (`--json`) or as `render` shows it to people.
pub fn print_answer(answer: &Value, print_json: bool, render: fn(&Value) -> String) -> anyhow::Result<()> {
    if print_json {
        println!("{}", serde_json::to_string_pretty(answer)?);
    } else {
        print!("{}", render(answer));
    }
    Ok(())
}
