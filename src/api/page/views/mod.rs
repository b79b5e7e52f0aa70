//! One module per page: pure functions from gathered data to the HTML of
//! the page's `<main>`. Regions marked `data-live` (each with an id) are
//! the parts the script swaps in when it polls the same URL.

pub mod check;
pub mod checks;
pub mod login;
pub mod names;
pub mod overview;

use std::fmt::Write;
use std::time::SystemTime;

use super::data::{CheckRow, Standing};
use super::html::{esc, time_el};
use crate::api::words;
use crate::store::HealthEvent;

/// The state badge: text first, colour only as a second cue.
pub fn badge(standing: Standing) -> String {
    format!(
        r#"<span class="state state-{}">{}</span>"#,
        if standing.healthy() { "up" } else { "down" },
        standing.words()
    )
}

/// A healthy/unhealthy word as a badge.
pub fn word_badge(healthy: bool) -> String {
    let (class, word) = if healthy {
        ("up", "healthy")
    } else {
        ("down", "unhealthy")
    };
    format!(r#"<span class="state state-{class}">{word}</span>"#)
}

/// `healthy → unhealthy` of a transition from `old` to `new`.
pub fn change(old: bool, new: bool) -> String {
    format!(
        r#"<span class="change">{} → {}</span>"#,
        words::health(old),
        word_badge(new)
    )
}

/// A table of transitions, newest first. `with_check` adds the check
/// column (the overview; a check's own page leaves it out).
pub fn events_table(
    caption: &str,
    events: &[HealthEvent],
    with_check: bool,
    now: SystemTime,
) -> String {
    if events.is_empty() {
        return "<p class=\"empty\">No transition recorded.</p>".into();
    }
    let mut out = format!(
        r#"<table class="data"><caption>{}</caption><thead><tr><th scope="col">When</th>{}<th scope="col">Change</th><th scope="col">Reason</th></tr></thead><tbody>"#,
        esc(caption),
        if with_check {
            r#"<th scope="col">Check</th>"#
        } else {
            ""
        }
    );
    for e in events {
        let _ = write!(
            out,
            r#"<tr><td data-label="When">{}</td>"#,
            time_el(e.at, now)
        );
        if with_check {
            let _ = write!(
                out,
                r#"<td data-label="Check"><a href="{}">{}</a></td>"#,
                esc(&super::html::check_href(&e.check)),
                esc(&e.check)
            );
        }
        let _ = write!(
            out,
            r#"<td data-label="Change">{}</td><td data-label="Reason" class="reason">{}</td></tr>"#,
            change(e.old_healthy, e.new_healthy),
            esc(&e.reason)
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// Latency as people read it.
pub fn latency(ms: Option<f64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) if ms < 10.0 => format!("{ms:.1} ms"),
        Some(ms) => format!("{ms:.0} ms"),
    }
}

/// The rows' count per standing key, in [`Standing::KEYS`] order.
pub fn counts(rows: &[CheckRow]) -> [(&'static str, usize); 4] {
    Standing::KEYS.map(|k| (k, rows.iter().filter(|r| r.standing().key() == k).count()))
}
