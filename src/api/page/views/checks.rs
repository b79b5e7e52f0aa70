//! `/checks`: every check in a table, filtered and sorted on the server
//! (so the form and the column links work without JavaScript; the script
//! only applies them without a reload).

use std::cmp::Ordering;
use std::fmt::Write;
use std::time::SystemTime;

use serde::Deserialize;

use super::{badge, change, latency};
use crate::api::page::data::{CheckRow, Standing};
use crate::api::page::html::{check_href, esc, href, time_el};

/// The table's query string.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Params {
    /// Text searched in the id, the target and the last failure's reason.
    #[serde(default)]
    pub q: String,
    /// A [`Standing::key`], or empty for all.
    #[serde(default)]
    pub state: String,
    /// Column: `check`, `state`, `failure`, `transition`, `latency`.
    #[serde(default)]
    pub sort: String,
    /// `asc` or `desc`.
    #[serde(default)]
    pub dir: String,
}

/// The sortable columns: key, header, default direction.
const COLUMNS: [(&str, &str, &str); 5] = [
    ("check", "Check", "asc"),
    ("state", "State", "asc"),
    ("failure", "Last failure", "desc"),
    ("transition", "Last transition", "desc"),
    ("latency", "Latency", "desc"),
];

impl Params {
    fn sort_key(&self) -> &str {
        COLUMNS
            .iter()
            .find(|c| c.0 == self.sort)
            .map_or("state", |c| c.0)
    }

    fn descending(&self) -> bool {
        match self.dir.as_str() {
            "desc" => true,
            "asc" => false,
            _ => COLUMNS
                .iter()
                .find(|c| c.0 == self.sort_key())
                .is_some_and(|c| c.2 == "desc"),
        }
    }
}

/// The rows `p` selects, in its order (ties by id).
pub fn select<'a>(rows: &'a [CheckRow], p: &Params) -> Vec<&'a CheckRow> {
    let needle = p.q.trim().to_lowercase();
    let mut out: Vec<&CheckRow> = rows
        .iter()
        .filter(|r| p.state.is_empty() || r.standing().key() == p.state)
        .filter(|r| {
            needle.is_empty()
                || r.id().to_lowercase().contains(&needle)
                || r.target().to_lowercase().contains(&needle)
                || r.last_failure()
                    .is_some_and(|f| f.reason.to_lowercase().contains(&needle))
        })
        .collect();
    let key = p.sort_key();
    out.sort_by(|a, b| {
        let primary = match key {
            "check" => Ordering::Equal,
            "state" => a.standing().rank().cmp(&b.standing().rank()),
            "failure" => a
                .last_failure()
                .map(|f| f.at)
                .cmp(&b.last_failure().map(|f| f.at)),
            "transition" => a
                .last_change()
                .map(|e| e.at)
                .cmp(&b.last_change().map(|e| e.at)),
            _ => a
                .latency_ms()
                .partial_cmp(&b.latency_ms())
                .unwrap_or(Ordering::Equal),
        };
        primary.then_with(|| a.id().cmp(b.id()))
    });
    if p.descending() {
        out.reverse();
    }
    out
}

/// The page's main content.
pub fn render(rows: &[CheckRow], p: &Params, now: SystemTime) -> String {
    let mut out = String::from("<h1>Checks</h1>\n");
    out.push_str(&filter_form(p));
    out.push_str(r#"<div id="checks-table" data-live>"#);
    out.push_str(&table(rows, p, now));
    out.push_str("</div>");
    out
}

fn filter_form(p: &Params) -> String {
    let mut options = String::from(r#"<option value="">any</option>"#);
    for key in Standing::KEYS {
        let selected = if key == p.state { " selected" } else { "" };
        let _ = write!(options, r#"<option value="{key}"{selected}>{key}</option>"#);
    }
    format!(
        r#"<form id="check-filter" class="filter" method="get" action="/checks" role="search" aria-label="Filter the checks">
<div class="field"><label for="filter-q">Filter</label><input id="filter-q" name="q" type="search" value="{q}" placeholder="id, target or reason" autocomplete="off"></div>
<div class="field"><label for="filter-state">State</label><select id="filter-state" name="state">{options}</select></div>
<input type="hidden" name="sort" value="{sort}"><input type="hidden" name="dir" value="{dir}">
<button type="submit">Apply</button>
</form>
"#,
        q = esc(&p.q),
        sort = esc(&p.sort),
        dir = esc(&p.dir),
    )
}

fn table(rows: &[CheckRow], p: &Params, now: SystemTime) -> String {
    let shown = select(rows, p);
    let key = p.sort_key();
    let desc = p.descending();
    let (label, _, _) = COLUMNS
        .iter()
        .find(|c| c.0 == key)
        .copied()
        .unwrap_or(COLUMNS[1]);
    let mut out = format!(
        r#"<p class="summary" id="checks-summary">{} of {} checks shown.</p>"#,
        shown.len(),
        rows.len()
    );
    let _ = write!(
        out,
        r#"<table class="data sortable" id="checks"><caption>Health checks, sorted by {} ({})</caption><thead><tr>"#,
        label.to_lowercase(),
        if desc { "descending" } else { "ascending" }
    );
    for (col, header, default_dir) in COLUMNS {
        let next_dir = if col == key {
            if desc { "asc" } else { "desc" }
        } else {
            default_dir
        };
        let link = href(
            "/checks",
            &[
                ("q", &p.q),
                ("state", &p.state),
                ("sort", col),
                ("dir", next_dir),
            ],
        );
        let sort = if col == key {
            format!(
                r#" aria-sort="{}""#,
                if desc { "descending" } else { "ascending" }
            )
        } else {
            String::new()
        };
        let arrow = match (col == key, desc) {
            (true, true) => r#" <span aria-hidden="true">▼</span>"#,
            (true, false) => r#" <span aria-hidden="true">▲</span>"#,
            _ => "",
        };
        let class = if col == "latency" {
            r#" class="num""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<th scope="col"{sort}{class}><a id="sort-{col}" data-sort href="{}">{header}{arrow}</a></th>"#,
            esc(&link)
        );
    }
    out.push_str("</tr></thead><tbody>");
    if shown.is_empty() {
        out.push_str(r#"<tr><td colspan="5" class="empty">No check matches.</td></tr>"#);
    }
    for r in shown {
        let standing = r.standing();
        let failure = match r.last_failure() {
            Some(f) => format!(
                r#"<span class="reason">{}</span><br>{}"#,
                esc(&f.reason),
                time_el(f.at, now)
            ),
            None => "—".into(),
        };
        let transition = match r.last_change() {
            Some(e) => format!(
                r#"{}<br>{}<br><span class="reason">{}</span>"#,
                change(e.old, e.new),
                time_el(e.at, now),
                esc(&e.reason)
            ),
            None => "none since start".into(),
        };
        let _ = write!(
            out,
            r#"<tr data-check="{id}" data-state="{key}"><th scope="row" data-label="Check"><a href="{link}" data-key="check:{id}">{id}</a><span class="sub">{target}</span></th><td data-label="State" class="state-cell">{badge}</td><td data-label="Last failure">{failure}</td><td data-label="Last transition">{transition}</td><td data-label="Latency" class="num">{latency}</td></tr>"#,
            id = esc(r.id()),
            key = standing.key(),
            link = esc(&check_href(r.id())),
            target = esc(&r.target()),
            badge = badge(standing),
            latency = latency(r.latency_ms()),
        );
    }
    out.push_str("</tbody></table>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::page::data::fixtures;
    use crate::input::HealthCheckInput;
    use crate::service::{CheckInfo, ManagedBy};

    fn row(id: &str, status: &'static str, latency: f64, reason: &str) -> CheckRow {
        CheckRow {
            info: CheckInfo {
                input: HealthCheckInput {
                    id: id.into(),
                    kind: "http".into(),
                    ip: Some("127.0.0.1".into()),
                    fqdn: None,
                    port: Some(80),
                    path: None,
                    host: None,
                    sni: None,
                    search: None,
                    interval: None,
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
                id,
                status == "healthy",
                None,
                vec![fixtures::result(
                    humantime::parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
                    status == "healthy",
                    reason,
                    latency,
                )],
            )),
        }
    }

    fn ids(rows: &[&CheckRow]) -> Vec<String> {
        rows.iter().map(|r| r.id().to_string()).collect()
    }

    #[test]
    fn filter_by_text_and_state_and_sort_by_any_column() {
        let rows = [
            row("b", "healthy", 5.0, "HTTP 200"),
            row("a", "unhealthy", 1.0, "HTTP 503"),
            row("c", "healthy", 9.0, "HTTP 200"),
        ];
        let p = |q: &str, state: &str, sort: &str, dir: &str| Params {
            q: q.into(),
            state: state.into(),
            sort: sort.into(),
            dir: dir.into(),
        };
        assert_eq!(
            ids(&select(&rows, &p("", "", "", ""))),
            ["a", "b", "c"],
            "unhealthy first"
        );
        assert_eq!(
            ids(&select(&rows, &p("", "healthy", "check", ""))),
            ["b", "c"]
        );
        assert_eq!(
            ids(&select(&rows, &p("503", "", "", ""))),
            ["a"],
            "by reason"
        );
        assert_eq!(
            ids(&select(&rows, &p("", "", "latency", ""))),
            ["c", "b", "a"]
        );
        assert_eq!(
            ids(&select(&rows, &p("", "", "latency", "asc"))),
            ["a", "b", "c"]
        );
        assert_eq!(
            ids(&select(&rows, &p("", "", "check", "desc"))),
            ["c", "b", "a"]
        );
        assert_eq!(
            ids(&select(&rows, &p("", "", "nonsense", "up"))),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn the_table_escapes_user_values_and_labels_every_control() {
        let rows = [row(
            "<img src=x>",
            "unhealthy",
            1.0,
            "\"><script>x</script>",
        )];
        let html = render(&rows, &Params::default(), SystemTime::now());
        assert!(html.contains("&lt;img src=x&gt;"));
        assert!(!html.contains("<img"));
        assert!(!html.contains("<script>"));
        let hostile = Params {
            q: "\"><b>".into(),
            ..Params::default()
        };
        assert!(!render(&rows, &hostile, SystemTime::now()).contains("<b>"));
        assert!(html.contains(r#"href="/checks/%3Cimg%20src%3Dx%3E""#));
        assert!(html.contains(r#"<label for="filter-q">"#));
        assert!(html.contains(r#"<label for="filter-state">"#));
        assert!(html.contains(r#"aria-sort="ascending""#));
        assert!(html.contains("<caption>"));
    }
}
