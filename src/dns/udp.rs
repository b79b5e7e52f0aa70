//! The UDP listener: workers sharing one socket, each with its own buffers.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::handler::{self, Published, Scratch, Transport};

/// Largest request we accept over UDP; anything longer is cut and so fails
/// to parse (FORMERR) rather than being read in pieces.
const MAX_REQUEST: usize = 4096;

/// Answers queries on `socket` until `shutdown` fires. An answer being
/// written when it fires is still sent.
pub async fn serve(
    socket: Arc<UdpSocket>,
    published: Arc<ArcSwap<Published>>,
    shutdown: CancellationToken,
) {
    let mut request = vec![0u8; MAX_REQUEST];
    let mut response = Vec::with_capacity(usize::from(u16::MAX));
    let mut scratch = Scratch::new();
    loop {
        let (len, peer) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            received = socket.recv_from(&mut request) => match received {
                Ok(r) => r,
                // ICMP errors from earlier sends surface here; keep serving.
                Err(e) => {
                    tracing::debug!(error = %e, "udp receive failed");
                    continue;
                }
            },
        };
        let snapshot = published.load();
        if handler::respond(
            &snapshot,
            &request[..len],
            Transport::Udp,
            &mut response,
            &mut scratch,
        )
        .is_some()
            && let Err(e) = socket.send_to(&response, peer).await
        {
            tracing::debug!(%peer, error = %e, "udp send failed");
        }
    }
}
