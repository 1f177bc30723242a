//! `miroirctl`: Miroir's command line for operators. It talks only to a gateway (its admin API
//! under `/_miroir`, and the Meilisearch API), with the master key.

#[path = "miroirctl/alias.rs"]
mod alias;

#[path = "miroirctl/cdc_tail.rs"]
mod cdc_tail;

#[path = "miroirctl/import_dump.rs"]
mod import_dump;

#[path = "miroirctl/nodes.rs"]
mod nodes;

#[path = "miroirctl/reshard.rs"]
mod reshard;

use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use miroir_gateway::ctl::topology::render_topology;
use miroir_gateway::ctl::{render_status, render_tasks, render_verify};
use serde_json::Value;

#[derive(Parser)]
#[command(name = "miroirctl", version, about = "Operate a Miroir cluster through one of its gateways")]
struct Cli {
    /// The gateway's API address.
    #[arg(long, env = "MIROIR_URL", default_value = "http://127.0.0.1:7700", global = true)]
    url: String,
    /// The cluster's master key.
    #[arg(long, env = "MIROIR_MASTER_KEY", hide_env_values = true, global = true)]
    master_key: Option<String>,
    /// Print the gateway's JSON answer as it is (for scripts).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Nodes and whether they answer, the shards each holds, readiness, and the indexers' lag
    /// behind the `ops` log per partition.
    Status {
        /// The indexers' consumer group, when not the default.
        #[arg(long, env = "MIROIR_INDEXER_GROUP")]
        indexer_group: Option<String>,
    },
    /// The newest topology: its nodes (draining or not), which nodes hold each shard, and the
    /// move in progress.
    Topology,
    /// Online topology changes: add, remove or drain a node (docs/topology.md).
    Nodes {
        #[command(subcommand)]
        command: nodes::NodesCommand,
    },
    /// Which replicas a change moves and how many documents: plan it, or run it.
    Rebalance {
        #[command(subcommand)]
        command: nodes::RebalanceCommand,
    },
    /// Reshards an index online to another shard count (docs/resharding.md): prints the plan
    /// (documents copied, extra disk until the old layout is released).
    Reshard {
        /// The index.
        index: String,
        /// The new shard count.
        #[arg(long)]
        shards: u32,
        /// Print the plan only; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Tasks, newest first, filtered as `GET /tasks` filters them.
    Tasks {
        /// Comma-separated statuses (enqueued, processing, succeeded, failed, canceled).
        #[arg(long)]
        statuses: Option<String>,
        /// Comma-separated task types.
        #[arg(long)]
        types: Option<String>,
        /// Comma-separated index uids.
        #[arg(long)]
        index_uids: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        /// The uid to start from (the `next` of the previous page).
        #[arg(long)]
        from: Option<u64>,
    },
    /// Index aliases: list, get, set (create or switch), delete (docs/aliases.md).
    Alias {
        #[command(subcommand)]
        command: alias::AliasCommand,
    },
    /// Compares the replicas of every shard (documents and settings) and reports what differs;
    /// with `--repair`, brings the replicas that differ in line with the majority (docs/repair.md).
    Verify {
        /// Only this index.
        #[arg(long)]
        index: Option<String>,
        /// Repair what differs, not only report it.
        #[arg(long)]
        repair: bool,
        /// The indexers' consumer group, when not the default.
        #[arg(long, env = "MIROIR_INDEXER_GROUP")]
        indexer_group: Option<String>,
        /// Pause after each page of documents read (throttle), in milliseconds.
        #[arg(long)]
        page_pause_ms: Option<u64>,
    },
    /// Loads one Meilisearch node's dump (`.dump`, v6) into the cluster: its indexes, settings,
    /// documents (routed to their shards as any write) and API keys (docs/dumps.md).
    ImportDump {
        /// The dump file.
        file: std::path::PathBuf,
    },
    /// Change-data-capture: read the `cdc` log directly (docs/cdc.md).
    Cdc {
        #[command(subcommand)]
        command: CdcCommand,
    },
}

#[derive(Subcommand)]
enum CdcCommand {
    /// Prints CDC events, one JSON object per line, following the log until interrupted.
    Tail(cdc_tail::TailArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("miroirctl: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// One command's request, and how its answer is shown to people.
struct Asked {
    method: reqwest::Method,
    path: &'static str,
    query: Vec<(&'static str, String)>,
    render: fn(&Value) -> String,
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let Asked { method, path, query, render } = match &cli.command {
        Command::Status { indexer_group } => Asked {
            method: reqwest::Method::GET,
            path: "/_miroir/status",
            query: indexer_group.iter().map(|g| ("indexerGroup", g.clone())).collect(),
            render: render_status,
        },
        Command::Topology => Asked { method: reqwest::Method::GET, path: "/_miroir/topology", query: Vec::new(), render: render_topology },
        Command::Tasks { statuses, types, index_uids, limit, from } => {
            let mut query = Vec::new();
            let pairs = [("statuses", statuses.clone()), ("types", types.clone()), ("indexUids", index_uids.clone())];
            query.extend(pairs.into_iter().filter_map(|(name, value)| Some((name, value?))));
            query.extend(limit.map(|n| ("limit", n.to_string())));
            query.extend(from.map(|n| ("from", n.to_string())));
            Asked { method: reqwest::Method::GET, path: "/tasks", query, render: render_tasks }
        }
        Command::Alias { command } => return alias::run(&cli.url, cli.master_key.as_deref(), cli.json, command).await,
        Command::Nodes { command } => {
            return nodes::run(&cli.url, cli.master_key.as_deref(), cli.json, command, nodes::Mode::AsAsked).await
        }
        Command::Rebalance { command } => {
            let (change, mode) = match command {
                nodes::RebalanceCommand::Plan { change } => (change, nodes::Mode::Plan),
                nodes::RebalanceCommand::Run { change } => (change, nodes::Mode::Run),
            };
            return nodes::run(&cli.url, cli.master_key.as_deref(), cli.json, change, mode).await;
        }
        Command::Reshard { index, shards, dry_run } => {
            return reshard::run(&cli.url, cli.master_key.as_deref(), cli.json, index, *shards, *dry_run).await
        }
        Command::Verify { index, repair, indexer_group, page_pause_ms } => {
            let mut query: Vec<(&str, String)> = index.iter().map(|i| ("index", i.clone())).collect();
            query.push(("repair", repair.to_string()));
            query.extend(indexer_group.iter().map(|g| ("indexerGroup", g.clone())));
            query.extend(page_pause_ms.map(|ms| ("pagePauseMs", ms.to_string())));
            Asked { method: reqwest::Method::POST, path: "/_miroir/verify", query, render: render_verify }
        }
        Command::Cdc { command: CdcCommand::Tail(args) } => return cdc_tail::tail(args).await,
        Command::ImportDump { file } => return import_dump::run(&cli.url, cli.master_key.as_deref(), file).await,
    };
    let answer = call(&cli, method, path, &query).await?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print!("{}", render(&answer));
    }
    Ok(())
}

async fn call(cli: &Cli, method: reqwest::Method, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
    let url = format!("{}{path}", cli.url.trim_end_matches('/'));
    let mut request = reqwest::Client::new().request(method, &url).query(query);
    if let Some(key) = &cli.master_key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.with_context(|| format!("cannot reach the gateway at {}", cli.url))?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| format!("{url} did not answer JSON"))?;
    if !status.is_success() {
        bail!("{url} answered {status}: {}", body["message"].as_str().unwrap_or("(no message)"));
    }
    Ok(body)
}
