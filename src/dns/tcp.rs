//! The TCP listener (RFC 7766): length-prefixed messages, several per
//! connection and pipelined, answered in order; idle connections closed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::handler::{self, Scratch, Transport};
use super::listen::Shared;

/// How long a connection may sit without a complete request before we
/// close it (RFC 7766 §6.2.3 suggests seconds, not minutes).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most TCP connections served at once; more are closed on arrival.
pub const MAX_CONNECTIONS: usize = 512;
/// How long connections get to finish after shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Most connections one client address may hold at once: an idle flood
/// from one host cannot use up [`MAX_CONNECTIONS`].
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

/// Open connections per client address; an entry leaves with its last
/// connection.
#[derive(Default)]
struct PerClient(std::sync::Mutex<HashMap<IpAddr, usize>>);

/// One counted connection; uncounts itself when dropped.
struct Slot {
    clients: Arc<PerClient>,
    ip: IpAddr,
    _permit: OwnedSemaphorePermit,
}

impl PerClient {
    fn take(self: &Arc<Self>, ip: IpAddr, permit: OwnedSemaphorePermit) -> Option<Slot> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = map.entry(ip).or_default();
        if *count >= MAX_PER_CLIENT {
            return None;
        }
        *count += 1;
        Some(Slot {
            clients: self.clone(),
            ip,
            _permit: permit,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.clients.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = map.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Accepts connections on `listener` until `shutdown` fires, then lets the
/// open ones finish the answer they are writing. A connection over the
/// global or the per-client limit is closed at once rather than left
/// waiting, so the accept loop never stalls behind idle clients.
pub async fn serve(
    listener: TcpListener,
    shared: Shared,
    shard: usize,
    shutdown: CancellationToken,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let clients = Arc::new(PerClient::default());
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
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "tcp connection refused: {MAX_CONNECTIONS} open");
            continue;
        };
        let Some(slot) = clients.take(peer.ip(), permit) else {
            tracing::debug!(%peer, "tcp connection refused: {MAX_PER_CLIENT} open from this client");
            continue;
        };
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            if let Err(e) = connection(stream, &shared, shard, &shutdown).await {
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

async fn connection(
    stream: TcpStream,
    shared: &Shared,
    shard: usize,
    shutdown: &CancellationToken,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
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
        match tokio::time::timeout(IDLE_TIMEOUT, read.read_exact(&mut request[..len])).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
        let snapshot = shared.published.load();
        let started = std::time::Instant::now();
        let Some(answered) = handler::respond(
            &snapshot,
            &request[..len],
            Transport::Tcp,
            &mut response,
            &mut scratch,
        ) else {
            continue;
        };
        shared
            .metrics
            .record(shard, answered.qtype, answered.rcode, started.elapsed());
        frame.clear();
        frame.extend_from_slice(&(response.len() as u16).to_be_bytes());
        frame.extend_from_slice(&response);
        write.write_all(&frame).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
