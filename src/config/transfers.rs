//! Zone transfers both ways: who may transfer a zone from this server
//! and whom it notifies (`[server]` and each `[[zone]]`), and where a
//! secondary zone transfers from.

use domain::base::ToName;
use toml::Spanned;

use super::cx::Cx;
use super::parse_absolute;
use super::raw::{RawPrimaries, RawRule};
use crate::model::DName;
use crate::tsig::TsigKey;
use crate::xfr::acl::{
    NEEDS_FROM_OR_KEY, not_a_notify_address, not_a_prefix, parse_prefix, parse_server,
};
use crate::xfr::{Rule, Transfers};

impl Cx<'_> {
    /// One `allow_transfer` list and one `notify` list (of `what`: the
    /// server or a zone).
    pub(super) fn transfers(
        &mut self,
        what: &str,
        allow: Option<Vec<Spanned<RawRule>>>,
        (notify, notify_key): (Option<Vec<Spanned<String>>>, Option<Spanned<String>>),
        keys: &[TsigKey],
    ) -> Transfers {
        let mut out = Transfers::default();
        for rule in allow.unwrap_or_default() {
            let span = rule.span();
            let rule = rule.into_inner();
            let from = match &rule.from {
                None => None,
                Some(f) => match parse_prefix(f.get_ref()) {
                    Some(net) => Some(net),
                    None => {
                        self.error(f.span(), format!("{what}: {}", not_a_prefix(f.get_ref())));
                        continue;
                    }
                },
            };
            let key = match &rule.key {
                None => None,
                Some(k) => match self.declared_key(k, &format!("{what}: allow_transfer"), keys) {
                    Some(name) => Some(name),
                    None => continue,
                },
            };
            if from.is_none() && key.is_none() {
                self.error(span, format!("{what}: {NEEDS_FROM_OR_KEY}"));
                continue;
            }
            out.allow.push(Rule { from, key });
        }
        if let Some(k) = &notify_key {
            out.notify_key = self.declared_key(k, &format!("{what}: notify_key"), keys);
        }
        for n in notify.unwrap_or_default() {
            let text = n.get_ref();
            match parse_server(text) {
                Some(a) => out.notify.push(a),
                None => self.error(n.span(), format!("{what}: {}", not_a_notify_address(text))),
            }
        }
        out
    }

    /// The `primaries` and `primary_key` of the zone at `apex`.
    pub(super) fn secondary(
        &mut self,
        apex: &DName,
        (primaries, key): RawPrimaries,
        keys: &[TsigKey],
    ) -> Option<crate::xfr::secondary::Secondary> {
        let what = format!("zone {apex}");
        let Some(primaries) = primaries else {
            let span = key.as_ref().map_or(0..0, Spanned::span);
            self.error(
                span,
                format!("{what}: primary_key without primaries; list the primaries to transfer the zone from, such as primaries = [\"192.0.2.1\"]"),
            );
            return None;
        };
        if primaries.get_ref().is_empty() {
            self.error(
                primaries.span(),
                format!("{what}: primaries is empty; give at least one address such as \"192.0.2.1\" or \"192.0.2.1:5353\""),
            );
            return None;
        }
        let mut addrs = Vec::new();
        for p in primaries.into_inner() {
            let text = p.get_ref();
            match parse_server(text) {
                Some(a) => addrs.push(a),
                None => self.error(
                    p.span(),
                    format!("{what}: primaries: {text:?} is not an address such as \"192.0.2.1\" or \"[2001:db8::1]:5353\""),
                ),
            }
        }
        let key = match &key {
            None => None,
            Some(k) => Some(self.declared_key(k, &format!("{what}: primary_key"), keys)?),
        };
        Some(crate::xfr::secondary::Secondary {
            zone: apex.clone(),
            primaries: addrs,
            key,
        })
    }

    /// The name of a declared `[[tsig_key]]` given in `field`, or `None`
    /// after an error saying no such key is declared.
    fn declared_key(
        &mut self,
        k: &Spanned<String>,
        field: &str,
        keys: &[TsigKey],
    ) -> Option<DName> {
        match parse_absolute(k.get_ref()) {
            Ok(name) if keys.iter().any(|t| t.name.name_eq(&name)) => Some(name),
            _ => {
                self.error(
                    k.span(),
                    format!(
                        "{field}: no tsig_key is named {:?}; declare it with [[tsig_key]]",
                        k.get_ref()
                    ),
                );
                None
            }
        }
    }
}
