//! The LISTEN connection: announced store versions and vote
//! notifications, for the cluster task to follow other nodes without
//! polling for every change.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::NoTls;

use super::{CHANGES_CHANNEL, VOTES_CHANNEL, error_chain};

/// How long the listener waits before connecting again after losing its
/// connection: the version poll covers the gap.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// Keeps one connection LISTENing on [`CHANGES_CHANNEL`] and
/// [`VOTES_CHANNEL`], reconnecting after every loss; sends each announced
/// version to `tx`, counts vote notifications in `votes` and connections
/// in `listening`, until every receiver of `tx` is gone.
pub(super) async fn listen(
    config: tokio_postgres::Config,
    url: Arc<str>,
    tx: tokio::sync::watch::Sender<i64>,
    votes: tokio::sync::watch::Sender<u64>,
    listening: tokio::sync::watch::Sender<u64>,
) {
    use tokio_postgres::AsyncMessage;
    let mut failing = false;
    while !tx.is_closed() {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                // Notifications come out of the connection, which must be
                // polled for the LISTEN below to be sent at all.
                let forward = tx.clone();
                let voted = votes.clone();
                let driver = tokio::spawn(async move {
                    loop {
                        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                            Some(Ok(AsyncMessage::Notification(n)))
                                if n.channel() == VOTES_CHANNEL =>
                            {
                                voted.send_modify(|n| *n += 1);
                            }
                            Some(Ok(AsyncMessage::Notification(n))) => {
                                if let Ok(version) = n.payload().parse::<i64>() {
                                    forward.send_if_modified(|seen| {
                                        let newer = version > *seen;
                                        *seen = (*seen).max(version);
                                        newer
                                    });
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => return,
                        }
                    }
                });
                match client
                    .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}; LISTEN {VOTES_CHANNEL}"))
                    .await
                {
                    Ok(()) => {
                        // Votes missed while not listening are read again.
                        listening.send_modify(|n| *n += 1);
                        if failing {
                            tracing::info!(url = %url, "listening for changes again");
                        }
                        failing = false;
                        // Until the connection ends; the client must live
                        // as long, or the connection closes.
                        let _ = driver.await;
                        drop(client);
                    }
                    Err(e) => {
                        driver.abort();
                        if !failing {
                            tracing::warn!(url = %url, error = %error_chain(&e), "cannot listen for changes; polling");
                        }
                        failing = true;
                    }
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(url = %url, error = %error_chain(&e), "cannot listen for changes; polling");
                }
                failing = true;
            }
        }
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}
