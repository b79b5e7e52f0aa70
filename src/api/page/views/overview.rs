//! `/`: zones, checks by state, recent transitions, and the place where
//! a cluster's nodes will go.

use std::collections::HashMap;
use std::fmt::Write;
use std::time::SystemTime;

use super::{counts, events_table};
use crate::api::page::data::CheckRow;
use crate::api::page::html::{esc, href};
use crate::api::words;
use crate::service::{RoutedName, ZoneInfo};
use crate::store::HealthEvent;

/// What the overview shows.
pub struct Overview<'a> {
    /// Every zone.
    pub zones: &'a [ZoneInfo],
    /// Every check.
    pub rows: &'a [CheckRow],
    /// Recent transitions, newest first.
    pub events: &'a [HealthEvent],
    /// Every routed name.
    pub routed: &'a [RoutedName],
    /// Render time.
    pub now: SystemTime,
}

/// The overview's main content.
pub fn render(o: &Overview<'_>) -> String {
    let mut out = String::from("<h1>Overview</h1>\n");
    out.push_str(
        r#"<section aria-labelledby="h-checks"><h2 id="h-checks">Health checks</h2><ul class="counts" id="counts" data-live>"#,
    );
    for (key, n) in counts(o.rows) {
        let _ = write!(
            out,
            r#"<li><a class="count count-{key}" href="{}" data-key="count:{key}"><span class="n">{n}</span> {key}</a></li>"#,
            esc(&href("/checks", &[("state", key)]))
        );
    }
    let _ = write!(
        out,
        r#"<li><a class="count" href="/checks" data-key="count:all"><span class="n">{}</span> in all</a></li></ul></section>"#,
        o.rows.len()
    );
    out.push_str(
        r#"<section aria-labelledby="h-events"><h2 id="h-events">Recent transitions</h2><div id="events" data-live>"#,
    );
    out.push_str(&events_table(
        "The latest state changes of every check, newest first",
        o.events,
        true,
        o.now,
    ));
    out.push_str("</div></section>");
    out.push_str(r#"<section aria-labelledby="h-zones"><h2 id="h-zones">Zones</h2><div id="zones" data-live>"#);
    out.push_str(&zones_table(o.zones, o.routed));
    out.push_str("</div></section>");
    out.push_str(
        r#"<section aria-labelledby="h-nodes" class="placeholder"><h2 id="h-nodes">Nodes</h2><p>Not clustered: this server checks and answers alone, so there is one view of every check, this one. When eightfold runs as a cluster, each node and how it sees the checks will be listed here.</p></section>"#,
    );
    out
}

fn zones_table(zones: &[ZoneInfo], routed: &[RoutedName]) -> String {
    if zones.is_empty() {
        return "<p class=\"empty\">No zone is served.</p>".into();
    }
    let mut per_zone: HashMap<String, usize> = HashMap::new();
    for r in routed {
        *per_zone.entry(r.zone.to_ascii_lowercase()).or_default() += 1;
    }
    let mut out = String::from(
        r#"<table class="data"><caption>Every zone served</caption><thead><tr><th scope="col">Zone</th><th scope="col">Managed by</th><th scope="col" class="num">Records</th><th scope="col" class="num">Routed names</th></tr></thead><tbody>"#,
    );
    for z in zones {
        let routed = per_zone
            .get(&z.name.to_ascii_lowercase())
            .copied()
            .unwrap_or(0);
        let names = if routed == 0 {
            "0".to_string()
        } else {
            format!(
                r#"<a href="{}">{routed}</a>"#,
                esc(&href("/names", &[("q", &z.name)]))
            )
        };
        let _ = write!(
            out,
            r#"<tr><th scope="row" data-label="Zone"><code>{}</code></th><td data-label="Managed by">{}</td><td data-label="Records" class="num">{}</td><td data-label="Routed names" class="num">{names}</td></tr>"#,
            esc(&z.name),
            words::managed_by(z.managed_by),
            z.record_count
        );
    }
    out.push_str("</tbody></table>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_escaped_and_the_nodes_place_holds_no_data() {
        let zones = [ZoneInfo {
            name: "<b>.test.".into(),
            id: "Z1".into(),
            managed_by: crate::service::ManagedBy::Api,
            file: None,
            record_count: 3,
            comment: String::new(),
            caller_reference: None,
        }];
        let routed = [RoutedName {
            zone: "<b>.test.".into(),
            name: "www.<b>.test.".into(),
            rtype: domain::base::iana::Rtype::A,
            routing: crate::model::Policy::Multivalue,
        }];
        let html = render(&Overview {
            zones: &zones,
            rows: &[],
            events: &[],
            routed: &routed,
            now: SystemTime::now(),
        });
        assert!(html.contains("<code>&lt;b&gt;.test.</code>"));
        assert!(!html.contains("<b>"));
        assert!(html.contains(r#"href="/names?q=%3Cb%3E.test.""#));
        assert!(html.contains("Not clustered"));
        assert!(html.contains(r#"<span class="n">0</span> unhealthy"#));
    }
}
