//! A TCP proxy that makes one node slow: requests pass at once, every byte of the node's
//! answers is held back by an adjustable delay (latency, not bandwidth: bytes read together
//! leave together, in order). Put in front of a node by [`crate::cluster::ClusterBuilder::slowed_node`],
//! so Miroir's processes reach the node only through it; the delay can change while they run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A running proxy; its listener and connections end when it is dropped.
pub struct DelayProxy {
    url: String,
    delay_micros: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl DelayProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`
    /// (`host:port`). Needs a Tokio runtime.
    pub async fn start(upstream: &str) -> Result<DelayProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the delay proxy")?;
        let url = format!("http://{}", listener.local_addr()?);
        let delay_micros = Arc::new(AtomicU64::new(0));
        let upstream = upstream.to_owned();
        let delay = Arc::clone(&delay_micros);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, delay) = (upstream.clone(), Arc::clone(&delay));
                connections.spawn(async move {
                    if let Ok(node) = TcpStream::connect(&upstream).await {
                        relay(client, node, delay).await;
                    }
                });
            }
        });
        Ok(DelayProxy { url, delay_micros, task })
    }

    /// The URL to give Miroir instead of the node's.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Holds the node's answers back by `delay` from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_micros.store(delay.as_micros() as u64, Ordering::Relaxed);
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies client → node at once and node → client `delay` after each read, until either
/// side closes.
async fn relay(client: TcpStream, node: TcpStream, delay: Arc<AtomicU64>) {
    client.set_nodelay(true).ok();
    node.set_nodelay(true).ok();
    let (mut client_read, mut client_write) = client.into_split();
    let (mut node_read, mut node_write) = node.into_split();
    let requests = tokio::io::copy(&mut client_read, &mut node_write);
    let (held, mut release) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read_answers = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(read) = node_read.read(&mut buffer).await {
            if read == 0 {
                break;
            }
            let due = Instant::now() + Duration::from_micros(delay.load(Ordering::Relaxed));
            if held.send((due, buffer[..read].to_vec())).is_err() {
                break;
            }
        }
    };
    let write_answers = async move {
        while let Some((due, bytes)) = release.recv().await {
            tokio::time::sleep_until(due).await;
            if client_write.write_all(&bytes).await.is_err() {
                break;
            }
        }
        client_write.shutdown().await.ok();
    };
    // the node's answers still held are delivered before the client side closes
    tokio::select! {
        _ = requests => {}
        _ = async { tokio::join!(read_answers, write_answers) } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_arrive_late_by_the_delay_and_whole() {
        // an echo server stands in for the node
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = echo.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 1024];
                    while let Ok(read) = stream.read(&mut buffer).await {
                        if read == 0 || stream.write_all(&buffer[..read]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let proxy = DelayProxy::start(&upstream).await.unwrap();
        let mut client = TcpStream::connect(proxy.url().trim_start_matches("http://")).await.unwrap();
        let round_trip = async |client: &mut TcpStream, message: &[u8]| {
            let sent = std::time::Instant::now();
            client.write_all(message).await.unwrap();
            let mut echoed = vec![0u8; message.len()];
            client.read_exact(&mut echoed).await.unwrap();
            assert_eq!(echoed, message);
            sent.elapsed()
        };
        assert!(round_trip(&mut client, b"fast").await < Duration::from_millis(40));
        proxy.set_delay(Duration::from_millis(60));
        let slow = round_trip(&mut client, b"slow").await;
        assert!(slow >= Duration::from_millis(60), "{slow:?}");
        proxy.set_delay(Duration::ZERO);
        assert!(round_trip(&mut client, b"fast again").await < Duration::from_millis(40));
    }
}
