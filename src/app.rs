//! Wiring: bind every socket, publish the zones, spawn the listeners, and
//! own reload and shutdown.
//!
//! Sockets are bound (`dns::listen`) before anything is spawned, so a busy
//! port fails the start cleanly. Reloads build a complete new [`Published`] off to the side
//! and swap it in with one atomic store; queries in flight keep the old one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::dns::handler::Published;
use crate::dns::listen;
use crate::health::{Checker, HealthTable};
use crate::snapshot::{HealthId, Snapshot};

/// Builds what the responder reads from a validated config.
pub fn publish(config: &Config) -> Published {
    let ids: HashMap<&str, HealthId> = config
        .health_checks
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i as HealthId))
        .collect();
    // A new check starts healthy; inverted or disabled+inverted ones
    // unhealthy (SPEC §4). The checker takes over from there.
    let health = HealthTable::new(config.health_checks.iter().map(|c| !c.invert));
    let serial = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as u32);
    Published {
        snapshot: Snapshot::build(&config.zones, &|id| ids.get(id).copied(), serial),
        health: Arc::new(health),
    }
}

/// A running server's handles.
pub struct Server {
    /// What the responder reads; swapped whole on reload.
    pub published: Arc<ArcSwap<Published>>,
    /// Bound DNS addresses.
    pub dns: Vec<SocketAddr>,
    /// The health checker of the current configuration and the token that
    /// stops it; replaced on reload.
    checks: std::sync::Mutex<(Checker, CancellationToken)>,
    shutdown: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
}

impl Server {
    /// Binds every socket for `config` and starts answering.
    pub async fn start(config: &Config, shutdown: CancellationToken) -> anyhow::Result<Server> {
        let mut sockets = Vec::new();
        for &addr in &config.dns {
            sockets.push(listen::bind(addr).await?);
        }
        let first = publish(config);
        // Checks start at load, not at the first query.
        let checks_token = shutdown.child_token();
        let checker = Checker::start(
            config.health_checks.clone(),
            first.health.clone(),
            checks_token.clone(),
        );
        let published = Arc::new(ArcSwap::from_pointee(first));
        let mut tasks = tokio::task::JoinSet::new();
        let mut dns = Vec::new();
        for s in sockets {
            dns.push(s.addr);
            listen::spawn(s, &published, &shutdown, &mut tasks);
        }
        Ok(Server {
            published,
            dns,
            checks: std::sync::Mutex::new((checker, checks_token)),
            shutdown,
            tasks,
        })
    }

    /// Swaps in zones and health checks from a new config. Checks whose
    /// spec did not change keep their state, so a reload never revives a
    /// dead endpoint.
    pub fn reload(&self, config: &Config) {
        let next = publish(config);
        let token = self.shutdown.child_token();
        let mut checks = self.checks.lock().unwrap_or_else(|e| e.into_inner());
        // The successor writes its table before the table is published.
        let checker = checks.0.restart(
            config.health_checks.clone(),
            next.health.clone(),
            token.clone(),
        );
        self.published.store(Arc::new(next));
        let (_, old_token) = std::mem::replace(&mut *checks, (checker, token));
        old_token.cancel();
    }

    /// The current health checker (status, overrides).
    pub fn checker(&self) -> Checker {
        self.checks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// Waits for every listener to finish after shutdown.
    pub async fn join(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Runs `eightfold serve` until SIGTERM or SIGINT; SIGHUP reloads
/// `config_path` (when there is one) and applies `overrides` again.
/// `on_ready` is called with the bound DNS addresses once serving.
pub async fn run(
    config_path: Option<PathBuf>,
    config: Config,
    overrides: impl Fn(&mut Config),
    on_ready: impl FnOnce(&[SocketAddr]),
) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let shutdown = CancellationToken::new();
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let server = Server::start(&config, shutdown.clone()).await?;
    let list: Vec<String> = server.dns.iter().map(ToString::to_string).collect();
    tracing::info!(
        dns = %list.join(","),
        zones = config.zones.len(),
        "ready"
    );
    on_ready(&server.dns);
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                let Some(path) = &config_path else {
                    tracing::warn!("SIGHUP ignored: running without a config file");
                    continue;
                };
                match Config::load(path) {
                    Ok(mut new) => {
                        overrides(&mut new);
                        server.reload(&new);
                        tracing::info!(config = %path.display(), zones = new.zones.len(), "reloaded");
                    }
                    Err(diags) => {
                        for d in &diags.0 {
                            tracing::error!("{d}");
                        }
                        tracing::error!(config = %path.display(), "reload failed; still serving the previous configuration");
                    }
                }
            }
        }
    }
    tracing::info!("stopping");
    shutdown.cancel();
    server.join().await;
    tracing::info!("stopped");
    Ok(())
}
