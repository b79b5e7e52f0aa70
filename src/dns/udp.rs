//! The UDP listener: one OS thread per core, all reading the same socket,
//! each with its own buffers, answering in batches.
//!
//! Why threads and not tokio tasks: a UDP answer is pure CPU work between
//! two syscalls, so an async reactor only adds readiness bookkeeping
//! (epoll) on top of them. A worker blocks in `recvmmsg` (Linux), which
//! returns as soon as one datagram is queued but takes every queued one up
//! to [`BATCH`] in the same call; the answers leave in one `sendmmsg`. Under
//! load that is two syscalls per batch instead of two per query, and idle it
//! costs nothing. The workers share one socket rather than one
//! `SO_REUSEPORT` socket each: the kernel hands each datagram to whichever
//! worker is waiting, so a single busy client still reaches every core, and
//! a second server started on the same port by mistake fails to bind
//! instead of silently taking half the queries.
//!
//! ```text
//!   socket ─► recvmmsg (≤ BATCH) ─► respond × n ─► sendmmsg ─► socket
//!             (per worker buffers; one snapshot load per batch)
//! ```

use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::handler::{self, Scratch, Transport};
use super::listen::Shared;
use super::notified;
use super::rrl::{self, Verdict};
use super::update;

/// Seconds since the epoch: the rate limiter's clock, read once a batch.
fn unix_seconds() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// Largest request we accept over UDP; anything longer is cut and so fails
/// to parse (FORMERR) rather than being read in pieces.
const MAX_REQUEST: usize = 4096;
/// Most datagrams taken in one receive call. Large enough to amortise the
/// syscalls under load (beyond ~32 the gain is flat), small enough that the
/// first answer of a batch is not held back noticeably.
pub const BATCH: usize = 32;
/// How often a worker blocked on an idle socket looks at the shutdown
/// token; bounds how long shutdown waits for the UDP workers.
pub const SHUTDOWN_POLL: Duration = Duration::from_millis(100);

/// Answers queries on `socket` until `shutdown` fires. Runs on the calling
/// thread; answers already received when it fires are still sent.
pub fn serve(socket: UdpSocket, shared: Shared, worker: usize, shutdown: CancellationToken) {
    let Shared {
        published,
        metrics,
        limiter,
        updater,
        notified: notifiable,
        ..
    } = shared;
    if let Err(e) = socket.set_read_timeout(Some(SHUTDOWN_POLL)) {
        tracing::error!(error = %e, "cannot set the UDP receive timeout; UDP worker not started");
        return;
    }
    let mut batch = Batch::new();
    let mut scratch = Scratch::new();
    while !shutdown.is_cancelled() {
        let received = match batch.receive(&socket) {
            Ok(n) => n,
            Err(e) if is_idle(&e) => continue,
            // ICMP errors from earlier sends surface here; keep serving.
            Err(e) => {
                tracing::debug!(error = %e, "udp receive failed");
                continue;
            }
        };
        let snapshot = published.load();
        let now = limiter.as_ref().map_or(0, |_| unix_seconds());
        // One clock read per answer: each answer's time runs from the end
        // of the one before it (or of the receive).
        let mut started = Instant::now();
        for i in 0..received {
            batch.answer(i, |request, response, peer| {
                // A dynamic update is applied on this thread (see
                // `dns::update`): rare, signed, and a few milliseconds.
                if let Some(updater) = &updater
                    && update::is_update(request)
                {
                    // Copied, so the batch keeps its own buffer.
                    let client = peer.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
                    let answer = updater.update(request, client);
                    response.clear();
                    response.extend_from_slice(&answer);
                    return !answer.is_empty();
                }
                // So is a NOTIFY for a secondary zone (`dns::notified`):
                // rare, and no I/O here but a channel send.
                if let (Some(zones), Some(peer)) = (&notifiable, peer)
                    && notified::is_notify(request)
                {
                    let answer = notified::answer(&**zones, &snapshot.keys, request, peer);
                    response.clear();
                    response.extend_from_slice(&answer);
                    return !answer.is_empty();
                }
                let answered = handler::respond_from(
                    &snapshot,
                    request,
                    Transport::Udp,
                    peer,
                    response,
                    &mut scratch,
                );
                let finished = Instant::now();
                let elapsed = finished - started;
                started = finished;
                let Some(answered) = answered else {
                    return false;
                };
                metrics.record(
                    worker,
                    answered.qtype,
                    answered.rcode,
                    answered.zone,
                    elapsed,
                );
                // A valid server cookie proves the address is the client's
                // own: no reflection to limit.
                match (&limiter, peer) {
                    _ if answered.cookie_valid => true,
                    (Some(limiter), Some(ip)) => match limiter.check(ip, now) {
                        Verdict::Answer => true,
                        Verdict::Slip => {
                            rrl::slip(response);
                            true
                        }
                        Verdict::Drop => false,
                    },
                    _ => true,
                }
            });
        }
        batch.send(&socket);
    }
}

fn is_idle(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

#[cfg(target_os = "linux")]
use linux::Batch;

#[cfg(target_os = "linux")]
mod linux {
    //! `recvmmsg`/`sendmmsg` batches. The `mmsghdr` arrays point into this
    //! struct's heap buffers; the pointers are rewritten before every call,
    //! so nothing relies on the struct staying in place between calls.

    use std::mem::{size_of, zeroed};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
    use std::os::fd::AsRawFd;

    use super::{BATCH, MAX_REQUEST};
    use crate::dns::handler::MAX_UDP_PAYLOAD;

    /// Buffers for one worker: requests, their senders, the answers.
    pub(super) struct Batch {
        requests: Box<[[u8; MAX_REQUEST]]>,
        request_lens: [usize; BATCH],
        peers: Box<[libc::sockaddr_storage]>,
        peer_lens: [libc::socklen_t; BATCH],
        responses: Vec<Vec<u8>>,
        /// Indexes of the requests that got an answer, in order.
        answered: Vec<usize>,
        iovecs: Box<[libc::iovec]>,
        headers: Box<[libc::mmsghdr]>,
    }

    impl Batch {
        pub(super) fn new() -> Batch {
            // SAFETY: all-zero bytes are a valid value of these C structs
            // (null pointers, zero lengths).
            let (iovec, header, peer) = unsafe {
                (
                    zeroed::<libc::iovec>(),
                    zeroed::<libc::mmsghdr>(),
                    zeroed::<libc::sockaddr_storage>(),
                )
            };
            Batch {
                requests: vec![[0; MAX_REQUEST]; BATCH].into_boxed_slice(),
                request_lens: [0; BATCH],
                peers: vec![peer; BATCH].into_boxed_slice(),
                peer_lens: [0; BATCH],
                // UDP answers never exceed MAX_UDP_PAYLOAD, so these never grow.
                responses: (0..BATCH)
                    .map(|_| Vec::with_capacity(usize::from(MAX_UDP_PAYLOAD) * 2))
                    .collect(),
                answered: Vec::with_capacity(BATCH),
                iovecs: vec![iovec; BATCH].into_boxed_slice(),
                headers: vec![header; BATCH].into_boxed_slice(),
            }
        }

        /// Blocks until at least one datagram arrives (or the socket's
        /// read timeout passes), then takes every queued one up to BATCH.
        pub(super) fn receive(&mut self, socket: &UdpSocket) -> std::io::Result<usize> {
            for i in 0..BATCH {
                self.iovecs[i] = libc::iovec {
                    iov_base: self.requests[i].as_mut_ptr().cast(),
                    iov_len: MAX_REQUEST,
                };
                let h = &mut self.headers[i].msg_hdr;
                h.msg_name = (&raw mut self.peers[i]).cast();
                h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_iov = &raw mut self.iovecs[i];
                h.msg_iovlen = 1;
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
                h.msg_flags = 0;
            }
            // SAFETY: every header points at live buffers of the stated
            // lengths, owned by `self` and not otherwise borrowed.
            let n = unsafe {
                libc::recvmmsg(
                    socket.as_raw_fd(),
                    self.headers.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let n = n as usize;
            for i in 0..n {
                // A longer datagram was cut to MAX_REQUEST (MSG_TRUNC) and
                // fails to parse: FORMERR, as documented on MAX_REQUEST.
                self.request_lens[i] = (self.headers[i].msg_len as usize).min(MAX_REQUEST);
                self.peer_lens[i] = self.headers[i].msg_hdr.msg_namelen;
            }
            self.answered.clear();
            Ok(n)
        }

        /// Lets `respond` write the answer to request `i`; it returns
        /// false when the request gets no answer.
        pub(super) fn answer(
            &mut self,
            i: usize,
            respond: impl FnOnce(&[u8], &mut Vec<u8>, Option<IpAddr>) -> bool,
        ) {
            let peer = self.peer(i);
            let request = &self.requests[i][..self.request_lens[i]];
            if respond(request, &mut self.responses[i], peer) {
                self.answered.push(i);
            }
        }

        /// The sender of datagram `i`.
        fn peer(&self, i: usize) -> Option<IpAddr> {
            let storage = &self.peers[i];
            match i32::from(storage.ss_family) {
                libc::AF_INET => {
                    // SAFETY: the family says this storage holds a sockaddr_in.
                    let v4 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
                    Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))))
                }
                libc::AF_INET6 => {
                    // SAFETY: the family says this storage holds a sockaddr_in6.
                    let v6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
                    Some(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)))
                }
                _ => None,
            }
        }

        /// Sends the answers; a datagram the kernel refuses is dropped, as
        /// a lost UDP answer would be.
        pub(super) fn send(&mut self, socket: &UdpSocket) {
            for (k, &i) in self.answered.iter().enumerate() {
                self.iovecs[k] = libc::iovec {
                    iov_base: self.responses[i].as_mut_ptr().cast(),
                    iov_len: self.responses[i].len(),
                };
                let h = &mut self.headers[k].msg_hdr;
                h.msg_name = (&raw mut self.peers[i]).cast();
                h.msg_namelen = self.peer_lens[i];
                h.msg_iov = &raw mut self.iovecs[k];
                h.msg_iovlen = 1;
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
                h.msg_flags = 0;
            }
            let total = self.answered.len();
            let mut sent = 0;
            while sent < total {
                // SAFETY: headers sent..total point at live buffers owned
                // by `self`, set up above.
                let n = unsafe {
                    libc::sendmmsg(
                        socket.as_raw_fd(),
                        self.headers[sent..].as_mut_ptr(),
                        (total - sent) as libc::c_uint,
                        0,
                    )
                };
                if n > 0 {
                    sent += n as usize;
                } else {
                    let e = std::io::Error::last_os_error();
                    if e.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    // The first remaining datagram failed; skip it.
                    tracing::debug!(error = %e, "udp send failed");
                    sent += 1;
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
use portable::Batch;

#[cfg(not(target_os = "linux"))]
mod portable {
    //! One datagram per call where `recvmmsg` does not exist.

    use std::net::{SocketAddr, UdpSocket};

    use super::MAX_REQUEST;

    pub(super) struct Batch {
        request: Vec<u8>,
        len: usize,
        peer: Option<SocketAddr>,
        response: Vec<u8>,
        answered: bool,
    }

    impl Batch {
        pub(super) fn new() -> Batch {
            Batch {
                request: vec![0; MAX_REQUEST],
                len: 0,
                peer: None,
                response: Vec::with_capacity(usize::from(u16::MAX)),
                answered: false,
            }
        }

        pub(super) fn receive(&mut self, socket: &UdpSocket) -> std::io::Result<usize> {
            let (len, peer) = socket.recv_from(&mut self.request)?;
            self.len = len;
            self.peer = Some(peer);
            self.answered = false;
            Ok(1)
        }

        pub(super) fn answer(
            &mut self,
            _: usize,
            respond: impl FnOnce(&[u8], &mut Vec<u8>, Option<std::net::IpAddr>) -> bool,
        ) {
            let peer = self.peer.map(|p| p.ip());
            self.answered = respond(&self.request[..self.len], &mut self.response, peer);
        }

        pub(super) fn send(&mut self, socket: &UdpSocket) {
            if let (true, Some(peer)) = (self.answered, self.peer)
                && let Err(e) = socket.send_to(&self.response, peer)
            {
                tracing::debug!(%peer, error = %e, "udp send failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use std::collections::HashSet;

    /// A query for `a.test. A` with message id `id`.
    fn query(id: u16) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        q.extend_from_slice(b"\x01a\x04test\x00\x00\x01\x00\x01");
        q
    }

    #[test]
    fn bursts_from_several_clients_each_get_their_own_answers_and_shutdown_stops_the_worker() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let shared = Shared {
            published: std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(
                crate::dns::handler::Published::default(),
            )),
            metrics: std::sync::Arc::new(Metrics::default()),
            limiter: None,
            tcp_v6_prefix: 64,
            updater: None,
            notified: None,
        };
        let worker = {
            let shutdown = shutdown.clone();
            std::thread::spawn(move || serve(socket, shared, 0, shutdown))
        };
        // Sent back to back so that the worker takes several per batch;
        // few enough to fit the default receive buffer.
        let clients: Vec<UdpSocket> = (0..4)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for id in 0..64u16 {
            clients[usize::from(id) % 4]
                .send_to(&query(id), addr)
                .unwrap();
        }
        for (c, client) in clients.iter().enumerate() {
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut ids = HashSet::new();
            let mut buf = [0u8; 512];
            while ids.len() < 16 {
                let n = client.recv(&mut buf).expect("an answer for every query");
                assert!(n >= 12);
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                assert_eq!(usize::from(id) % 4, c, "answer sent to the wrong client");
                assert_eq!(buf[2] & 0x80, 0x80, "QR set");
                ids.insert(id);
            }
        }
        shutdown.cancel();
        let start = std::time::Instant::now();
        worker.join().unwrap();
        assert!(start.elapsed() < SHUTDOWN_POLL * 20);
    }
}
