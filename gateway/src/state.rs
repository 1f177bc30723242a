//! What every request handler can reach: the cluster's shape, the log, the catalog.

use std::sync::{Arc, OnceLock};

use miroir_clients::log::WriteLog;
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::Topology;

use crate::aliases::AliasesService;
use crate::read::{ReadConfig, ReadExecutor};
use crate::topology_changes::TopologyService;
use crate::ttl::TtlService;
use crate::watch::CatalogHandle;
use crate::webhooks::WebhooksService;

/// Shared, cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    /// The launch topology's placement: documents are routed to shards by it (the shard count
    /// never changes online); which nodes hold a shard comes from [`AppState::topology_changes`].
    placement: Placement,
    log: Arc<dyn WriteLog>,
    catalog: Arc<CatalogHandle>,
    reads: ReadExecutor,
    master_key: Option<String>,
    payload_limit: usize,
    /// How long an `Idempotency-Key` stays reserved (`crate::idempotency`).
    idempotency_window: std::time::Duration,
    /// Started by the first request that needs it.
    webhooks: OnceLock<WebhooksService>,
    /// Started by the first request naming an index.
    aliases: OnceLock<AliasesService>,
    /// Started by the first request that needs it (the first write or read of any index).
    ttl: OnceLock<TtlService>,
    /// Where `POST /dumps` writes dump files (`crate::dumps`).
    dump_dir: std::path::PathBuf,
    /// Started by the first request that needs it, or by [`AppState::start_watching`].
    topology_changes: OnceLock<Arc<TopologyService>>,
}

impl AppState {
    /// State over `log`; the catalog starts empty and is filled by [`crate::watch::spawn_watchers`].
    pub fn new(topology: Topology, log: Arc<dyn WriteLog>, master_key: Option<String>, payload_limit: usize) -> Self {
        Self::with_read_config(topology, log, master_key, payload_limit, ReadConfig::default())
    }

    /// [`AppState::new`] with the read path's deadlines and failure policy.
    pub fn with_read_config(
        topology: Topology,
        log: Arc<dyn WriteLog>,
        master_key: Option<String>,
        payload_limit: usize,
        read_config: ReadConfig,
    ) -> Self {
        // Building the HTTP clients fails only if the TLS backend cannot start: nothing can work then.
        let reads = ReadExecutor::new(topology.clone(), read_config).expect("HTTP clients for the nodes");
        AppState(Arc::new(Shared {
            placement: Placement::new(topology),
            reads,
            log,
            catalog: Arc::new(CatalogHandle::new()),
            master_key,
            payload_limit,
            idempotency_window: crate::idempotency::DEFAULT_WINDOW,
            webhooks: OnceLock::new(),
            aliases: OnceLock::new(),
            ttl: OnceLock::new(),
            dump_dir: std::path::PathBuf::from(crate::dumps::DEFAULT_DUMP_DIR),
            topology_changes: OnceLock::new(),
        }))
    }

    /// Sets how long an `Idempotency-Key` stays reserved (before the state is shared).
    pub fn with_idempotency_window(mut self, window: std::time::Duration) -> Self {
        Arc::get_mut(&mut self.0).expect("configured before the state is shared").idempotency_window = window;
        self
    }

    /// Sets where dumps are written (before the state is shared).
    pub fn with_dump_dir(mut self, dump_dir: std::path::PathBuf) -> Self {
        Arc::get_mut(&mut self.0).expect("configured before the state is shared").dump_dir = dump_dir;
        self
    }

    /// Where `POST /dumps` writes dump files.
    pub fn dump_dir(&self) -> &std::path::Path {
        &self.0.dump_dir
    }

    /// How long an `Idempotency-Key` stays reserved after its first write.
    pub fn idempotency_window(&self) -> std::time::Duration {
        self.0.idempotency_window
    }

    /// The launch topology (its shard count and replication factor are the cluster's for
    /// good; its nodes are the first epoch's, see [`AppState::topology_changes`]).
    pub fn topology(&self) -> &Topology {
        self.0.placement.topology()
    }

    /// The launch placement: use it to route documents to shards (`shard_of`), never to find
    /// the nodes holding a shard (the topology may have changed since: [`AppState::read_placement`]).
    pub fn placement(&self) -> &Placement {
        &self.0.placement
    }

    /// The topology book folded from `meta` (online topology changes), started at the first
    /// call (call inside a Tokio runtime).
    pub fn topology_changes(&self) -> &Arc<TopologyService> {
        self.0.topology_changes.get_or_init(|| Arc::new(TopologyService::start(self.shared_log(), self.topology().clone())))
    }

    /// The placement reads of an index in `layout` use now, and whether a move in progress
    /// makes every read narrowed to the shards it asks of a node index.
    pub fn read_placement(&self, layout: Option<u32>) -> (Arc<Placement>, bool) {
        self.topology_changes().read_view(layout)
    }

    /// Turns the `network` feature on on every node some topology names, now and whenever a
    /// change brings a new one (`crate::node_features`; call inside a Tokio runtime).
    pub fn enable_network_on_every_node(&self) {
        TopologyService::watch_nodes(self.topology_changes(), |node| {
            tokio::spawn(crate::node_features::enable_network_feature_on(node));
        });
    }

    pub fn log(&self) -> &dyn WriteLog {
        self.0.log.as_ref()
    }

    pub fn shared_log(&self) -> Arc<dyn WriteLog> {
        self.0.log.clone()
    }

    pub fn catalog(&self) -> &Arc<CatalogHandle> {
        &self.0.catalog
    }

    /// The read path: searches and document reads fanned out to the nodes.
    pub fn reads(&self) -> &ReadExecutor {
        &self.0.reads
    }

    pub fn master_key(&self) -> Option<&str> {
        self.0.master_key.as_deref()
    }

    /// The cluster's webhooks, folded from `meta` from the first call on (call inside a Tokio
    /// runtime).
    pub fn webhooks(&self) -> &WebhooksService {
        self.0.webhooks.get_or_init(|| WebhooksService::start(self.shared_log()))
    }

    /// Every index's document TTL field, folded from `meta` from the first call on (call inside
    /// a Tokio runtime).
    pub fn ttl(&self) -> &TtlService {
        self.0.ttl.get_or_init(|| TtlService::start(self.shared_log()))
    }

    /// The cluster's index aliases, folded from `meta` from the first call on (call inside a
    /// Tokio runtime).
    pub fn aliases(&self) -> &AliasesService {
        self.0.aliases.get_or_init(|| AliasesService::start(self.shared_log()))
    }

    /// Largest request body accepted, in bytes.
    pub fn payload_limit(&self) -> usize {
        self.0.payload_limit
    }

    /// Starts folding the log into the catalog (call once, inside a Tokio runtime).
    /// Also makes reads follow the indexers' replica lag announcements and the topology book.
    pub fn start_watching(&self) -> Vec<tokio::task::JoinHandle<()>> {
        self.reads().follow_replica_lag(Arc::new(crate::replica_lag::ReplicaLagService::start(self.shared_log())));
        self.reads().follow_topology(self.topology_changes().clone());
        crate::watch::spawn_watchers(self.shared_log(), self.catalog().clone())
    }
}
