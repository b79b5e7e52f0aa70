//! `GET /metrics`: Prometheus text exposition format 0.0.4.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::ApiState;
use crate::metrics::LATENCY_BUCKETS_US;

pub use crate::metrics::Metrics;

/// Renders every metric.
pub async fn render(State(state): State<ApiState>) -> impl IntoResponse {
    let service = state.service.clone();
    let health = tokio::task::spawn_blocking(move || service.health_metrics())
        .await
        .unwrap_or_default();
    let mut out = String::new();
    let m = &state.metrics;

    help(
        &mut out,
        "eightfold_dns_queries_total",
        "counter",
        "DNS queries answered, by query type and response code.",
    );
    for (qtype, rcode, n) in m.queries() {
        let _ = writeln!(
            out,
            "eightfold_dns_queries_total{{qtype=\"{qtype}\",rcode=\"{rcode}\"}} {n}"
        );
    }

    help(
        &mut out,
        "eightfold_dns_zone_queries_total",
        "counter",
        "DNS queries answered from each zone served, by response code; a zone's count survives its changes and starts again when it is removed.",
    );
    let published = state.service.published().load_full();
    let mut zones: Vec<_> = published.snapshot.zones().collect();
    zones.sort_by_cached_key(|z| z.apex.to_string().to_ascii_lowercase());
    for zone in zones {
        let name = escape(&format!("{}.", zone.apex));
        for (rcode, n) in zone.counters.counts() {
            let _ = writeln!(
                out,
                "eightfold_dns_zone_queries_total{{zone=\"{name}\",rcode=\"{rcode}\"}} {n}"
            );
        }
    }

    help(
        &mut out,
        "eightfold_dns_answer_seconds",
        "histogram",
        "Time from a query's arrival to its answer being sent.",
    );
    let (buckets, sum) = m.latency();
    let mut cumulative = 0;
    for (i, n) in buckets.iter().enumerate() {
        cumulative += n;
        let le = LATENCY_BUCKETS_US
            .get(i)
            .map_or_else(|| "+Inf".to_string(), |us| format!("{}", *us as f64 / 1e6));
        let _ = writeln!(
            out,
            "eightfold_dns_answer_seconds_bucket{{le=\"{le}\"}} {cumulative}"
        );
    }
    let _ = writeln!(out, "eightfold_dns_answer_seconds_sum {sum}");
    let _ = writeln!(out, "eightfold_dns_answer_seconds_count {cumulative}");

    help(
        &mut out,
        "eightfold_health_check_healthy",
        "gauge",
        "1 when the check is healthy, as DNS answers follow it.",
    );
    for (id, healthy, ..) in &health.checks {
        let _ = writeln!(
            out,
            "eightfold_health_check_healthy{{check=\"{}\"}} {}",
            escape(id),
            u8::from(*healthy)
        );
    }
    help(
        &mut out,
        "eightfold_health_check_results_total",
        "counter",
        "Probe results since the checker (re)started, by outcome; local_fault: failed through this machine (descriptors, memory, ports), not counted toward the state.",
    );
    for (i, (id, _, passed, failed, _)) in health.checks.iter().enumerate() {
        let id = escape(id);
        let _ = writeln!(
            out,
            "eightfold_health_check_results_total{{check=\"{id}\",result=\"success\"}} {passed}"
        );
        let _ = writeln!(
            out,
            "eightfold_health_check_results_total{{check=\"{id}\",result=\"failure\"}} {failed}"
        );
        let local = health.local_faults.get(i).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "eightfold_health_check_results_total{{check=\"{id}\",result=\"local_fault\"}} {local}"
        );
    }
    help(
        &mut out,
        "eightfold_health_check_state_changes_total",
        "counter",
        "Health state changes since the start.",
    );
    for (id, _, _, _, changes) in &health.checks {
        let _ = writeln!(
            out,
            "eightfold_health_check_state_changes_total{{check=\"{}\"}} {changes}",
            escape(id)
        );
    }
    help(
        &mut out,
        "eightfold_snapshot_generation",
        "gauge",
        "Zone snapshots published since the start.",
    );
    let _ = writeln!(out, "eightfold_snapshot_generation {}", health.generation);
    help(&mut out, "eightfold_zones", "gauge", "Zones served.");
    let _ = writeln!(out, "eightfold_zones {}", health.zones);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(out, "# HELP {name} {text}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Label values escape backslash, quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
