//! `eightfold demo`: a one-minute tour. Starts HTTP backends of its own on
//! loopback (three healthy, one failing, one that flaps), serves a zone
//! routed over them with every policy, and prints what to try.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::model::{
    CheckKind, DName, FailoverRole, HealthCheckSpec, Policy, RecordSpec, Target, ZoneSpec,
};
use crate::zonefile;

/// The demo zone.
pub const ZONE: &str = "demo.test.";
/// How often the flapping backend changes state.
pub const FLAP_PERIOD: Duration = Duration::from_secs(10);
/// Health check interval in the demo: short, so changes show quickly.
const CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// A backend and whether it currently answers 200.
struct Backend {
    name: &'static str,
    /// The address DNS hands out for it (documentation range).
    public: Ipv4Addr,
    port: u16,
}

/// Starts one backend on loopback answering 200 while `up` is set, else 503.
async fn spawn_backend(up: Arc<AtomicBool>) -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("cannot start a demo backend on 127.0.0.1")?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let up = up.clone();
            tokio::spawn(async move {
                // Read the request head, bounded; its content does not matter.
                let mut buf = [0u8; 2048];
                let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
                let response: &[u8] = if up.load(Ordering::Relaxed) {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nOK\n"
                } else {
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\nDOWN\n"
                };
                let _ = stream.write_all(response).await;
            });
        }
    });
    Ok(port)
}

/// Where the demo's API (and status page) listens unless told.
pub const DEFAULT_API: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8053);

/// The API address: `asked` as given, unless its port is 0; else
/// [`DEFAULT_API`], or a free loopback port when that one is taken. The
/// port is chosen here, not by the listener, so that the tour can print
/// the page's address before anything else.
fn api_address(asked: Option<SocketAddr>) -> anyhow::Result<SocketAddr> {
    let wanted = asked.unwrap_or(DEFAULT_API);
    if wanted.port() != 0 && (asked.is_some() || std::net::TcpListener::bind(wanted).is_ok()) {
        return Ok(wanted);
    }
    let free = std::net::TcpListener::bind(SocketAddr::new(wanted.ip(), 0))
        .with_context(|| format!("cannot find a free port for the API on {}", wanted.ip()))?;
    Ok(free.local_addr()?)
}

/// Runs the demo until SIGTERM/SIGINT, DNS on `dns`, the API and status
/// page on `api` (see [`api_address`]).
pub async fn run(dns: SocketAddr, api: Option<SocketAddr>) -> anyhow::Result<()> {
    let api = api_address(api)?;
    let names = ["web-1", "web-2", "web-3", "web-4", "web-5"];
    let mut backends = Vec::new();
    let mut flags = Vec::new();
    for (i, name) in names.iter().enumerate() {
        // web-4 is down from the start; web-5 flaps.
        let up = Arc::new(AtomicBool::new(*name != "web-4"));
        let port = spawn_backend(up.clone()).await?;
        flags.push(up);
        backends.push(Backend {
            name,
            public: Ipv4Addr::new(192, 0, 2, i as u8 + 1),
            port,
        });
    }
    let flapping = flags[4].clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLAP_PERIOD);
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = !flapping.load(Ordering::Relaxed);
            flapping.store(now, Ordering::Relaxed);
            tracing::info!(backend = "web-5", up = now, "demo backend flapped");
        }
    });
    let mut config = demo_config(dns, &backends)?;
    config.api = Some(api);
    crate::app::run(None, config, |_| {}, |bound| print_tour(bound[0], api)).await
}

fn demo_config(dns: SocketAddr, backends: &[Backend]) -> anyhow::Result<Config> {
    let apex = DName::from_str(ZONE).expect("valid zone name");
    let health_checks = backends
        .iter()
        .map(|b| HealthCheckSpec {
            id: b.name.to_string(),
            kind: CheckKind::Http,
            target: Some(Target::Ip(Ipv4Addr::LOCALHOST.into())),
            port: b.port,
            path: "/health".into(),
            host: None,
            sni: true,
            search: None,
            interval: CHECK_INTERVAL,
            failure_threshold: 1,
            timeout: Duration::from_secs(1),
            invert: false,
            disabled: false,
            healthy_percent: None,
        })
        .collect();
    let record = |name: &str, policy: Policy, b: &Backend| -> anyhow::Result<RecordSpec> {
        let owner = crate::config::owner_name(&apex, name).map_err(anyhow::Error::msg)?;
        let value =
            zonefile::parse_value(&apex, domain::base::iana::Rtype::A, &b.public.to_string())
                .map_err(anyhow::Error::msg)?;
        Ok(RecordSpec {
            alias: None,
            location: None,
            owner,
            rtype: domain::base::iana::Rtype::A,
            ttl: domain::base::Ttl::from_secs(5),
            policy,
            set: Some(b.name.to_string()),
            values: vec![value],
            health_check: Some(b.name.to_string()),
            failover: None,
            weight: None,
            origin: None,
        })
    };
    let mut records = Vec::new();
    for b in backends {
        records.push(record("www", Policy::Multivalue, b)?);
    }
    let mut primary = record("app", Policy::Failover, &backends[4])?;
    primary.failover = Some(FailoverRole::Primary);
    let mut secondary = record("app", Policy::Failover, &backends[0])?;
    secondary.failover = Some(FailoverRole::Secondary);
    records.extend([primary, secondary]);
    for (b, weight) in [(&backends[0], 3), (&backends[1], 1), (&backends[3], 1)] {
        let mut r = record("api", Policy::Weighted, b)?;
        r.weight = Some(weight);
        records.push(r);
    }
    let zone = ZoneSpec {
        name: apex,
        records,
    };
    let problems = crate::validate::zone(&zone);
    anyhow::ensure!(problems.is_empty(), "demo zone is invalid: {problems:?}");
    Ok(Config {
        dns: vec![dns],
        api: None,
        // One database per demo process: two demos never share state.
        data: crate::store::Location::Sqlite(
            std::env::temp_dir().join(format!("eightfold-demo-{}.db", std::process::id())),
        ),
        api_token_file: None,
        rate_limit: 0,
        rate_limit_slip: crate::config::DEFAULT_RATE_LIMIT_SLIP,
        health_checks,
        zones: vec![zone],
        ..Config::default()
    })
}

fn print_tour(dns: SocketAddr, api: SocketAddr) {
    let dig = format!("dig @{} -p {}", dns.ip(), dns.port());
    let flap = FLAP_PERIOD.as_secs();
    let lines = [
        format!("Status page: http://{api}/   (checks, names and live answers; follows changes)"),
        String::new(),
        format!("eightfold demo: zone {ZONE} on {dns}, five local HTTP backends:"),
        "  web-1 192.0.2.1, web-2 192.0.2.2, web-3 192.0.2.3: healthy".into(),
        "  web-4 192.0.2.4: answers 503, so unhealthy".into(),
        format!("  web-5 192.0.2.5: flips between healthy and unhealthy every {flap}s"),
        String::new(),
        "Try these, a few times each:".into(),
        format!(
            "  {dig} www.{ZONE} A +short   # multivalue: the healthy ones, random order, never .4"
        ),
        format!("  {dig} app.{ZONE} A +short   # failover: .5 while web-5 is up, else .1"),
        format!(
            "  {dig} api.{ZONE} A +short   # weighted 3:1:1 over .1, .2, .4 (down): .1 three times in four"
        ),
        String::new(),
        "Watch web-5 come and go from www and app; every health change is logged below.".into(),
        "Ctrl-C stops the demo.".into(),
    ];
    println!("{}", lines.join("\n"));
}
