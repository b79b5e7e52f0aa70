//! Binding the DNS sockets and spawning their listeners.
//!
//! Sockets are bound before anything is spawned, so a busy port fails the
//! start cleanly, with a message naming the address.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use std::net::UdpSocket;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::handler::Published;
use super::rrl::RateLimiter;
use super::{tcp, udp};
use crate::metrics::Metrics;

/// How many times to look for a port free for both UDP and TCP when asked
/// for port 0.
const PORT_ZERO_ATTEMPTS: usize = 50;

/// UDP worker threads per DNS address: one per core the process may run
/// on (so `taskset` limits them too), so every core answers.
fn udp_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// One DNS address with its UDP socket and TCP listener on the same port.
pub struct DnsSockets {
    /// The address actually bound (port 0 resolved).
    pub addr: SocketAddr,
    udp: UdpSocket,
    tcp: TcpListener,
}

/// Binds UDP and TCP on `addr`; for port 0, on one port free for both.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<DnsSockets> {
    if addr.port() != 0 {
        let udp = UdpSocket::bind(addr)
            .with_context(|| format!("cannot listen for DNS on UDP {addr}"))?;
        let tcp = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for DNS on TCP {addr}"))?;
        return Ok(DnsSockets { addr, udp, tcp });
    }
    for _ in 0..PORT_ZERO_ATTEMPTS {
        let udp = UdpSocket::bind(addr)
            .with_context(|| format!("cannot listen for DNS on UDP {addr}"))?;
        let bound = udp.local_addr()?;
        if let Ok(tcp) = TcpListener::bind(bound).await {
            return Ok(DnsSockets {
                addr: bound,
                udp,
                tcp,
            });
        }
    }
    bail!(
        "cannot find a port free for both UDP and TCP on {}",
        addr.ip()
    )
}

///
/// UDP workers are OS threads (see `dns::udp` for why); each is mirrored by
/// a task in `tasks` that ends when its thread does, so joining `tasks`
/// still waits for every listener.
/// What every listener reads and writes besides its socket.
#[derive(Clone)]
pub struct Shared {
    /// Zones and health, swapped whole on change.
    pub published: Arc<ArcSwap<Published>>,
    /// Query counters: shard `i` for UDP worker `i`, the last one for TCP.
    pub metrics: Arc<Metrics>,
    /// The UDP response-rate limiter, when configured.
    pub limiter: Option<Arc<RateLimiter>>,
}

impl Shared {
    /// Listener state with metrics sized for this machine's workers.
    pub fn new(published: Arc<ArcSwap<Published>>, limiter: Option<Arc<RateLimiter>>) -> Shared {
        Shared {
            published,
            metrics: Arc::new(Metrics::with_shards(udp_workers() + 1)),
            limiter,
        }
    }
}

/// Spawns the UDP workers and the TCP acceptor of `sockets` into `tasks`;
/// they answer from `shared` until `shutdown` fires.
pub fn spawn(
    sockets: DnsSockets,
    shared: &Shared,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    let addr = sockets.addr;
    for worker in 0..udp_workers() {
        let socket = match sockets.udp.try_clone() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(%addr, error = %e, "cannot start UDP worker {worker}");
                continue;
            }
        };
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        let thread = std::thread::Builder::new()
            .name(format!("dns-udp-{worker}"))
            .spawn(move || {
                udp::serve(socket, shared, worker, shutdown);
                drop(done);
            });
        match thread {
            Ok(_) => {
                tasks.spawn(async move {
                    let _ = finished.await;
                });
            }
            Err(e) => tracing::error!(%addr, error = %e, "cannot start UDP worker {worker}"),
        }
    }
    tasks.spawn(tcp::serve(
        sockets.tcp,
        shared.clone(),
        udp_workers(),
        shutdown.clone(),
    ));
}
