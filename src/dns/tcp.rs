//! The TCP listener (RFC 7766): length-prefixed messages, several per
//! connection and pipelined, answered in order; idle connections closed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::handler::{self, Published, Scratch, Transport};
use super::listen::Shared;
use super::notified;
use super::transfer;
use super::update;

/// How long a connection may sit without a complete request before we
/// close it (RFC 7766 §6.2.3 suggests seconds, not minutes).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most TCP connections served at once; past it the longest-idle one is
/// closed for a newcomer.
pub const MAX_CONNECTIONS: usize = 512;
/// How long connections get to finish after shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Most connections one client (an IPv4 address, an IPv6 prefix) may hold
/// at once: an idle flood from one host cannot use up
/// [`MAX_CONNECTIONS`], and past it its own longest-idle one makes room.
pub const MAX_PER_CLIENT: usize = 16;

/// First pause after a failed accept; it doubles up to
/// [`ACCEPT_PAUSE_MAX`] while accepts keep failing.
pub const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(10);
/// Longest pause between failed accepts.
pub const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);
/// At most one warning about failed accepts per this long.
pub const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);

/// Pauses after failed accepts. Out of descriptors, `accept` fails at
/// once and the connection stays queued, so retrying at once spins a core
/// and floods the log until a descriptor frees up.
#[derive(Debug, Default)]
struct AcceptBackoff {
    pause: Option<Duration>,
    last_log: Option<std::time::Instant>,
    unlogged: u64,
}

impl AcceptBackoff {
    /// Records a failure: the pause to take, and whether to log it (with
    /// the failures left unlogged since the last line).
    fn failed(&mut self, now: std::time::Instant) -> (Duration, Option<u64>) {
        let pause = self
            .pause
            .map_or(ACCEPT_PAUSE_MIN, |p| (p * 2).min(ACCEPT_PAUSE_MAX));
        self.pause = Some(pause);
        let due = self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= ACCEPT_LOG_EVERY);
        if !due {
            self.unlogged += 1;
            return (pause, None);
        }
        self.last_log = Some(now);
        (pause, Some(std::mem::take(&mut self.unlogged)))
    }

    /// An accept worked: the next failure starts from the shortest pause.
    fn succeeded(&mut self) {
        self.pause = None;
    }
}

/// Which client a connection counts against: its IPv4 address, or its
/// IPv6 address cut to `v6_prefix` bits (a /64 by default, since one host
/// usually holds a whole /64 and could otherwise open connections from
/// as many addresses as it likes).
fn client_key(ip: IpAddr, v6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u32::from(v6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// What the registry knows of one connection.
#[derive(Default)]
struct Activity {
    /// A query is being read or answered.
    busy: AtomicBool,
    /// Milliseconds since the listener started of the last answer (or the
    /// connection's opening).
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self, epoch: Instant) {
        self.last_ms
            .store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

struct Entry {
    client: IpAddr,
    activity: Arc<Activity>,
    close: CancellationToken,
}

/// Every open connection. At the global or the per-client cap, the
/// longest-idle connection (no query in flight) of the scope that is full
/// is closed to admit the new one (RFC 7766 §6.2.3 allows closing idle
/// connections), so a client that sends its query promptly is always
/// answered, however many idle connections others hold.
#[derive(Default)]
struct Registry {
    conns: std::sync::Mutex<HashMap<u64, Entry>>,
    next: AtomicU64,
}

/// A registered connection; leaves the registry when dropped.
struct Slot {
    registry: Arc<Registry>,
    id: u64,
    activity: Arc<Activity>,
    close: CancellationToken,
}

impl Registry {
    fn admit(self: &Arc<Self>, client: IpAddr, epoch: Instant) -> Option<Slot> {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let idle_of = |conns: &HashMap<u64, Entry>, same_client: bool| {
            conns
                .iter()
                .filter(|(_, e)| !same_client || e.client == client)
                .filter(|(_, e)| !e.activity.busy.load(Ordering::Relaxed))
                .min_by_key(|(_, e)| e.activity.last_ms.load(Ordering::Relaxed))
                .map(|(&id, _)| id)
        };
        let mine = conns.values().filter(|e| e.client == client).count();
        let victim = if mine >= MAX_PER_CLIENT {
            Some(idle_of(&conns, true)?)
        } else if conns.len() >= MAX_CONNECTIONS {
            Some(idle_of(&conns, false)?)
        } else {
            None
        };
        if let Some(entry) = victim.and_then(|id| conns.remove(&id)) {
            entry.close.cancel();
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::default());
        activity.touch(epoch);
        let close = CancellationToken::new();
        conns.insert(
            id,
            Entry {
                client,
                activity: activity.clone(),
                close: close.clone(),
            },
        );
        Some(Slot {
            registry: self.clone(),
            id,
            activity,
            close,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// Accepts connections on `listener` until `shutdown` fires, then lets the
/// open ones finish the answer they are writing. At a cap, the
/// longest-idle connection makes room ([`Registry`]); when every
/// connection in the full scope is busy, the new one is closed at once, so
/// the accept loop never stalls behind idle clients.
pub async fn serve(
    listener: TcpListener,
    shared: Shared,
    shard: usize,
    shutdown: CancellationToken,
) {
    let registry = Arc::new(Registry::default());
    let epoch = Instant::now();
    let mut connections = JoinSet::new();
    let mut backoff = AcceptBackoff::default();
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    backoff.succeeded();
                    a
                }
                Err(e) => {
                    let (pause, log) = backoff.failed(std::time::Instant::now());
                    if let Some(unlogged) = log {
                        tracing::warn!(
                            error = %e,
                            unlogged,
                            "tcp accept failed: {e}; pausing {} ms ({unlogged} more failures unlogged in the last {} s)",
                            pause.as_millis(),
                            ACCEPT_LOG_EVERY.as_secs()
                        );
                    }
                    // Connections ending meanwhile free descriptors.
                    while connections.try_join_next().is_some() {}
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    continue;
                }
            },
        };
        let client = client_key(peer.ip(), shared.tcp_v6_prefix);
        let Some(slot) = registry.admit(client, epoch) else {
            tracing::debug!(%peer, "tcp connection refused: every connection it could replace is busy");
            continue;
        };
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let result = tokio::select! {
                r = connection(stream, peer.ip(), &shared, shard, &shutdown, &slot.activity, epoch) => r,
                _ = slot.close.cancelled() => Ok(()),
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "tcp connection ended");
            }
            drop(slot);
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

/// Marks a query in flight for as long as it lives.
struct Busy<'a>(&'a Activity, Instant);

impl<'a> Busy<'a> {
    fn enter(activity: &'a Activity, epoch: Instant) -> Busy<'a> {
        activity.busy.store(true, Ordering::Relaxed);
        Busy(activity, epoch)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.touch(self.1);
        self.0.busy.store(false, Ordering::Relaxed);
    }
}

async fn connection(
    stream: TcpStream,
    client: IpAddr,
    shared: &Shared,
    shard: usize,
    shutdown: &CancellationToken,
    activity: &Activity,
    epoch: Instant,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    // Canonical, so that a cookie made (or a transfer allowed) for an IPv4
    // address holds over a v4-mapped IPv6 socket too.
    let client = client.to_canonical();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut request = vec![0u8; usize::from(u16::MAX)];
    let mut response = Vec::with_capacity(usize::from(u16::MAX));
    let mut frame = Vec::with_capacity(usize::from(u16::MAX) + 2);
    let mut scratch = Scratch::new();
    loop {
        let len = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Ok(()),
            len = tokio::time::timeout(IDLE_TIMEOUT, read.read_u16()) => match len {
                Ok(Ok(len)) => usize::from(len),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(()),
            },
        };
        // From here until the answer is written the connection is not
        // idle, so it is never closed to make room.
        let _busy = Busy::enter(activity, epoch);
        match tokio::time::timeout(IDLE_TIMEOUT, read.read_exact(&mut request[..len])).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
        if transfer::is_transfer(&request[..len]) {
            let published = shared.published.load_full();
            send_transfer(&published, &request[..len], client, &mut write, &mut frame).await?;
            continue;
        }
        // Dynamic update leaves the answer path here (`dns::update`).
        if let Some(answer) = update::answer(shared.updater.as_ref(), &request[..len], client).await
        {
            if !answer.is_empty() {
                frame.clear();
                frame.extend_from_slice(&(answer.len() as u16).to_be_bytes());
                frame.extend_from_slice(&answer);
                match tokio::time::timeout(IDLE_TIMEOUT, write.write_all(&frame)).await {
                    Ok(result) => result?,
                    Err(_) => return Ok(()),
                }
            }
            continue;
        }
        if let Some(zones) = &shared.notified
            && notified::is_notify(&request[..len])
        {
            let keys = shared.published.load().keys.clone();
            let answer = notified::answer(&**zones, &keys, &request[..len], client);
            if !answer.is_empty() {
                frame.clear();
                frame.extend_from_slice(&(answer.len() as u16).to_be_bytes());
                frame.extend_from_slice(&answer);
                match tokio::time::timeout(IDLE_TIMEOUT, write.write_all(&frame)).await {
                    Ok(result) => result?,
                    Err(_) => return Ok(()),
                }
            }
            continue;
        }
        let snapshot = shared.published.load();
        let started = std::time::Instant::now();
        let Some(answered) = handler::respond_from(
            &snapshot,
            &request[..len],
            Transport::Tcp,
            Some(client),
            &mut response,
            &mut scratch,
        ) else {
            continue;
        };
        shared.metrics.record(
            shard,
            answered.qtype,
            answered.rcode,
            answered.zone,
            started.elapsed(),
        );
        frame.clear();
        frame.extend_from_slice(&(response.len() as u16).to_be_bytes());
        frame.extend_from_slice(&response);
        // A client that stops reading cannot hold the connection (and its
        // buffers) forever.
        match tokio::time::timeout(IDLE_TIMEOUT, write.write_all(&frame)).await {
            Ok(result) => result?,
            Err(_) => return Ok(()),
        }
    }
}

/// Streams the answer to a transfer request, message by message; each
/// write has the idle deadline, so a secondary that stops reading cannot
/// hold the zone.
async fn send_transfer(
    published: &Published,
    request: &[u8],
    client: IpAddr,
    write: &mut (impl AsyncWriteExt + Unpin),
    frame: &mut Vec<u8>,
) -> std::io::Result<()> {
    let mut transfer = transfer::Transfer::start(published, request, client, false);
    let mut message = Vec::with_capacity(usize::from(u16::MAX));
    while transfer.next_message(&mut message) {
        frame.clear();
        frame.extend_from_slice(&(message.len() as u16).to_be_bytes());
        frame.extend_from_slice(&message);
        match tokio::time::timeout(IDLE_TIMEOUT, write.write_all(frame)).await {
            Ok(result) => result?,
            Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
        }
    }
    match &transfer.zone {
        Some(zone) => {
            let kind = match transfer.is_incremental() {
                true => "incremental",
                false => "whole zone",
            };
            tracing::info!(%client, %zone, records = transfer.records_sent(), kind, "zone transferred")
        }
        None => tracing::info!(%client, rcode = %transfer.rcode(), "zone transfer refused"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_per_prefix_and_ipv4_per_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a, 64), client_key(b, 64));
        assert_ne!(client_key(a, 64), client_key(c, 64));
        assert_ne!(client_key(a, 128), client_key(b, 128));
        assert_eq!(client_key(a, 0), client_key(c, 0));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(client_key(v4, 64), v4);
    }

    #[test]
    fn at_a_cap_the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let registry = Arc::new(Registry::default());
        let epoch = Instant::now();
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let mut held: Vec<Slot> = (0..MAX_PER_CLIENT)
            .map(|i| {
                let slot = registry.admit(one, epoch).unwrap();
                slot.activity
                    .last_ms
                    .store(100 + i as u64, Ordering::Relaxed);
                slot
            })
            .collect();
        // The client's cap: its own oldest idle connection goes.
        let newcomer = registry.admit(one, epoch).unwrap();
        assert!(held[0].close.is_cancelled());
        assert!(held[1..].iter().all(|s| !s.close.is_cancelled()));
        // All of them busy: refused, nobody closed.
        for s in held.iter().skip(1).chain([&newcomer]) {
            s.activity.busy.store(true, Ordering::Relaxed);
        }
        assert!(registry.admit(one, epoch).is_none());
        assert!(held[1..].iter().all(|s| !s.close.is_cancelled()));
        // Another client is not affected by this one's cap.
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        held.push(registry.admit(other, epoch).unwrap());
    }

    #[test]
    fn accept_backoff_doubles_to_a_second_resets_and_logs_rarely() {
        let mut b = AcceptBackoff::default();
        let t0 = std::time::Instant::now();
        let pauses: Vec<u128> = (0..10).map(|_| b.failed(t0).0.as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed(t0).0, ACCEPT_PAUSE_MIN);
        // The first failure logs; the next ones within ACCEPT_LOG_EVERY
        // only count, and the next line says how many.
        let mut b = AcceptBackoff::default();
        assert_eq!(b.failed(t0).1, Some(0));
        for _ in 0..5 {
            assert_eq!(b.failed(t0 + Duration::from_secs(1)).1, None);
        }
        assert_eq!(b.failed(t0 + ACCEPT_LOG_EVERY).1, Some(5));
    }
}
