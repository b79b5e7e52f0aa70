//! `/names`: every routed name, each record of its group with the check
//! behind it and whether it is in the answer now and why (the service's
//! own explanation), and answers sampled from the DNS answer path.

use std::fmt::Write;

use serde::Deserialize;

use super::word_badge;
use crate::api::page::data::{NameView, answer_data, carries};
use crate::api::page::html::{check_href, esc};
use crate::service::TestAnswer;

/// Most names one page shows: each costs a few answers per refresh.
pub const MAX_NAMES: usize = 50;
/// Answers sampled per name.
pub const SAMPLES: usize = 5;

/// The page's query string.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Params {
    /// Text searched in the routed names.
    #[serde(default)]
    pub q: String,
    /// A name to ask about.
    #[serde(default)]
    pub ask: String,
    /// Its type (default A).
    #[serde(default, rename = "type")]
    pub rtype: String,
}

/// The outcome of the ask box.
pub enum Asked {
    /// Nothing asked.
    Nothing,
    /// The answers.
    Answers(TestAnswer, Vec<Vec<String>>),
    /// The question was not valid.
    Invalid(String),
}

/// What the names page shows.
pub struct NamesPage<'a> {
    /// The query.
    pub params: &'a Params,
    /// The names shown (at most [`MAX_NAMES`]).
    pub names: &'a [NameView],
    /// How many routed names match the filter.
    pub matched: usize,
    /// How many routed names there are.
    pub total: usize,
    /// The ask box's result.
    pub asked: &'a Asked,
}

/// The page's main content.
pub fn render(p: &NamesPage<'_>) -> String {
    let mut out = String::from("<h1>Names</h1>\n");
    out.push_str(&ask_box(p.params));
    out.push_str(r#"<div id="ask-result" data-live>"#);
    match p.asked {
        Asked::Nothing => {}
        Asked::Invalid(why) => {
            let _ = write!(out, r#"<p class="error" role="alert">{}</p>"#, esc(why));
        }
        Asked::Answers(answer, samples) => {
            let _ = write!(
                out,
                r#"<h3>{} {} <span class="rcode">{}</span></h3>"#,
                esc(&answer.name),
                answer.rtype,
                esc(&answer.rcode)
            );
            out.push_str(&samples_list(samples, "ask"));
        }
    }
    out.push_str("</div></section>");
    let _ = write!(
        out,
        r#"<section aria-labelledby="h-routed"><h2 id="h-routed">Routed names</h2>
<form id="name-filter" class="filter" method="get" action="/names" role="search" aria-label="Filter the routed names">
<div class="field"><label for="filter-names">Filter</label><input id="filter-names" name="q" type="search" value="{}" placeholder="name or zone" autocomplete="off"></div>
<button type="submit">Apply</button>
</form>
<div id="names-list" data-live>"#,
        esc(&p.params.q)
    );
    let _ = write!(
        out,
        r#"<p class="summary">{} of {} routed names match{}.</p>"#,
        p.matched,
        p.total,
        if p.matched > p.names.len() {
            format!(
                "; the first {} are shown, narrow the filter for others",
                p.names.len()
            )
        } else {
            String::new()
        }
    );
    for (i, name) in p.names.iter().enumerate() {
        out.push_str(&name_section(i, name));
    }
    out.push_str("</div></section>");
    out
}

fn ask_box(p: &Params) -> String {
    let rtype = if p.rtype.is_empty() { "A" } else { &p.rtype };
    format!(
        r#"<section aria-labelledby="h-ask" class="ask"><h2 id="h-ask">What does DNS answer?</h2>
<p>Asked {SAMPLES} times through the same code that answers queries, so random choices show.</p>
<form id="ask" class="filter" method="get" action="/names">
<div class="field"><label for="ask-name">Name</label><input id="ask-name" name="ask" type="text" value="{}" placeholder="www.example.test" required autocomplete="off"></div>
<div class="field"><label for="ask-type">Type</label><input id="ask-type" name="type" type="text" value="{}" size="6" autocomplete="off"></div>
<input type="hidden" name="q" value="{}">
<button type="submit">Ask</button>
</form>
"#,
        esc(&p.ask),
        esc(rtype),
        esc(&p.q)
    )
}

fn samples_list(samples: &[Vec<String>], what: &str) -> String {
    let mut out = format!(
        r#"<ol class="samples" aria-label="{} sampled answers{}">"#,
        samples.len(),
        if what == "ask" { "" } else { " for this name" }
    );
    for s in samples {
        if s.is_empty() {
            out.push_str(r#"<li><span class="empty">no records</span></li>"#);
            continue;
        }
        let values: Vec<String> = s.iter().map(|l| esc(answer_data(l)).to_string()).collect();
        let _ = write!(
            out,
            r#"<li><code title="{}">{}</code></li>"#,
            esc(&s.join("\n")),
            values.join(", ")
        );
    }
    out.push_str("</ol>");
    out
}

fn name_section(i: usize, n: &NameView) -> String {
    let a = &n.answer;
    let mut out = format!(
        r#"<section class="name" data-name="{name}" data-type="{rtype}" aria-labelledby="name-{i}"><h3 id="name-{i}"><code>{name}</code> {rtype} <span class="policy">{routing}</span></h3>"#,
        name = esc(&n.routed.name),
        rtype = n.routed.rtype,
        routing = n.routed.routing.as_str(),
    );
    let _ = write!(
        out,
        r#"<table class="data"><caption>Records of {} {} and whether each is in the answer now</caption><thead><tr><th scope="col">Set</th><th scope="col">Value</th><th scope="col">Check</th><th scope="col">In the answer</th><th scope="col">Why</th><th scope="col" class="num">Seen</th></tr></thead><tbody>"#,
        esc(&n.routed.name),
        n.routed.rtype
    );
    for r in &a.records {
        let set = r.set.as_deref().unwrap_or("—");
        let mut role = String::new();
        if let Some(w) = r.weight {
            let _ = write!(role, r#"<span class="sub">weight {w}</span>"#);
        }
        if let Some(f) = r.failover {
            let _ = write!(role, r#"<span class="sub">{}</span>"#, f.as_str());
        }
        let check = match &r.health_check {
            Some(id) => format!(
                r#"<a href="{}">{}</a> {}"#,
                esc(&check_href(id)),
                esc(id),
                word_badge(r.healthy)
            ),
            None => "none".into(),
        };
        let seen = n
            .samples
            .iter()
            .filter(|s| s.iter().any(|l| r.values.iter().any(|v| carries(l, v))))
            .count();
        let (yes, word) = if r.eligible {
            ("yes", "yes")
        } else {
            ("no", "no")
        };
        let _ = write!(
            out,
            r#"<tr data-set="{set}" data-in="{yes}"><th scope="row" data-label="Set">{set}{role}</th><td data-label="Value"><code>{values}</code></td><td data-label="Check">{check}</td><td data-label="In the answer" class="in-answer"><span class="in in-{yes}">{word}</span></td><td data-label="Why" class="reason">{why}</td><td data-label="Seen" class="num">{seen} of {total}</td></tr>"#,
            set = esc(set),
            values = r
                .values
                .iter()
                .map(|v| esc(v).to_string())
                .collect::<Vec<_>>()
                .join(", "),
            why = esc(&r.why),
            total = n.samples.len(),
        );
    }
    out.push_str("</tbody></table>");
    let _ = write!(
        out,
        r#"<div class="answers"><p>What DNS answers now ({}): </p>{}</div></section>"#,
        esc(&a.rcode),
        samples_list(&n.samples, "name")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Policy;
    use crate::service::{RecordExplanation, RoutedName};
    use domain::base::iana::Rtype;

    fn view() -> NameView {
        let rec = |set: &str, value: &str, eligible: bool| RecordExplanation {
            set: Some(set.into()),
            values: vec![value.into()],
            ttl: 60,
            health_check: Some(format!("{set}<")),
            healthy: eligible,
            eligible,
            why: if eligible {
                "healthy".into()
            } else {
                "unhealthy".into()
            },
            weight: None,
            failover: None,
        };
        NameView {
            routed: RoutedName {
                zone: "x.test.".into(),
                name: "www.x.test.".into(),
                rtype: Rtype::A,
                routing: Policy::Multivalue,
            },
            answer: TestAnswer {
                name: "www.x.test.".into(),
                rtype: Rtype::A,
                rcode: "NOERROR".into(),
                answer: vec!["www.x.test. 60 IN A 192.0.2.1".into()],
                routing: Some(Policy::Multivalue),
                records: vec![rec("a", "192.0.2.1", true), rec("b", "192.0.2.2", false)],
            },
            samples: vec![vec!["www.x.test. 60 IN A 192.0.2.1".into()]; 3],
        }
    }

    #[test]
    fn each_record_says_if_it_is_in_the_answer_why_and_how_often_seen() {
        let names = [view()];
        let html = render(&NamesPage {
            params: &Params::default(),
            names: &names,
            matched: 1,
            total: 1,
            asked: &Asked::Nothing,
        });
        assert!(html.contains(r#"<tr data-set="a" data-in="yes">"#));
        assert!(html.contains(r#"<tr data-set="b" data-in="no">"#));
        assert!(html.contains("3 of 3"));
        assert!(html.contains("0 of 3"));
        assert!(html.contains(r#"href="/checks/a%3C">a&lt;</a>"#));
        assert!(html.contains("<code title=\"www.x.test. 60 IN A 192.0.2.1\">192.0.2.1</code>"));
        assert!(html.contains(r#"<label for="ask-name">"#));
    }
}
