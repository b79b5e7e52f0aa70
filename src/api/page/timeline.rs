//! The check page's timeline: the last hour as an inline SVG drawn here,
//! so it shows without JavaScript. A band shows the state DNS followed
//! (from the recorded transitions); above it one mark per probe result,
//! its height the latency, failures drawn full height as crosses so that
//! they differ in shape, not only in colour.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use super::history::{Point, WINDOW};
use super::html::esc;
use crate::store::HealthEvent;

const WIDTH: f64 = 720.0;
const LEFT: f64 = 8.0;
const RIGHT: f64 = 712.0;
const TOP: f64 = 8.0;
const BASE: f64 = 96.0;
const BAND_TOP: f64 = 104.0;
const BAND_HEIGHT: f64 = 14.0;
const HEIGHT: f64 = 124.0;

/// A stretch of time in one state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// From.
    pub from: SystemTime,
    /// Until.
    pub to: SystemTime,
    /// Healthy in DNS's eyes.
    pub healthy: bool,
}

/// The states over `[now - WINDOW, now]` from the transitions in that
/// window (oldest first) and the state now, starting no earlier than what
/// is known: the first result seen (`first_result`) or the first
/// transition. Before that the band stays empty rather than guess.
pub fn band(
    events: &[HealthEvent],
    healthy_now: bool,
    first_result: Option<SystemTime>,
    now: SystemTime,
) -> Vec<Segment> {
    let window_start = now.checked_sub(WINDOW).unwrap_or(SystemTime::UNIX_EPOCH);
    let changes: Vec<(SystemTime, bool, bool)> = events
        .iter()
        .map(|e| (e.at, e.old_healthy, e.new_healthy))
        .filter(|(t, _, _)| *t >= window_start && *t <= now)
        .collect();
    let known = [first_result, changes.first().map(|c| c.0)]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now);
    let start = known.max(window_start);
    let mut out = Vec::new();
    let mut from = start;
    let mut state = changes.first().map_or(healthy_now, |c| c.1);
    for (at, _, new) in changes {
        if at > from && at > start {
            out.push(Segment {
                from,
                to: at,
                healthy: state,
            });
        }
        from = at.max(start);
        state = new;
    }
    out.push(Segment {
        from,
        to: now,
        healthy: healthy_now,
    });
    out
}

fn x_of(t: SystemTime, now: SystemTime) -> f64 {
    let back = now
        .duration_since(t)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64();
    let frac = 1.0 - (back / WINDOW.as_secs_f64()).min(1.0);
    LEFT + frac * (RIGHT - LEFT)
}

/// The figure for check `id`: the SVG, its time axis and caption.
pub fn svg(id: &str, points: &[Point], band: &[Segment], now: SystemTime) -> String {
    let max_ms = points
        .iter()
        .filter(|p| p.healthy && !p.local)
        .map(|p| p.latency_ms)
        .fold(1.0_f64, f64::max);
    let failed = points.iter().filter(|p| !p.healthy && !p.local).count();
    let local = points.iter().filter(|p| p.local).count();
    let down: f64 = band
        .iter()
        .filter(|s| !s.healthy)
        .map(|s| {
            s.to.duration_since(s.from)
                .unwrap_or_default()
                .as_secs_f64()
        })
        .sum();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<figure class="timeline-figure"><svg class="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="tl-title tl-desc">
<title id="tl-title">Results of {id} over the last hour</title>
<desc id="tl-desc">{n} results, {failed} failed, {local} local faults; unhealthy for {down} of the last 60 minutes. Slowest passing result {max_ms:.0} ms.</desc>
"#,
        id = esc(id),
        n = points.len(),
        down = format_minutes(down),
    );
    // Grid: every 15 minutes.
    for q in 0..=4 {
        let x = LEFT + f64::from(q) * (RIGHT - LEFT) / 4.0;
        let _ = write!(
            out,
            r#"<line class="grid" x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{BASE}"/>"#
        );
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LEFT}" y1="{BASE}" x2="{RIGHT}" y2="{BASE}"/>"#
    );
    for s in band {
        let x1 = x_of(s.from, now);
        let x2 = x_of(s.to, now).max(x1 + 0.5);
        let class = if s.healthy { "band-up" } else { "band-down" };
        let _ = write!(
            out,
            r#"<rect class="{class}" x="{x1:.1}" y="{BAND_TOP}" width="{:.1}" height="{BAND_HEIGHT}"/>"#,
            x2 - x1
        );
    }
    for p in points {
        let x = x_of(p.at, now);
        if p.local {
            let _ = write!(
                out,
                r#"<circle class="res-local" cx="{x:.1}" cy="{:.1}" r="2.5"/>"#,
                BASE - 4.0
            );
        } else if p.healthy {
            let h = ((p.latency_ms / max_ms) * (BASE - TOP)).max(2.0);
            let _ = write!(
                out,
                r#"<rect class="res-pass" x="{:.1}" y="{:.1}" width="2" height="{h:.1}"/>"#,
                x - 1.0,
                BASE - h
            );
        } else {
            let _ = write!(
                out,
                r#"<path class="res-fail" d="M{:.1} {TOP}L{:.1} {:.1}M{:.1} {TOP}L{:.1} {:.1}"/>"#,
                x - 3.0,
                x + 3.0,
                TOP + 6.0,
                x + 3.0,
                x - 3.0,
                TOP + 6.0
            );
            let _ = write!(
                out,
                r#"<line class="res-fail" x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{BASE}"/>"#
            );
        }
    }
    // Labels in HTML, not in the drawing: they keep their size when the
    // drawing shrinks to a phone's width.
    let _ = write!(
        out,
        r#"</svg><div class="axis-labels" aria-hidden="true"><span>−60 min</span><span>−45</span><span>−30</span><span>−15</span><span>now</span></div><figcaption>Bar height: latency, the tallest {max_ms:.0} ms.</figcaption></figure>"#
    );
    out
}

fn format_minutes(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.0} s")
    } else {
        format!("{:.0} min", secs / 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(10_000 + s)
    }

    fn event(s: u64, old: bool, new: bool) -> HealthEvent {
        HealthEvent {
            check: "c".into(),
            at: t(s),
            old_healthy: old,
            new_healthy: new,
            reason: String::new(),
        }
    }

    #[test]
    fn the_band_follows_the_transitions_and_ends_in_the_state_now() {
        let now = t(3600);
        let plain = band(&[], true, Some(t(0)), now);
        assert_eq!(plain.len(), 1);
        assert!(plain[0].healthy);
        assert_eq!(plain[0].from, t(0));
        let since_start = band(&[], false, Some(t(3000)), now);
        assert_eq!(
            since_start[0].from,
            t(3000),
            "nothing drawn before the first result"
        );
        assert_eq!(band(&[], true, None, now)[0].from, now);
        let b = band(
            &[event(600, true, false), event(1200, false, true)],
            true,
            Some(t(0)),
            now,
        );
        let states: Vec<bool> = b.iter().map(|s| s.healthy).collect();
        assert_eq!(states, [true, false, true]);
        assert_eq!(b[1].from, t(600));
        assert_eq!(b[1].to, t(1200));
        assert_eq!(b[2].to, now);
    }

    #[test]
    fn the_svg_escapes_the_id_and_draws_each_result() {
        let now = t(3600);
        let points = [
            Point {
                at: t(3500),
                healthy: true,
                local: false,
                latency_ms: 10.0,
            },
            Point {
                at: t(3550),
                healthy: false,
                local: false,
                latency_ms: 1.0,
            },
            Point {
                at: t(3560),
                healthy: false,
                local: true,
                latency_ms: 1.0,
            },
        ];
        let svg = svg("<x>", &points, &band(&[], false, Some(t(0)), now), now);
        assert!(svg.contains("Results of &lt;x&gt; over the last hour"));
        assert!(!svg.contains("<x>"));
        assert_eq!(svg.matches("class=\"res-pass\"").count(), 1);
        assert_eq!(svg.matches("<path class=\"res-fail\"").count(), 1);
        assert_eq!(svg.matches("class=\"res-local\"").count(), 1);
        assert!(svg.contains("class=\"band-down\""));
        assert!(svg.contains("3 results, 1 failed, 1 local faults; unhealthy for 60 min"));
        assert!(
            !svg.contains("style="),
            "no inline style: the CSP forbids it"
        );
    }
}
