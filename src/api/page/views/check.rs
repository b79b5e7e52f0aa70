//! `/checks/{id}`: one check's state, override switch, last hour,
//! recent results and event log.

use std::fmt::Write;
use std::time::SystemTime;

use super::{badge, events_table, latency, word_badge};
use crate::api::page::data::CheckRow;
use crate::api::page::html::{check_href, esc, time_el};
use crate::api::words;
use crate::store::HealthEvent;

/// What the check page shows.
pub struct CheckPage<'a> {
    /// The check.
    pub row: &'a CheckRow,
    /// The timeline SVG.
    pub timeline: &'a str,
    /// Its transitions, newest first.
    pub events: &'a [HealthEvent],
    /// Whether the viewer may use the override switch.
    pub can_write: bool,
    /// Render time.
    pub now: SystemTime,
}

/// The page's main content.
pub fn render(c: &CheckPage<'_>) -> String {
    let row = c.row;
    let id = row.id();
    let mut out = format!(
        r#"<p class="crumbs"><a href="/checks">Checks</a> / <span>{}</span></p>"#,
        esc(id)
    );
    let _ = write!(
        out,
        r#"<div id="check-head" data-live><h1>Check <code>{}</code> {}</h1>{}</div>"#,
        esc(id),
        badge(row.standing()),
        head_detail(row)
    );
    out.push_str(&override_form(c));
    out.push_str(
        r#"<section aria-labelledby="h-timeline"><h2 id="h-timeline">Last hour</h2><div id="timeline" data-live>"#,
    );
    out.push_str(c.timeline);
    out.push_str("</div>");
    out.push_str(
        r#"<ul class="legend"><li><span class="key key-pass" aria-hidden="true"></span>bar: the endpoint passed; its height is the latency</li><li><span class="key key-fail" aria-hidden="true"></span>cross: the endpoint failed</li><li><span class="key key-local" aria-hidden="true"></span>dot: a local fault, not counted</li><li><span class="key key-band" aria-hidden="true"></span>band: the state DNS followed (green healthy, red unhealthy)</li></ul></section>"#,
    );
    out.push_str(
        r#"<section aria-labelledby="h-results"><h2 id="h-results">Recent results</h2><div id="results" data-live>"#,
    );
    out.push_str(&results_table(row, c.now));
    out.push_str("</div></section>");
    out.push_str(
        r#"<section aria-labelledby="h-log"><h2 id="h-log">Event log</h2><div id="check-events" data-live>"#,
    );
    out.push_str(&events_table(
        &format!("State changes of {id}, newest first"),
        c.events,
        false,
        c.now,
    ));
    out.push_str("</div></section>");
    out.push_str(&details(row));
    out
}

fn head_detail(row: &CheckRow) -> String {
    let Some(state) = &row.state else {
        return r#"<p class="note">This stored check no longer validates, so it is not run; fix or delete it through the API.</p>"#.into();
    };
    let s = &state.status;
    let forced = match s.forced {
        Some(f) => format!("forced {} by an operator", words::health(f)),
        None => "none".into(),
    };
    format!(
        r#"<p class="facts">DNS follows: {} · probes say: {} · override: {}</p>"#,
        word_badge(s.healthy),
        word_badge(s.measured),
        esc(&forced)
    )
}

fn override_form(c: &CheckPage<'_>) -> String {
    let forced = c
        .row
        .state
        .as_ref()
        .and_then(|s| s.status.forced)
        .map_or_else(
            || "none: DNS follows the probes".to_string(),
            |f| format!("forced {}", words::health(f)),
        );
    let why_not = if c.can_write {
        ""
    } else {
        r#"<p class="note">This session may only read.</p>"#
    };
    format!(
        r#"<section aria-labelledby="h-override"><h2 id="h-override">Override</h2>
<form id="override" class="override" data-override="{url}"{readonly}>
<fieldset><legend>Force the state DNS follows for this check</legend>
<p id="override-now" data-live>Current override: <strong>{forced}</strong></p>
<div class="buttons">
<button type="submit" name="status" value="healthy" id="force-healthy" disabled>Force healthy</button>
<button type="submit" name="status" value="unhealthy" id="force-unhealthy" disabled>Force unhealthy</button>
<button type="submit" name="status" value="release" id="force-release" disabled>Release</button>
</div>
<output id="override-result" for="force-healthy force-unhealthy force-release"></output>
{why_not}<noscript><p class="note">The switch needs JavaScript (it sends JSON, which only this page can). Without it: <code>POST /v1/health-checks/{{id}}/override</code>.</p></noscript>
</fieldset></form></section>"#,
        url = esc(&format!("{}/override", check_href(c.row.id()))),
        readonly = if c.can_write { "" } else { " data-readonly" },
        forced = esc(&forced),
    )
}

fn results_table(row: &CheckRow, now: SystemTime) -> String {
    let results = row.results();
    if results.is_empty() {
        let why = if row.info.input.kind == "calculated" {
            "A calculated check has no probes of its own; see its children."
        } else if row.info.input.disabled {
            "Disabled: not probed."
        } else {
            "No result yet."
        };
        return format!(r#"<p class="empty">{why}</p>"#);
    }
    let mut out = String::from(
        r#"<table class="data"><caption>The checker's latest results, newest first</caption><thead><tr><th scope="col">When</th><th scope="col">Endpoint</th><th scope="col" class="num">Latency</th><th scope="col">Reason</th></tr></thead><tbody>"#,
    );
    for r in results.iter().rev() {
        let verdict = if r.local {
            r#"<span class="state state-local">local fault (not counted)</span>"#.to_string()
        } else if r.healthy {
            r#"<span class="state state-up">passed</span>"#.to_string()
        } else {
            r#"<span class="state state-down">failed</span>"#.to_string()
        };
        let _ = write!(
            out,
            r#"<tr><td data-label="When">{}</td><td data-label="Endpoint">{verdict}</td><td data-label="Latency" class="num">{}</td><td data-label="Reason" class="reason">{}</td></tr>"#,
            time_el(r.at, now),
            latency(Some(crate::api::words::latency_ms(r))),
            esc(&r.reason)
        );
    }
    out.push_str("</tbody></table>");
    out
}

fn details(row: &CheckRow) -> String {
    let i = &row.info.input;
    let mut facts: Vec<(&str, String)> = vec![
        ("Target", row.target()),
        (
            "Managed by",
            words::managed_by(row.info.managed_by).to_string(),
        ),
    ];
    let optional = [
        ("Interval", i.interval.clone()),
        (
            "Failure threshold",
            i.failure_threshold.map(|n| n.to_string()),
        ),
        ("Timeout", i.timeout.clone()),
        ("Host", i.host.clone()),
        ("Search", i.search.clone()),
        (
            "Healthy threshold",
            i.healthy_threshold.map(|n| n.to_string()),
        ),
    ];
    facts.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
    facts.push(("Invert", if i.invert { "yes" } else { "no" }.into()));
    facts.push(("Disabled", if i.disabled { "yes" } else { "no" }.into()));
    let mut out = String::from(
        r#"<section aria-labelledby="h-details"><h2 id="h-details">Settings</h2><dl class="facts-list">"#,
    );
    for (k, v) in facts {
        let _ = write!(out, "<dt>{k}</dt><dd>{}</dd>", esc(&v));
    }
    out.push_str("</dl></section>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::page::data::fixtures;
    use crate::input::HealthCheckInput;
    use crate::service::{CheckInfo, ManagedBy};

    fn row() -> CheckRow {
        CheckRow {
            info: CheckInfo {
                input: HealthCheckInput {
                    id: "a/<b>".into(),
                    kind: "http".into(),
                    ip: Some("127.0.0.1".into()),
                    fqdn: None,
                    port: Some(80),
                    path: None,
                    host: Some("<h>".into()),
                    sni: None,
                    search: None,
                    interval: Some("1s".into()),
                    failure_threshold: None,
                    timeout: None,
                    invert: false,
                    disabled: false,
                    children: None,
                    healthy_threshold: None,
                    healthy_percent: None,
                },
                managed_by: ManagedBy::Api,
                version: 1,
                caller_reference: None,
            },
            state: Some(fixtures::state(
                "a/<b>",
                false,
                None,
                vec![fixtures::result(
                    humantime::parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
                    false,
                    "<HTTP 503>",
                    2.0,
                )],
            )),
        }
    }

    #[test]
    fn the_override_posts_to_the_escaped_check_url_and_readers_cannot_use_it() {
        let row = row();
        let page = |can_write| {
            render(&CheckPage {
                row: &row,
                timeline: "<svg></svg>",
                events: &[],
                can_write,
                now: SystemTime::now(),
            })
        };
        let html = page(true);
        assert!(html.contains(r#"data-override="/checks/a%2F%3Cb%3E/override""#));
        assert!(html.contains("<legend>"));
        assert!(html.contains("&lt;HTTP 503&gt;"));
        assert!(html.contains("&lt;h&gt;"));
        assert!(!html.contains("<b>") && !html.contains("<h>"));
        assert!(!html.contains("data-readonly"));
        assert!(page(false).contains("data-readonly"));
    }
}
