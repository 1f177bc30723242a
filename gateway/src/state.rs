//! What every request handler can reach: the cluster's shape, the log, the catalog.

use std::sync::Arc;

use miroir_clients::log::WriteLog;
use miroir_schemas::topology::Topology;

/// Shared, cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    topology: Topology,
    log: Arc<dyn WriteLog>,
    master_key: Option<String>,
    payload_limit: usize,
}

impl AppState {
    pub fn new(topology: Topology, log: Arc<dyn WriteLog>, master_key: Option<String>, payload_limit: usize) -> Self {
        AppState(Arc::new(Shared { topology, log, master_key, payload_limit }))
    }

    pub fn topology(&self) -> &Topology {
        &self.0.topology
    }

    pub fn log(&self) -> &dyn WriteLog {
        self.0.log.as_ref()
    }

    pub fn master_key(&self) -> Option<&str> {
        self.0.master_key.as_deref()
    }

    /// Largest request body accepted, in bytes.
    pub fn payload_limit(&self) -> usize {
        self.0.payload_limit
    }
}
