//! A TCP forwarder that plays a database which is down, comes up, and goes down again: while
//! closed the port refuses connections; while open every connection is piped to the real
//! server; closing also cuts the connections already made, as a crashed server would.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::AbortHandle,
};

/// Forwards connections from a local port to `target` while open.
pub struct Forwarder {
    pub address: SocketAddr,
    target: String,
    task: Option<tokio::task::JoinHandle<()>>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Forwarder {
    /// Reserves a free port without listening on it yet (connections are refused).
    pub fn closed(target: impl Into<String>) -> Self {
        Self {
            address: crate::free_address(),
            target: target.into(),
            task: None,
            connections: Arc::default(),
        }
    }

    /// Starts listening and forwarding: the "database" is up.
    pub async fn open(&mut self) -> anyhow::Result<()> {
        let listener = TcpListener::bind(self.address).await?;
        let target = self.target.clone();
        let connections = Arc::clone(&self.connections);
        self.task = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                if let Ok(mut connections) = connections.lock() {
                    connections.push(pipe.abort_handle());
                }
            }
        }));
        Ok(())
    }

    /// Stops listening and cuts every forwarded connection: the "database" is down.
    pub fn close(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Ok(mut connections) = self.connections.lock() {
            for connection in connections.drain(..) {
                connection.abort();
            }
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.close();
    }
}

/// A port of the harness's own, bound at once, whose connections go to a target named later:
/// two processes that each need the other's address start without guessing a free port.
/// Connections made before the target is known wait for it.
pub struct Relay {
    pub address: SocketAddr,
    target: watch::Sender<Option<SocketAddr>>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn bind() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (target, known) = watch::channel(None);
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut known = known.clone();
                tokio::spawn(async move {
                    let Ok(target) = known.wait_for(Option::is_some).await.map(|target| *target)
                    else {
                        return;
                    };
                    let Some(target) = target else { return };
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(Self {
            address,
            target,
            task,
        })
    }

    /// From now on connections go to `target`.
    pub fn point_to(&self, target: SocketAddr) {
        self.target.send_replace(Some(target));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
