//! The API listener: accepts connections (plain or TLS) and serves the
//! router over HTTP/1.1, with bounds that idle and slow clients cannot
//! get around.
//!
//! Written here rather than with `axum::serve` because that offers no
//! connection cap, no header or idle timeout and no body deadline: 300
//! idle connections used to take every descriptor, which stopped the API
//! and DNS over TCP and failed the health probe of a healthy endpoint.
//!
//! The rules:
//! - at most [`Limits::max_connections`] connections; at the cap, the
//!   connection that has been idle longest (no request in flight) is closed
//!   to admit the new one, so a client that sends its request promptly is
//!   always served; when every connection is busy, the new one is closed;
//! - a connection with no request in flight and no request finished for
//!   [`Limits::idle_timeout`] is closed: idle keep-alives and slowloris
//!   clients, which trickle a header and never finish it, alike;
//! - headers must arrive within [`Limits::header_timeout`] (hyper's timer);
//! - a request body must arrive whole within [`Limits::body_timeout`] of
//!   the request's start ([`TimedBody`]);
//! - a TLS handshake must finish within [`Limits::header_timeout`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;
use tower::Service;

use super::tls::TlsFiles;

/// The bounds of the API listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most.
    pub max_connections: usize,
    /// From a connection's first byte of a request to its blank line.
    pub header_timeout: Duration,
    /// Without a request in flight, a connection lives this long after its
    /// last request (or its opening).
    pub idle_timeout: Duration,
    /// A request's body must be read whole within this.
    pub body_timeout: Duration,
}

/// Connections at most: far below the descriptor limit eightfold raises at
/// start, and plenty for operators and their tools.
pub const MAX_CONNECTIONS: usize = 256;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: MAX_CONNECTIONS,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` until `shutdown`, then lets requests in
/// flight finish (idle connections close at once).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<TlsFiles>>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let registry = Arc::new(Registry::default());
    let epoch = Instant::now();
    let mut backoff = Backoff::default();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => {
                backoff.reset();
                pair
            }
            Err(e) => {
                // Out of descriptors or memory: retrying at once would spin
                // a core; wait, and let idle connections time out.
                let pause = backoff.next();
                tracing::warn!(error = %e, pause_ms = pause.as_millis() as u64, "API accept failed; pausing");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(pause) => continue,
                }
            }
        };
        let conn = loop {
            match registry.admit(limits.max_connections, epoch) {
                Admission::Admitted(conn) => break Some(conn),
                Admission::Refused => break None,
                // An evicted connection closes at its task's next poll;
                // the bound is a backstop should one ever hang.
                Admission::Wait => tokio::select! {
                    _ = shutdown.cancelled() => break None,
                    _ = registry.freed.notified() => {}
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => break None,
                },
            }
        };
        let Some(conn) = conn else {
            tracing::debug!(%peer, "API connection refused: every connection is busy");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        let registry = registry.clone();
        tasks.spawn(async move {
            serve_connection(stream, peer, router, tls, limits, &conn, epoch, shutdown).await;
            registry.remove(conn.id);
        });
    }
    // Graceful: every connection task has seen the shutdown; wait for the
    // requests in flight.
    while tasks.join_next().await.is_some() {}
}

/// Marks a request that arrived over TLS (a request extension), for the
/// few answers that name their own URL.
#[derive(Debug, Clone, Copy)]
pub struct Tls;

/// Serves one connection, TLS first when configured.
#[allow(clippy::too_many_arguments)]
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    tls: Option<Arc<TlsFiles>>,
    limits: Limits,
    conn: &Conn,
    epoch: Instant,
    shutdown: CancellationToken,
) {
    match tls {
        None => http(stream, router, limits, conn, epoch, shutdown, false).await,
        Some(tls) => {
            let handshake = tls.acceptor().accept(stream);
            let stream = tokio::select! {
                _ = conn.close.cancelled() => return,
                _ = shutdown.cancelled() => return,
                r = tokio::time::timeout(limits.header_timeout, handshake) => match r {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "API TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "API TLS handshake timed out");
                        return;
                    }
                },
            };
            http(stream, router, limits, conn, epoch, shutdown, true).await;
        }
    }
}

/// HTTP/1.1 over an established stream, until the client leaves, the
/// connection idles out, is evicted, or the server stops.
async fn http<S>(
    stream: S,
    router: Router,
    limits: Limits,
    conn: &Conn,
    epoch: Instant,
    shutdown: CancellationToken,
    tls: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = conn.activity.clone();
    let body_timeout = limits.body_timeout;
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = Busy::enter(&activity, epoch);
        let mut request = request.map(|body| TimedBody::new(body, body_timeout));
        if tls {
            request.extensions_mut().insert(Tls);
        }
        let mut router = router.clone();
        async move {
            let response = router.call(request).await;
            drop(busy);
            response
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        // While a request runs the connection is not idle: look again
        // one timeout later rather than spin on a deadline in the past.
        let idle_at = if conn.activity.in_flight.load(Ordering::Relaxed) > 0 {
            Instant::now() + limits.idle_timeout
        } else {
            conn.activity.idle_deadline(epoch, limits.idle_timeout)
        };
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = conn.close.cancelled() => return,
            _ = shutdown.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(idle_at.into()) => {
                if conn.activity.idle_for(epoch) >= limits.idle_timeout {
                    return;
                }
            }
        }
    }
}

/// What the registry knows of a connection's use.
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    /// Milliseconds since the listener's epoch of the last request's end
    /// (or the connection's opening).
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self, epoch: Instant) {
        self.last_ms
            .store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self, epoch: Instant) -> Duration {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        epoch.elapsed().saturating_sub(last)
    }

    fn idle_deadline(&self, epoch: Instant, timeout: Duration) -> Instant {
        epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + timeout
    }
}

/// Marks a request in flight for as long as it lives.
struct Busy(Arc<Activity>, Instant);

impl Busy {
    fn enter(activity: &Arc<Activity>, epoch: Instant) -> Busy {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(activity.clone(), epoch)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch(self.1);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A registered connection.
struct Conn {
    id: u64,
    activity: Arc<Activity>,
    /// Cancelled to evict the connection.
    close: CancellationToken,
}

/// Every open connection, for the cap and eviction.
#[derive(Default)]
struct Registry {
    state: Mutex<Open>,
    /// Signalled whenever a connection's socket has closed.
    freed: tokio::sync::Notify,
    next: AtomicU64,
}

/// The connections whose sockets are open: those serving, and those
/// evicted whose tasks have not yet dropped their sockets. An evicted
/// connection counts toward the cap until its descriptor is closed, so the
/// cap bounds descriptors, not just registrations (under a flood the
/// evicted tasks can lag the accept loop by dozens).
#[derive(Default)]
struct Open {
    serving: HashMap<u64, (Arc<Activity>, CancellationToken)>,
    closing: usize,
}

/// What [`Registry::admit`] decided.
enum Admission {
    Admitted(Conn),
    /// At the cap with an evicted connection still closing: try again once
    /// a socket is freed.
    Wait,
    /// Every connection is busy.
    Refused,
}

impl Registry {
    /// Registers a new connection below the cap; at the cap, evicts the
    /// longest-idle one (the caller waits for it to close and tries again).
    fn admit(&self, max: usize, epoch: Instant) -> Admission {
        let mut open = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if open.serving.len() + open.closing >= max {
            if open.closing > 0 {
                return Admission::Wait;
            }
            let victim = open
                .serving
                .iter()
                .filter(|(_, (a, _))| a.in_flight.load(Ordering::Relaxed) == 0)
                .min_by_key(|(_, (a, _))| a.last_ms.load(Ordering::Relaxed))
                .map(|(&id, _)| id);
            let Some(victim) = victim else {
                return Admission::Refused;
            };
            if let Some((_, close)) = open.serving.remove(&victim) {
                close.cancel();
                open.closing += 1;
            }
            return Admission::Wait;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::default());
        activity.touch(epoch);
        let close = CancellationToken::new();
        open.serving.insert(id, (activity.clone(), close.clone()));
        Admission::Admitted(Conn {
            id,
            activity,
            close,
        })
    }

    /// Called once the connection's socket is closed.
    fn remove(&self, id: u64) {
        let mut open = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if open.serving.remove(&id).is_none() {
            open.closing = open.closing.saturating_sub(1);
        }
        drop(open);
        // A stored permit when nobody waits only costs one extra look.
        self.freed.notify_one();
    }
}

/// Pauses after failed accepts: 10 ms doubling to 1 s.
#[derive(Default)]
struct Backoff(u32);

impl Backoff {
    fn next(&mut self) -> Duration {
        let pause = Duration::from_millis(10u64 << self.0.min(7)).min(Duration::from_secs(1));
        self.0 += 1;
        pause
    }

    fn reset(&mut self) {
        self.0 = 0;
    }
}

/// The body did not arrive whole within the deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} s", .0.as_secs())]
pub struct BodyTimeout(pub Duration);

/// A request body with one deadline for all of it. tower-http's
/// `TimeoutBody` restarts its timer at every frame, so a client sending a
/// byte every few seconds would never be cut off; this one does not.
pub struct TimedBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    limit: Duration,
}

impl TimedBody {
    fn new(inner: Incoming, limit: Duration) -> TimedBody {
        TimedBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTimeout(this.limit).into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether a body error (as extractors report it) was a [`BodyTimeout`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(error);
    while let Some(e) = cur {
        if e.is::<BodyTimeout>() {
            return true;
        }
        cur = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(registry: &Registry, max: usize, epoch: Instant) -> Conn {
        match registry.admit(max, epoch) {
            Admission::Admitted(conn) => conn,
            Admission::Wait => panic!("asked to wait"),
            Admission::Refused => panic!("refused"),
        }
    }

    #[test]
    fn the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let registry = Registry::default();
        let epoch = Instant::now() - Duration::from_secs(100);
        let a = admitted(&registry, 2, epoch);
        a.activity.last_ms.store(10, Ordering::Relaxed);
        let b = admitted(&registry, 2, epoch);
        b.activity.last_ms.store(20, Ordering::Relaxed);
        assert!(matches!(registry.admit(2, epoch), Admission::Wait));
        assert!(a.close.is_cancelled(), "the oldest idle one goes");
        assert!(!b.close.is_cancelled());
        // Until its socket is closed, the evicted one still counts.
        assert!(matches!(registry.admit(2, epoch), Admission::Wait));
        assert!(!b.close.is_cancelled(), "one eviction at a time");
        registry.remove(a.id);
        let c = admitted(&registry, 2, epoch);
        let _busy_b = Busy::enter(&b.activity, epoch);
        let _busy_c = Busy::enter(&c.activity, epoch);
        assert!(
            matches!(registry.admit(2, epoch), Admission::Refused),
            "all busy: refused"
        );
        assert!(!b.close.is_cancelled() && !c.close.is_cancelled());
    }

    #[test]
    fn backoff_grows_to_a_second_and_resets() {
        let mut b = Backoff::default();
        let pauses: Vec<u64> = (0..10).map(|_| b.next().as_millis() as u64).collect();
        assert_eq!(pauses[..3], [10, 20, 40]);
        assert_eq!(pauses[9], 1000);
        b.reset();
        assert_eq!(b.next(), Duration::from_millis(10));
    }

    #[test]
    fn a_body_timeout_is_found_behind_wrappers() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] BodyTimeout);
        let e = Outer(BodyTimeout(Duration::from_secs(1)));
        assert!(is_body_timeout(&e));
        assert!(!is_body_timeout(&std::io::Error::other("x")));
    }
}
