//! The TCP listener (RFC 7766): length-prefixed messages, several per
//! connection and pipelined, answered in order; idle connections closed.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::handler::{self, Published, Scratch, Transport};

/// How long a connection may sit without a complete request before we
/// close it (RFC 7766 §6.2.3 suggests seconds, not minutes).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most TCP connections served at once; further clients wait in the
/// kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 512;
/// How long connections get to finish after shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Accepts connections on `listener` until `shutdown` fires, then lets the
/// open ones finish the answer they are writing.
pub async fn serve(
    listener: TcpListener,
    published: Arc<ArcSwap<Published>>,
    shutdown: CancellationToken,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            permit = limit.clone().acquire_owned() => permit.expect("semaphore never closed"),
        };
        let (stream, peer) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "tcp accept failed");
                    continue;
                }
            },
        };
        let published = published.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            if let Err(e) = connection(stream, &published, &shutdown).await {
                tracing::debug!(%peer, error = %e, "tcp connection ended");
            }
            drop(permit);
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
    published: &ArcSwap<Published>,
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
        let snapshot = published.load();
        if handler::respond(
            &snapshot,
            &request[..len],
            Transport::Tcp,
            &mut response,
            &mut scratch,
        )
        .is_none()
        {
            continue;
        }
        frame.clear();
        frame.extend_from_slice(&(response.len() as u16).to_be_bytes());
        frame.extend_from_slice(&response);
        write.write_all(&frame).await?;
    }
}
