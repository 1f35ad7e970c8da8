//! A TCP forwarder that plays a database which is down and later comes up: before `open` the
//! port refuses connections, after it every connection is piped to the real server.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// Forwards connections from a local port to `target` once opened.
pub struct Forwarder {
    pub address: SocketAddr,
    target: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Forwarder {
    /// Reserves a free port without listening on it yet (connections are refused).
    pub fn closed(target: impl Into<String>) -> Self {
        Self {
            address: crate::free_address(),
            target: target.into(),
            task: None,
        }
    }

    /// Starts listening and forwarding: the "database" is up.
    pub async fn open(&mut self) -> anyhow::Result<()> {
        let listener = TcpListener::bind(self.address).await?;
        let target = self.target.clone();
        self.task = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
        Ok(())
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
