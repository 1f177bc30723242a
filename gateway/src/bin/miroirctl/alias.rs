//! `miroirctl alias …`: index aliases (`/_miroir/aliases`, docs/aliases.md).

use anyhow::{bail, Context};
use clap::Subcommand;
use miroir_gateway::ctl::aliases::render_aliases;
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum AliasCommand {
    /// Every alias and the indexes it names.
    List,
    /// One alias.
    Get { name: String },
    /// Creates an alias, or switches it to other indexes (one record: every gateway switches at once).
    Set {
        name: String,
        /// The index it names (several: for federated multi-search reads only).
        #[arg(required = true)]
        indexes: Vec<String>,
    },
    /// Deletes an alias; the indexes it named stay.
    Delete { name: String },
}

/// Runs one alias command against the gateway at `url`.
pub async fn run(url: &str, master_key: Option<&str>, print_json: bool, command: &AliasCommand) -> anyhow::Result<()> {
    let base = format!("{}/_miroir/aliases", url.trim_end_matches('/'));
    let client = reqwest::Client::new();
    let request = match command {
        AliasCommand::List => client.get(&base),
        AliasCommand::Get { name } => client.get(format!("{base}/{name}")),
        AliasCommand::Set { name, indexes } => client.put(format!("{base}/{name}")).json(&json!({ "indexes": indexes })),
        AliasCommand::Delete { name } => client.delete(format!("{base}/{name}")),
    };
    let request = match master_key {
        Some(key) => request.bearer_auth(key),
        None => request,
    };
    let response = request.send().await.with_context(|| format!("cannot reach the gateway at {url}"))?;
    let status = response.status();
    let bytes = response.bytes().await.context("reading the gateway's answer")?;
    let answer: Value =
        if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).context("the gateway did not answer JSON")? };
    if !status.is_success() {
        bail!("{base} answered {status}: {}", answer["message"].as_str().unwrap_or("(no message)"));
    }
    match (command, print_json) {
        (AliasCommand::Delete { name }, _) => println!("alias `{name}` deleted"),
        (_, true) => println!("{}", serde_json::to_string_pretty(&answer)?),
        (_, false) => print!("{}", render_aliases(&answer)),
    }
    Ok(())
}
