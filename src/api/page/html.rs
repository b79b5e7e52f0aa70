//! The few pieces every page is made of: escaping, URLs, times, and the
//! frame around each page's content.
//!
//! Every value that comes from a user (zone names, check ids, reasons,
//! record values, query strings) reaches the HTML through [`esc`] or
//! [`href`]; the views never write one raw.

use std::fmt::{self, Display, Write};
use std::time::{Duration, SystemTime};

use crate::api::words;

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(text: &str) -> Escaped<'_> {
    Escaped(text)
}

/// Text that writes itself HTML-escaped.
pub struct Escaped<'a>(&'a str);

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// Percent-encodes one path segment or query value: everything but
/// RFC 3986's unreserved characters, so `/`, `?`, `#`, `&` and spaces in
/// a check id stay inside it.
pub fn pct(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A page's URL from its path and query pairs (empty values left out),
/// ready for an `href` (still to be escaped by the caller with [`esc`]).
pub fn href(path: &str, query: &[(&str, &str)]) -> String {
    let pairs: Vec<String> = query
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect();
    if pairs.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

/// The link to a check's page.
pub fn check_href(id: &str) -> String {
    format!("/checks/{}", pct(id))
}

/// `12:04:05`: the time of day of `t`, UTC.
pub fn clock(t: SystemTime) -> String {
    let full = humantime::format_rfc3339_seconds(t).to_string();
    full.get(11..19).unwrap_or(&full).to_string()
}

/// How long ago, in words a person reads at a glance.
pub fn ago(then: SystemTime, now: SystemTime) -> String {
    let secs = now.duration_since(then).unwrap_or(Duration::ZERO).as_secs();
    match secs {
        0..=59 => format!("{secs} s ago"),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// A `<time>` element for `t`: the clock, the date in its title (both
/// as [`words::time`] writes it, as the JSON API shows it), and how long
/// ago.
pub fn time_el(t: SystemTime, now: SystemTime) -> String {
    let text = words::time(t);
    format!(
        r#"<time datetime="{text}" title="{text}">{} UTC</time> <span class="ago">({})</span>"#,
        clock(t),
        ago(t, now)
    )
}

/// The pages of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `/`.
    Overview,
    /// `/checks` and `/checks/{id}`.
    Checks,
    /// `/names`.
    Names,
    /// `/login`: no navigation.
    Login,
}

/// What the frame needs besides the content.
pub struct Frame<'a> {
    /// The `<title>`, before " · eightfold".
    pub title: &'a str,
    /// The section, marked current in the navigation.
    pub section: Section,
    /// Whether to offer "Sign out" (a session is in use).
    pub signed_in: bool,
    /// When the page was rendered.
    pub now: SystemTime,
}

/// The whole document around `content`: head (stylesheet, script, no
/// inline code), skip link, navigation, live status, main.
pub fn page(frame: &Frame<'_>, content: &str) -> String {
    let mut out = String::with_capacity(content.len() + 2048);
    let _ = write!(
        out,
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · eightfold</title>
<link rel="stylesheet" href="/assets/page.css">
<link rel="icon" href="/assets/icon.svg" type="image/svg+xml">
<script src="/assets/page.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<p class="brand"><a href="/">eightfold</a></p>
"##,
        title = esc(frame.title)
    );
    if frame.section != Section::Login {
        out.push_str(r#"<nav aria-label="Sections"><ul>"#);
        for (section, path, label) in [
            (Section::Overview, "/", "Overview"),
            (Section::Checks, "/checks", "Checks"),
            (Section::Names, "/names", "Names"),
        ] {
            let current = if section == frame.section {
                r#" aria-current="page""#
            } else {
                ""
            };
            let _ = write!(out, r#"<li><a href="{path}"{current}>{label}</a></li>"#);
        }
        out.push_str("</ul></nav>");
        let rendered = humantime::format_rfc3339_seconds(frame.now).to_string();
        let _ = write!(
            out,
            r#"<p id="live-status" class="live-status">Rendered <time datetime="{rendered}">{} UTC</time></p>"#,
            clock(frame.now)
        );
        if frame.signed_in {
            out.push_str(
                r#"<form class="signout" method="post" action="/logout"><button type="submit">Sign out</button></form>"#,
            );
        }
    }
    let _ = write!(
        out,
        "\n</header>\n<main id=\"main\" tabindex=\"-1\">\n{content}\n</main>\n</body>\n</html>\n"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#).to_string(),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(esc("plain").to_string(), "plain");
        assert_eq!(esc("é<").to_string(), "é&lt;");
    }

    #[test]
    fn ids_stay_one_path_segment_and_queries_drop_empty_values() {
        assert_eq!(check_href("web-1"), "/checks/web-1");
        assert_eq!(check_href("a/b?c#d e"), "/checks/a%2Fb%3Fc%23d%20e");
        assert_eq!(check_href("é"), "/checks/%C3%A9");
        assert_eq!(
            href("/checks", &[("q", "a&b"), ("state", ""), ("sort", "id")]),
            "/checks?q=a%26b&sort=id"
        );
        assert_eq!(href("/names", &[]), "/names");
    }

    #[test]
    fn times_read_as_clock_and_age() {
        let t = humantime::parse_rfc3339("2026-11-25T12:04:05.123Z").unwrap();
        assert_eq!(clock(t), "12:04:05");
        assert_eq!(ago(t, t + Duration::from_secs(5)), "5 s ago");
        assert_eq!(ago(t, t + Duration::from_secs(150)), "2 min ago");
        assert_eq!(ago(t, t + Duration::from_secs(7200)), "2 h ago");
        assert_eq!(ago(t + Duration::from_secs(9), t), "0 s ago");
        assert_eq!(
            time_el(t, t + Duration::from_secs(5)),
            r#"<time datetime="2026-11-25T12:04:05.123Z" title="2026-11-25T12:04:05.123Z">12:04:05 UTC</time> <span class="ago">(5 s ago)</span>"#
        );
    }

    #[test]
    fn the_frame_escapes_the_title_and_marks_the_current_section() {
        let frame = Frame {
            title: "Check <x>",
            section: Section::Checks,
            signed_in: true,
            now: SystemTime::UNIX_EPOCH,
        };
        let html = page(&frame, "<p>body</p>");
        assert!(html.contains("<title>Check &lt;x&gt; · eightfold</title>"));
        assert!(html.contains(r#"<a href="/checks" aria-current="page">"#));
        assert!(html.contains(r#"action="/logout""#));
        assert!(!html.contains("<script>"), "no inline script");
        let login = page(
            &Frame {
                section: Section::Login,
                signed_in: false,
                ..frame
            },
            "",
        );
        assert!(!login.contains("<nav"));
    }
}
