//! A loopback TCP forwarder with a fixed port in front of a broker whose port changes when it
//! restarts (`NatsServer::restart` picks a new one), so the gateway and indexer keep their
//! configured URL across a broker crash. A dropped upstream drops the client connection, as a
//! crashed broker would.

use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Forwarder {
    port: u16,
    upstream: Arc<Mutex<String>>,
    accept_loop: JoinHandle<()>,
}

impl Forwarder {
    /// Listens on a free loopback port and forwards each connection to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding the forwarder");
        let port = listener.local_addr().expect("forwarder address").port();
        let upstream = Arc::new(Mutex::new(upstream.to_owned()));
        let target = upstream.clone();
        let accept_loop = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let address = target.lock().expect("upstream lock").clone();
                tokio::spawn(async move {
                    // Upstream down: closing the client connection is what a dead broker looks like.
                    if let Ok(mut server) = TcpStream::connect(&address).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Forwarder { port, upstream, accept_loop }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// New connections go to `upstream` from now on.
    pub fn retarget(&self, upstream: &str) {
        *self.upstream.lock().expect("upstream lock") = upstream.to_owned();
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}
