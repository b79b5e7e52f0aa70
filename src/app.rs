//! Wiring: bind every socket, publish the zones, spawn the listeners, and
//! own reload and shutdown.
//!
//! Sockets are bound (`dns::listen`) before anything is spawned, so a busy
//! port fails the start cleanly. Reloads build a complete new [`Published`] off to the side
//! and swap it in with one atomic store; queries in flight keep the old one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::dns::listen;
use crate::health::{Listener, Role};
use crate::service::Service;
use crate::store::Store;

/// A running server's handles.
pub struct Server {
    /// The management service (zones, records, checks, publishing).
    pub service: Arc<Service>,
    /// Bound DNS addresses.
    pub dns: Vec<SocketAddr>,
    /// Bound API address, if the API runs.
    pub api: Option<SocketAddr>,
    /// The API's TLS files, when it speaks HTTPS.
    api_tls: Option<Arc<crate::api::tls::TlsFiles>>,
    /// The secondary zones' transfer tasks.
    secondaries: Arc<crate::xfr::secondary::Secondaries>,
    tasks: tokio::task::JoinSet<()>,
}

impl Server {
    /// Binds every socket for `config`, opens the store, publishes the
    /// zones, starts the checker and starts answering. `config_path` names
    /// the file in messages about file-managed objects.
    pub async fn start(
        config: Config,
        config_path: Option<PathBuf>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Server> {
        let mut sockets = Vec::new();
        for &addr in &config.dns {
            sockets.push(listen::bind(addr).await?);
        }
        let api_listener = match config.api {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for the API on {addr}"))?,
            ),
            None => None,
        };
        let token = match &config.api_token_file {
            Some(path) => Some(read_token(path)?),
            None => None,
        };
        if let Some(addr) = config.api {
            require_token_off_loopback(addr, token.is_some())?;
        }
        let tls = match &config.api_tls {
            Some(files) => Some(Arc::new(
                crate::api::tls::TlsFiles::load(files).map_err(|e| anyhow::anyhow!("{e}"))?,
            )),
            None => None,
        };
        let api_hosts: Arc<[String]> = config.api_hosts.clone().into();
        let store = Store::open_location(&config.data)?;
        // The cluster task's own handle (heartbeat, version poll): it never
        // waits behind the service.
        let beat_store = Store::open_location(&config.data)?;
        let tcp_v6_prefix = config.tcp_ipv6_client_prefix;
        let limiter = (config.rate_limit > 0).then(|| {
            Arc::new(crate::dns::rrl::RateLimiter::new(
                config.rate_limit,
                config.rate_limit_slip,
            ))
        });
        // The service keeps the config: moved, not copied, since at a
        // million records a copy is hundreds of MiB.
        let own = own_listeners(&sockets, api_listener.as_ref())?;
        let secondary_zones = config.secondaries.clone();
        let secondary_dir = config.secondary_dir.clone();
        let service = Service::start_guarding(config, config_path, store, shutdown.clone(), own)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut shared = listen::Shared::new(service.published(), limiter, tcp_v6_prefix);
        shared.updater = Some(service.clone());
        let secondaries = crate::xfr::secondary::Secondaries::start(
            &secondary_zones,
            service.published(),
            service.clone(),
            secondary_dir,
            shutdown.clone(),
        );
        shared.notified = Some(secondaries.clone());
        let metrics = shared.metrics.clone();
        let mut tasks = tokio::task::JoinSet::new();
        let mut dns = Vec::new();
        for s in sockets {
            dns.push(s.addr);
            listen::spawn(s, &shared, &shutdown, &mut tasks);
        }
        tasks.spawn(prune_history(service.clone(), shutdown.clone()));
        tasks.spawn(crate::cluster::run(
            service.cluster(),
            beat_store,
            service.clone(),
            service.ballot(),
            shutdown.clone(),
        ));
        let mut api = None;
        if let Some(listener) = api_listener {
            api = Some(listener.local_addr()?);
            let router = crate::api::router(crate::api::ApiState {
                service: service.clone(),
                metrics,
                token,
                api_hosts,
            });
            tasks.spawn(crate::api::serve::serve(
                listener,
                router,
                tls.clone(),
                crate::api::serve::Limits::default(),
                shutdown.clone(),
            ));
        }
        Ok(Server {
            service,
            dns,
            api,
            api_tls: tls,
            secondaries,
            tasks,
        })
    }

    /// Swaps in zones and health checks from a new config file; API-managed
    /// objects stay. Checks whose spec did not change keep their state, so
    /// a reload never revives a dead endpoint.
    ///
    /// A config that conflicts with what the API stored is refused whole
    /// (each problem is returned) and the running one stays.
    ///
    /// Returns how many file zones were kept as built: their files had
    /// not changed.
    pub fn reload(&self, config: Config) -> Result<usize, Vec<String>> {
        // The API's certificate is read again (renewals); its listener,
        // address and token stay as started.
        if let (Some(tls), Some(files)) = (&self.api_tls, &config.api_tls) {
            match tls.reload(files) {
                Ok(()) => tracing::info!("API certificate reloaded"),
                Err(e) => tracing::error!("{e}; the API keeps its previous certificate"),
            }
        }
        let secondary_zones = config.secondaries.clone();
        let kept = self.service.reload_file(config)?;
        self.secondaries.reconfigure(&secondary_zones);
        Ok(kept)
    }

    /// What the served file zones' files held when last read, for the
    /// next reload to skip the files that did not change.
    pub fn zone_sources(&self) -> std::collections::HashMap<Box<[u8]>, crate::zonefile::Source> {
        self.service.zone_sources()
    }

    /// Waits for every listener to finish after shutdown.
    pub async fn join(mut self) {
        while self.tasks.join_next().await.is_some() {}
        self.secondaries.stopped().await;
        // Transitions the checker saw before stopping are written before
        // the process exits; a store that hangs cannot hold the exit.
        let flushed = self.service.events_flushed();
        if tokio::time::timeout(EVENT_FLUSH_LIMIT, flushed)
            .await
            .is_err()
        {
            tracing::error!(
                "health transitions still unwritten after {} s; stopping without them",
                EVENT_FLUSH_LIMIT.as_secs()
            );
        }
    }
}

/// The bound sockets, which health checks may not aim at.
fn own_listeners(
    dns: &[listen::DnsSockets],
    api: Option<&tokio::net::TcpListener>,
) -> anyhow::Result<Vec<Listener>> {
    let mut own: Vec<Listener> = dns
        .iter()
        .map(|s| Listener {
            role: Role::Dns,
            addr: s.addr,
        })
        .collect();
    if let Some(api) = api {
        own.push(Listener {
            role: Role::Api,
            addr: api.local_addr()?,
        });
    }
    Ok(own)
}

/// How long a stop waits for queued health transitions to be written.
const EVENT_FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How often history is pruned (and once at start).
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Keeps health events and Route 53 change records within the configured
/// retention, off the async threads (the deletes walk SQLite indexes).
async fn prune_history(service: Arc<Service>, shutdown: CancellationToken) {
    loop {
        let svc = service.clone();
        match tokio::task::spawn_blocking(move || svc.prune_history()).await {
            Ok(Ok(pruned)) if pruned.events + pruned.changes > 0 => tracing::info!(
                events = pruned.events,
                changes = pruned.changes,
                "history pruned past its retention"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot prune history; it keeps growing until this is fixed")
            }
            Err(e) => tracing::error!(error = %e, "history pruning failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}

/// Refuses an API reachable from the network without a token: without
/// one, anybody who can connect can change DNS.
fn require_token_off_loopback(addr: SocketAddr, has_token: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        has_token || addr.ip().is_loopback(),
        "the API would listen on {addr}, which is not a loopback address, without a token: \
         anybody who reaches it could change DNS; set [server] api_token_file, or listen on 127.0.0.1"
    );
    Ok(())
}

/// Reads the API bearer token: the file's content, trimmed.
fn read_token(path: &std::path::Path) -> anyhow::Result<Arc<str>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the API token file {}", path.display()))?;
    let token = text.trim();
    anyhow::ensure!(
        !token.is_empty(),
        "the API token file {} is empty",
        path.display()
    );
    Ok(token.into())
}

/// Says which geolocation database clients are located with, so an
/// operator sees the file (and its age) each start and reload took in.
fn log_geo_database(config: &Config) {
    if let Some(db) = &config.geoip {
        tracing::info!(
            file = %db.path().display(),
            kind = db.kind(),
            built = db.built(),
            "geolocation database read"
        );
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
    let descriptors = crate::rlimit::raise_open_files();
    let shutdown = CancellationToken::new();
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let zones = config.zones.len();
    log_geo_database(&config);
    let server = Server::start(config, config_path.clone(), shutdown.clone()).await?;
    crate::memory::trim();
    crate::memory::give_back_at_once();
    crate::rlimit::log_open_files(&descriptors);
    let list: Vec<String> = server.dns.iter().map(ToString::to_string).collect();
    let api = server
        .api
        .map_or_else(|| "off".to_string(), |a| a.to_string());
    tracing::info!(
        dns = %list.join(","),
        api = %api,
        zones,
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
                match Config::load_to_serve(path, &server.zone_sources()) {
                    Ok(mut new) => {
                        overrides(&mut new);
                        let zones = new.zones.len();
                        log_geo_database(&new);
                        match server.reload(new) {
                            Ok(unchanged) => {
                                crate::memory::trim();
                                tracing::info!(config = %path.display(), zones, unchanged, "reloaded");
                            }
                            Err(problems) => {
                                for p in &problems {
                                    tracing::error!("{p}");
                                }
                                tracing::error!(config = %path.display(), "reload refused; still serving the previous configuration");
                            }
                        }
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
