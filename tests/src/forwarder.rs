//! A TCP forwarder that plays a database which is down, comes up, and goes down again: while
//! closed the port refuses connections; while open every connection is piped to the real
//! server; closing also cuts the connections already made, as a crashed server would.

use std::{
    io,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::{
    net::{TcpListener, TcpSocket, TcpStream},
    sync::{oneshot, watch},
    task::{AbortHandle, JoinHandle},
};

/// Forwards connections from a local port to `target` while open.
///
/// While closed the port stays bound without listening: connections are refused, and no other
/// process (nor the kernel, choosing the source port of an outgoing connection) can take it, so
/// reopening never finds the address in use.
pub struct Forwarder {
    pub address: SocketAddr,
    target: String,
    port: Port,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

enum Port {
    /// Bound, not listening: connections are refused.
    Reserved(TcpSocket),
    /// Forwarding until `stop`; the task then gives the port back reserved.
    Listening {
        stop: oneshot::Sender<()>,
        task: JoinHandle<io::Result<TcpSocket>>,
    },
    /// Told to stop; `open` waits for the reserved port.
    Stopping(JoinHandle<io::Result<TcpSocket>>),
    /// Only while changing state, or after a failure.
    Lost,
}

impl Forwarder {
    /// Reserves a free port without listening on it yet (connections are refused).
    pub fn closed(target: impl Into<String>) -> Self {
        let socket = reserve(SocketAddr::from(([127, 0, 0, 1], 0))).expect("reserve a port");
        Self {
            address: socket.local_addr().expect("reserved address"),
            target: target.into(),
            port: Port::Reserved(socket),
            connections: Arc::default(),
        }
    }

    /// Starts listening and forwarding: the "database" is up.
    pub async fn open(&mut self) -> anyhow::Result<()> {
        let socket = match std::mem::replace(&mut self.port, Port::Lost) {
            Port::Reserved(socket) => socket,
            Port::Stopping(task) => task.await??,
            listening @ Port::Listening { .. } => {
                self.port = listening;
                return Ok(());
            }
            Port::Lost => anyhow::bail!("the forwarder lost its port {}", self.address),
        };
        let listener = socket.listen(1024)?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(forward(
            listener,
            self.target.clone(),
            Arc::clone(&self.connections),
            stopped,
        ));
        self.port = Port::Listening { stop, task };
        Ok(())
    }

    /// Stops listening and cuts every forwarded connection: the "database" is down.
    pub fn close(&mut self) {
        self.port = match std::mem::replace(&mut self.port, Port::Lost) {
            Port::Listening { stop, task } => {
                let _ = stop.send(());
                Port::Stopping(task)
            }
            other => other,
        };
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

/// A loopback socket bound to `address` but not listening.
fn reserve(address: SocketAddr) -> io::Result<TcpSocket> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    Ok(socket)
}

/// Pipes every accepted connection to `target` until `stopped`, then binds the port again at
/// once (not listening) so it is never free for someone else to take.
async fn forward(
    listener: TcpListener,
    target: String,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    mut stopped: oneshot::Receiver<()>,
) -> io::Result<TcpSocket> {
    let address = listener.local_addr()?;
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let Ok((mut inbound, _)) = accepted else { continue };
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
        }
    }
    drop(listener);
    reserve(address)
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
