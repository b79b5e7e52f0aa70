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

/// Receive buffer asked for on each UDP socket. The default (~208 KiB,
/// about 280 small datagrams) overflows when a burst of queries arrives
/// while the workers are busy, and a dropped query costs the client a
/// retry timeout. The kernel caps it at `net.core.rmem_max`; as root it is
/// forced past that cap, as NSD does.
const UDP_RECEIVE_BUFFER: usize = 8 << 20;

/// Enlarges `socket`'s receive buffer (see [`UDP_RECEIVE_BUFFER`]); a
/// refusal or a cap leaves a smaller one, which still works, and is logged
/// with what would lift it.
fn enlarge_receive_buffer(socket: &UdpSocket) {
    set_receive_buffer(socket);
    // Linux reports twice the size set (its bookkeeping share), so less
    // than twice means the kernel capped the request.
    let reported = if cfg!(target_os = "linux") { 2 } else { 1 };
    if let Ok(got) = socket2::SockRef::from(socket).recv_buffer_size()
        && got < UDP_RECEIVE_BUFFER * reported
    {
        tracing::info!(
            bytes = got / reported,
            wanted = UDP_RECEIVE_BUFFER,
            "UDP receive buffer is smaller than wanted, so bursts of queries may be dropped; \
             raise net.core.rmem_max (sysctl) or run as root"
        );
    }
}

fn set_receive_buffer(socket: &UdpSocket) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // socket2 has no SO_RCVBUFFORCE (root only, past rmem_max).
        let size = UDP_RECEIVE_BUFFER as libc::c_int;
        // SAFETY: a valid socket, and `size` outlives the call.
        let forced = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&raw const size).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if forced == 0 {
            return;
        }
    }
    if let Err(e) = socket2::SockRef::from(socket).set_recv_buffer_size(UDP_RECEIVE_BUFFER) {
        tracing::debug!(error = %e, "cannot enlarge the UDP receive buffer");
    }
}

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
        enlarge_receive_buffer(&udp);
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
            enlarge_receive_buffer(&udp);
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
    /// TCP clients over IPv6 are counted per prefix of this length.
    pub tcp_v6_prefix: u8,
    /// Applies dynamic updates (RFC 2136); `None` answers them NOTIMP.
    pub updater: Option<Arc<dyn super::update::Updater>>,
    /// Decides on NOTIFY for secondary zones; `None` answers it NOTIMP.
    pub notified: Option<Arc<dyn super::notified::Notifiable>>,
}

impl Shared {
    /// Listener state with metrics sized for this machine's workers.
    pub fn new(
        published: Arc<ArcSwap<Published>>,
        limiter: Option<Arc<RateLimiter>>,
        tcp_v6_prefix: u8,
    ) -> Shared {
        Shared {
            published,
            metrics: Arc::new(Metrics::with_shards(udp_workers() + 1)),
            limiter,
            tcp_v6_prefix,
            updater: None,
            notified: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_udp_receive_buffer_is_larger_than_the_system_default() {
        let sockets = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let size = socket2::SockRef::from(&sockets.udp)
            .recv_buffer_size()
            .unwrap();
        // Linux reports double what was set (its bookkeeping overhead), so
        // even capped at rmem_max the size is past the default.
        let default: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_default")
            .map_or(212_992, |s| s.trim().parse().unwrap());
        assert!(size > default, "receive buffer {size} ≤ default {default}");
    }
}
