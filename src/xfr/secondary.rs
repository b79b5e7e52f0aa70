//! Secondary zones (RFC 1034 §4.3.5, RFC 1996): zones eightfold takes from
//! primaries (`primaries = [...]` in a `[[zone]]`, docs/transfers.md)
//! instead of declaring them.
//!
//! ```text
//!   NOTIFY from a primary ─► dns::notified ─► Secondaries::notified ─┐
//!                                                                     ▼
//!   one task per zone: SOA query ─► newer? IXFR/AXFR (xfr::fetch) ─► Publisher::serve
//!        ▲ refresh / retry timers from the zone's SOA      (the service publishes)
//! ```
//!
//! Everything here runs in tokio tasks, never on the answer path. A
//! failed refresh (a primary down, a wrong key, a malformed or hostile
//! answer) is logged with the primary and the reason, and the zone keeps
//! serving what it had, until its SOA expire passes without a successful
//! refresh: the zone is then unavailable (SERVFAIL), as NSD and Knot do.
//! The serial served is the primary's, unchanged.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use domain::base::{Serial, ToName};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::fetch::{self, Diff, FetchError, Rr, Transfer};
use crate::dns::handler::Published;
use crate::dns::notified::{Notifiable, Verdict};
use crate::model::{DName, Policy, RData, RecordSpec, ZoneSpec};

/// A zone declared as a secondary: where to take it from and with which
/// key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secondary {
    /// The zone's apex.
    pub zone: DName,
    /// Its primaries, asked in this order.
    pub primaries: Vec<SocketAddr>,
    /// The TSIG key that signs SOA queries and transfers, and that NOTIFY
    /// must be signed with; `None`: unsigned.
    pub key: Option<DName>,
}

/// What a secondary zone's task hands to the service.
#[derive(Debug)]
pub enum Update {
    /// A complete, validated copy of the zone at a newer serial.
    Transferred(ZoneSpec),
    /// What changed since the serial served (an IXFR), to apply to the
    /// zone as it is.
    Changed(Vec<Diff>),
    /// The SOA expire passed without a successful refresh: the zone
    /// answers SERVFAIL until the next transfer.
    Expired,
}

/// Publishes what secondary zones' tasks bring (implemented by the
/// service); called on a blocking thread.
pub trait Publisher: Send + Sync {
    /// Serves `update` for the secondary zone at `zone`; refuses changes
    /// that do not apply to the zone as it is, or leave it invalid.
    fn serve(&self, zone: &DName, update: Update) -> Result<(), String>;

    /// The secondary zone at `zone` as served, to keep a copy of.
    fn copy(&self, zone: &DName) -> Option<ZoneSpec>;
}

/// The first wait after a failed refresh of a zone that has no SOA yet;
/// it doubles up to [`MAX_FIRST_RETRY`].
pub const FIRST_RETRY: Duration = Duration::from_secs(5);
/// The longest wait between attempts while a zone has never been
/// transferred.
pub const MAX_FIRST_RETRY: Duration = Duration::from_secs(300);
/// The shortest refresh or retry interval taken from a SOA: a SOA with
/// zeros does not make a busy loop.
pub const MIN_TIMER: Duration = Duration::from_secs(1);

/// The refresh, retry and expire intervals of a zone's SOA (RFC 1035
/// §3.3.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timers {
    refresh: Duration,
    retry: Duration,
    expire: Duration,
}

impl Timers {
    fn of(soa: &RData) -> Option<Timers> {
        let RData::Soa(soa) = soa else { return None };
        let secs = |t: domain::base::Ttl| Duration::from_secs(u64::from(t.as_secs()));
        let refresh = secs(soa.refresh()).max(MIN_TIMER);
        Some(Timers {
            refresh,
            retry: secs(soa.retry()).max(MIN_TIMER),
            expire: secs(soa.expire()).max(refresh),
        })
    }
}

/// Why one refresh from one primary failed.
#[derive(Debug, thiserror::Error)]
enum RefreshError {
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("the transferred zone is not valid: {0}")]
    Invalid(String),
}

/// A zone's records as the server keeps them: one simple record per
/// owner and type (the smallest TTL of the set, RFC 2181 §5.2), duplicates
/// dropped (RFC 5936 §2.2), then checked by the rules every zone follows.
pub fn zone_spec(apex: &DName, records: Vec<Rr>) -> Result<ZoneSpec, String> {
    let mut specs: Vec<RecordSpec> = Vec::new();
    let mut index: HashMap<(Box<[u8]>, u16), usize> = HashMap::new();
    for (owner, ttl, data) in records {
        let rtype = domain::base::rdata::RecordData::rtype(&data);
        let key = (crate::snapshot::name_key(&owner), rtype.to_int());
        if let Some(&i) = index.get(&key) {
            let spec: &mut RecordSpec = &mut specs[i];
            spec.ttl = spec.ttl.min(ttl);
            if !spec.values.contains(&data) {
                spec.values.push(data);
            }
            continue;
        }
        index.insert(key, specs.len());
        specs.push(RecordSpec {
            owner,
            rtype,
            ttl,
            policy: Policy::Simple,
            set: None,
            values: vec![data],
            health_check: None,
            failover: None,
            weight: None,
            alias: None,
            location: None,
            origin: None,
        });
    }
    let spec = ZoneSpec {
        name: apex.clone(),
        records: specs,
    };
    let problems = crate::validate::zone(&spec);
    if let Some(first) = problems.first() {
        let more = match problems.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        return Err(format!("{}{more}", first.message));
    }
    Ok(spec)
}

/// What one refresh brought.
enum Fetched {
    /// The whole zone (AXFR, or an IXFR answered with the whole zone).
    Whole(ZoneSpec),
    /// Its changes (IXFR).
    Changes(Vec<Diff>),
}

/// One refresh from one primary: the SOA query, and when the primary has
/// a newer serial than `have`, the transfer: IXFR from `have`, AXFR when
/// `have` is `None`. `None`: the zone is current.
async fn refresh_from(
    apex: &DName,
    primary: SocketAddr,
    key: Option<Arc<domain::tsig::Key>>,
    have: Option<Serial>,
) -> Result<Option<(Serial, Timers, Fetched)>, RefreshError> {
    let theirs = fetch::soa_serial(apex, primary, key.clone()).await?;
    if have.is_some_and(|have| theirs <= have) {
        return Ok(None);
    }
    let (soa, fetched) = match fetch::transfer(apex, primary, key, have).await? {
        Transfer::Current => return Ok(None),
        Transfer::Whole(records) => {
            let soa = records[0].2.clone();
            let spec = zone_spec(apex, records).map_err(RefreshError::Invalid)?;
            (soa, Fetched::Whole(spec))
        }
        Transfer::Changes(diffs) => {
            let soa = diffs
                .last()
                .and_then(|d| d.soa.as_ref())
                .map(|r| r.2.clone())
                .ok_or_else(|| RefreshError::Invalid("no SOA after its changes".into()))?;
            (soa, Fetched::Changes(diffs))
        }
    };
    match (&soa, Timers::of(&soa)) {
        (RData::Soa(s), Some(t)) => Ok(Some((s.serial(), t, fetched))),
        _ => Err(RefreshError::Invalid("its SOA is not a SOA".into())),
    }
}

/// `zone`'s records changed by `diffs` in order (each removal must match
/// a record held), its SOA the last one's, grouped and checked as a
/// transferred zone is.
pub fn apply(zone: &ZoneSpec, diffs: &[Diff]) -> Result<ZoneSpec, String> {
    let mut records: Vec<Rr> = zone
        .records
        .iter()
        .flat_map(|r| r.values.iter().map(|v| (r.owner.clone(), r.ttl, v.clone())))
        .collect();
    for diff in diffs {
        for (owner, _, data) in &diff.removed {
            let at = records
                .iter()
                .position(|(o, _, d)| o.name_eq(owner) && d == data)
                .ok_or_else(|| {
                    let rtype = domain::base::rdata::RecordData::rtype(data);
                    format!(
                        "the IXFR removes {owner}. {rtype} {data}, which the zone does not hold"
                    )
                })?;
            records.swap_remove(at);
        }
        records.extend(diff.added.iter().cloned());
        if let Some(soa) = &diff.soa {
            let rtype = |d: &RData| domain::base::rdata::RecordData::rtype(d);
            records.retain(|(_, _, d)| rtype(d) != domain::base::iana::Rtype::SOA);
            records.push(soa.clone());
        }
    }
    zone_spec(&zone.name, records)
}

/// What one zone's task knows.
struct State {
    /// The serial served, `None` before the first transfer and after
    /// expiry (the next refresh then transfers whatever the primary has).
    serial: Option<Serial>,
    /// The timers of the SOA served.
    timers: Option<Timers>,
    /// When a primary last answered with the serial served or a newer one.
    refreshed: Option<Instant>,
    /// Wait after a failure while the zone has never been transferred.
    first_retry: Duration,
}

/// The life of one secondary zone: refresh now, then at each SOA refresh
/// (retry after a failure), or at once when woken by an accepted NOTIFY;
/// until `stop`.
async fn run(
    zone: Secondary,
    published: Arc<ArcSwap<Published>>,
    publisher: Arc<dyn Publisher>,
    kept: PathBuf,
    mut wake: mpsc::Receiver<()>,
    stop: CancellationToken,
) {
    let apex = zone.zone.clone();
    let mut state = State {
        serial: None,
        timers: None,
        refreshed: None,
        first_retry: FIRST_RETRY,
    };
    serve_kept(&apex, &kept, &publisher, &mut state).await;
    loop {
        let wait = refresh(&zone, &published, &publisher, &kept, &mut state).await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            woken = wake.recv() => {
                if woken.is_none() {
                    return;
                }
                tracing::debug!(zone = %apex, "refresh of zone {apex} on NOTIFY");
            }
        }
        // NOTIFYs that came during the refresh are answered by the next.
        while wake.try_recv().is_ok() {}
    }
}

/// One refresh from one primary, served: IXFR from `have` (AXFR without),
/// and when its changes do not apply to the zone as served, AXFR. The
/// serial, timers and kind of transfer taken; `None`: current.
async fn refresh_one(
    apex: &DName,
    primary: SocketAddr,
    key: Option<Arc<domain::tsig::Key>>,
    have: Option<Serial>,
    kept: &std::path::Path,
    publisher: &Arc<dyn Publisher>,
) -> Result<Option<(Serial, Timers, &'static str)>, String> {
    let Some((serial, timers, fetched)) = refresh_from(apex, primary, key.clone(), have)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let diffs = match fetched {
        Fetched::Whole(spec) => {
            let how = if have.is_some() {
                "IXFR, whole zone"
            } else {
                "AXFR"
            };
            take(apex, kept, publisher, Update::Transferred(spec)).await?;
            return Ok(Some((serial, timers, how)));
        }
        Fetched::Changes(diffs) => diffs,
    };
    match take(apex, kept, publisher, Update::Changed(diffs)).await {
        Ok(()) => Ok(Some((serial, timers, "IXFR"))),
        Err(e) => {
            tracing::warn!(zone = %apex, %primary, "zone {apex}: the changes from primary {primary} do not apply ({e}); transferring the whole zone");
            match refresh_from(apex, primary, key, None)
                .await
                .map_err(|e| e.to_string())?
            {
                Some((serial, timers, Fetched::Whole(spec))) => {
                    take(apex, kept, publisher, Update::Transferred(spec)).await?;
                    Ok(Some((serial, timers, "AXFR")))
                }
                Some((_, _, Fetched::Changes(_))) => {
                    Err("the primary sent changes where the whole zone was asked for".into())
                }
                None => Ok(None),
            }
        }
    }
}

/// Hands `update` to the service and, once served, keeps a copy of the
/// zone on disk (off the async threads: both block).
async fn take(
    apex: &DName,
    kept: &std::path::Path,
    publisher: &Arc<dyn Publisher>,
    update: Update,
) -> Result<(), String> {
    let publisher = publisher.clone();
    let (at, dir) = (apex.clone(), kept.to_owned());
    tokio::task::spawn_blocking(move || {
        publisher.serve(&at, update)?;
        if let Some(zone) = publisher.copy(&at)
            && let Err(e) = super::kept::save(&dir, &zone)
        {
            tracing::warn!(zone = %at, error = %e, "zone {at}: cannot keep a copy in {}: {e}; a restart transfers it again", dir.display());
        }
        Ok(())
    })
    .await
    .map_err(|e| format!("publishing failed: {e}"))?
}

/// At start: serves the zone's kept copy (`xfr::kept`) when there is one
/// within its SOA expire, so the zone answers before a primary does.
async fn serve_kept(
    apex: &DName,
    dir: &std::path::Path,
    publisher: &Arc<dyn Publisher>,
    state: &mut State,
) {
    let (dir2, at) = (dir.to_owned(), apex.clone());
    let loaded = tokio::task::spawn_blocking(move || super::kept::load(&dir2, &at)).await;
    let (spec, age) = match loaded {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::warn!(zone = %apex, "zone {apex}: its kept copy is not used: {e}; transferring it again");
            return;
        }
        Err(e) => {
            tracing::warn!(zone = %apex, error = %e, "zone {apex}: reading its kept copy failed");
            return;
        }
    };
    let soa = spec
        .records
        .iter()
        .find(|r| r.rtype == domain::base::iana::Rtype::SOA && r.owner.name_eq(apex))
        .and_then(|r| r.values.first());
    let (Some(RData::Soa(soa_data)), Some(timers)) = (soa, soa.and_then(Timers::of)) else {
        return;
    };
    if age >= timers.expire {
        tracing::info!(zone = %apex, "zone {apex}: its kept copy was last refreshed {} s ago, past the SOA expire; not served", age.as_secs());
        return;
    }
    let serial = soa_data.serial();
    let publisher = publisher.clone();
    let at = apex.clone();
    if let Ok(Ok(())) =
        tokio::task::spawn_blocking(move || publisher.serve(&at, Update::Transferred(spec))).await
    {
        tracing::info!(zone = %apex, serial = serial.into_int(), "zone {apex} served from its kept copy: serial {serial}, refreshed {} s ago", age.as_secs());
        state.serial = Some(serial);
        state.timers = Some(timers);
        state.refreshed = Instant::now().checked_sub(age).or(Some(Instant::now()));
    }
}

/// One refresh, from the first primary that answers; how long to wait
/// before the next.
async fn refresh(
    zone: &Secondary,
    published: &ArcSwap<Published>,
    publisher: &Arc<dyn Publisher>,
    kept: &std::path::Path,
    state: &mut State,
) -> Duration {
    let apex = &zone.zone;
    let key = match &zone.key {
        Some(name) => match published.load().keys.named(name) {
            Some(key) => Some(key),
            None => {
                tracing::error!(zone = %apex, "zone {apex}: no tsig_key is named {name}; not refreshing");
                return MAX_FIRST_RETRY;
            }
        },
        None => None,
    };
    for &primary in &zone.primaries {
        match refresh_one(apex, primary, key.clone(), state.serial, kept, publisher).await {
            Ok(Some((serial, timers, how))) => {
                tracing::info!(zone = %apex, %primary, serial = serial.into_int(), how,
                    "zone {apex} transferred from {primary} ({how}): serial {serial}");
                state.serial = Some(serial);
                state.timers = Some(timers);
                state.refreshed = Some(Instant::now());
                state.first_retry = FIRST_RETRY;
                return timers.refresh;
            }
            Ok(None) => {
                tracing::debug!(zone = %apex, %primary, "zone {apex} is current");
                state.refreshed = Some(Instant::now());
                let (at, dir) = (apex.clone(), kept.to_owned());
                let _ = tokio::task::spawn_blocking(move || super::kept::touch(&dir, &at)).await;
                return state.timers.map_or(MAX_FIRST_RETRY, |t| t.refresh);
            }
            Err(e) => {
                let serving = state.serial.map_or_else(
                    || "nothing yet (SERVFAIL)".to_string(),
                    |s| format!("serial {s}"),
                );
                tracing::warn!(zone = %apex, %primary, error = %e,
                    "zone {apex}: refresh from primary {primary} failed: {e}; still serving {serving}");
            }
        }
    }
    let (Some(timers), Some(refreshed)) = (state.timers, state.refreshed) else {
        let wait = state.first_retry;
        state.first_retry = (wait * 2).min(MAX_FIRST_RETRY);
        return wait;
    };
    let since = refreshed.elapsed();
    if since >= timers.expire {
        if state.serial.take().is_some() {
            tracing::error!(zone = %apex, "zone {apex}: no primary answered for {} s, past the SOA expire; answering SERVFAIL until a transfer succeeds", since.as_secs());
            let publisher = publisher.clone();
            let at = apex.clone();
            let _ =
                tokio::task::spawn_blocking(move || publisher.serve(&at, Update::Expired)).await;
        }
        return timers.retry;
    }
    timers.retry.min(timers.expire - since)
}

/// A running zone task and how to reach it.
struct Running {
    zone: Secondary,
    stop: CancellationToken,
    wake: mpsc::Sender<()>,
}

/// Every secondary zone's task, started, stopped and restarted as the
/// config says; decides on incoming NOTIFY.
pub struct Secondaries {
    running: Mutex<Vec<Running>>,
    published: Arc<ArcSwap<Published>>,
    publisher: Arc<dyn Publisher>,
    /// Where each zone's last copy is kept (`xfr::kept`).
    kept: PathBuf,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Secondaries {
    /// Starts a task for each of `zones`; they publish through
    /// `publisher`, read TSIG keys from `published` and keep their copies
    /// in `kept`, until `shutdown`.
    pub fn start(
        zones: &[Secondary],
        published: Arc<ArcSwap<Published>>,
        publisher: Arc<dyn Publisher>,
        kept: PathBuf,
        shutdown: CancellationToken,
    ) -> Arc<Secondaries> {
        let secondaries = Arc::new(Secondaries {
            running: Mutex::new(Vec::new()),
            published,
            publisher,
            kept,
            tasks: TaskTracker::new(),
            shutdown,
        });
        secondaries.reconfigure(zones);
        secondaries
    }

    /// Makes the running tasks those of `zones`: a zone that is gone or
    /// changed (primaries, key) stops, a new or changed one starts.
    pub fn reconfigure(&self, zones: &[Secondary]) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|r| {
            let keep = zones.contains(&r.zone);
            if !keep {
                r.stop.cancel();
            }
            keep
        });
        for zone in zones {
            if running.iter().any(|r| &r.zone == zone) {
                continue;
            }
            let stop = self.shutdown.child_token();
            // A few pending wake-ups are as good as many: one refresh
            // answers them all.
            let (wake, woken) = mpsc::channel(4);
            self.tasks.spawn(run(
                zone.clone(),
                self.published.clone(),
                self.publisher.clone(),
                self.kept.clone(),
                woken,
                stop.clone(),
            ));
            running.push(Running {
                zone: zone.clone(),
                stop,
                wake,
            });
        }
    }

    /// Waits until every task has stopped (after shutdown).
    pub async fn stopped(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Notifiable for Secondaries {
    fn notified(&self, zone: &DName, from: IpAddr, key: Option<&DName>) -> Verdict {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let Some(r) = running.iter().find(|r| r.zone.zone.name_eq(zone)) else {
            tracing::info!(zone = %zone, %from, "NOTIFY for zone {zone} from {from} refused: not a secondary zone here");
            return Verdict::Refused;
        };
        let from = super::acl::canonical(from);
        if !r
            .zone
            .primaries
            .iter()
            .any(|p| super::acl::canonical(p.ip()) == from)
        {
            tracing::warn!(zone = %zone, %from, "NOTIFY for zone {zone} from {from} refused: not one of its primaries");
            return Verdict::Refused;
        }
        if let Some(want) = &r.zone.key
            && !key.is_some_and(|k| k.name_eq(want))
        {
            tracing::warn!(zone = %zone, %from, "NOTIFY for zone {zone} from {from} refused: not signed with its key {want}");
            return Verdict::Refused;
        }
        tracing::info!(zone = %zone, %from, "NOTIFY for zone {zone} from {from} accepted");
        let _ = r.wake.try_send(());
        Verdict::Accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn rr(owner: &str, ttl: u32, data: &str) -> Rr {
        let apex = DName::from_str("example.test.").unwrap();
        let (rtype, value) = data.split_once(' ').unwrap();
        let rtype = crate::zonefile::parse_rtype(rtype).unwrap();
        let data = crate::zonefile::parse_value(&apex, rtype, value).unwrap();
        (
            DName::from_str(owner).unwrap(),
            domain::base::Ttl::from_secs(ttl),
            data,
        )
    }

    #[test]
    fn transferred_records_become_one_simple_record_per_name_and_type() {
        let apex = DName::from_str("example.test.").unwrap();
        let soa = "SOA ns.example.test. h.example.test. 7 3600 600 86400 300";
        let spec = zone_spec(
            &apex,
            vec![
                rr("example.test.", 3600, soa),
                rr("www.example.test.", 300, "A 192.0.2.1"),
                rr("WWW.example.test.", 60, "A 192.0.2.2"),
                rr("www.example.test.", 300, "A 192.0.2.1"),
                rr("www.example.test.", 300, "AAAA 2001:db8::1"),
            ],
        )
        .unwrap();
        assert_eq!(spec.records.len(), 3);
        let a = &spec.records[1];
        assert_eq!(
            (a.rtype, a.values.len(), a.ttl.as_secs()),
            (domain::base::iana::Rtype::A, 2, 60)
        );
        assert!(spec.records.iter().all(|r| r.policy == Policy::Simple));
        // A zone no server could serve is refused whole, saying why.
        let e = zone_spec(
            &apex,
            vec![
                rr("example.test.", 3600, soa),
                rr("www.example.test.", 300, "CNAME other.example."),
                rr("www.example.test.", 300, "A 192.0.2.1"),
            ],
        )
        .unwrap_err();
        assert!(e.contains("www.example.test"), "{e}");
    }

    #[test]
    fn ixfr_changes_apply_in_order_and_a_removal_of_what_is_not_held_is_refused() {
        let apex = DName::from_str("example.test.").unwrap();
        let soa = |n: u32| {
            rr(
                "example.test.",
                3600,
                &format!("SOA ns.example.test. h.example.test. {n} 3600 600 86400 300"),
            )
        };
        let zone = zone_spec(
            &apex,
            vec![soa(1), rr("www.example.test.", 300, "A 192.0.2.1")],
        )
        .unwrap();
        let diffs = vec![
            Diff {
                from: Serial(1),
                soa: Some(soa(2)),
                removed: vec![rr("www.example.test.", 300, "A 192.0.2.1")],
                added: vec![rr("www.example.test.", 300, "A 192.0.2.2")],
            },
            Diff {
                from: Serial(2),
                soa: Some(soa(3)),
                removed: Vec::new(),
                added: vec![rr("mail.example.test.", 300, "A 192.0.2.25")],
            },
        ];
        let changed = apply(&zone, &diffs).unwrap();
        let shown: Vec<String> = changed
            .records
            .iter()
            .map(|r| format!("{} {} {}", r.owner, r.rtype, r.values[0]))
            .collect();
        assert!(
            shown.contains(&"www.example.test A 192.0.2.2".to_string()),
            "{shown:?}"
        );
        assert!(
            shown.contains(&"mail.example.test A 192.0.2.25".to_string()),
            "{shown:?}"
        );
        assert!(
            shown.iter().any(|l| l.contains("SOA") && l.contains(" 3 ")),
            "{shown:?}"
        );
        assert_eq!(shown.len(), 3, "{shown:?}");
        let e = apply(
            &zone,
            &diffs[1..]
                .iter()
                .map(|d| Diff {
                    from: d.from,
                    soa: d.soa.clone(),
                    removed: vec![rr("nothere.example.test.", 300, "A 192.0.2.9")],
                    added: Vec::new(),
                })
                .collect::<Vec<_>>(),
        )
        .unwrap_err();
        assert!(
            e.contains("nothere.example.test. A 192.0.2.9, which the zone does not hold"),
            "{e}"
        );
    }

    #[test]
    fn timers_come_from_the_soa_and_zeros_make_no_busy_loop() {
        let apex = DName::from_str("example.test.").unwrap();
        let (_, _, soa) = rr(
            "example.test.",
            1,
            "SOA ns.example.test. h.example.test. 7 0 0 0 300",
        );
        let t = Timers::of(&soa).unwrap();
        assert_eq!(
            (t.refresh, t.retry, t.expire),
            (MIN_TIMER, MIN_TIMER, MIN_TIMER)
        );
        let (_, _, soa) = rr(
            "example.test.",
            1,
            "SOA ns.example.test. h.example.test. 7 3600 600 86400 300",
        );
        let t = Timers::of(&soa).unwrap();
        assert_eq!(t.expire, Duration::from_secs(86400));
        let _ = apex;
    }
}
