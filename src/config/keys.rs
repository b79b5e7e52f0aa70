//! The `[[tsig_key]]` tables, read by the same `tsig` and `update` rules
//! as the keys the API makes (`service::keys`).

use domain::base::ToName;

use super::cx::Cx;
use super::parse_absolute;
use super::raw::RawTsigKey;
use crate::tsig::TsigKey;

impl Cx<'_> {
    /// The `[[tsig_key]]` tables: each named once, with a known algorithm
    /// (HMAC-MD5 refused) and exactly one of `secret` and `secret_file`.
    pub(super) fn tsig_keys(&mut self, raws: Vec<RawTsigKey>) -> Vec<TsigKey> {
        let mut out: Vec<TsigKey> = Vec::new();
        for raw in raws {
            let label = raw.name.get_ref().clone();
            let name = match parse_absolute(&label) {
                Ok(n) => n,
                Err(msg) => {
                    self.error(raw.name.span(), format!("tsig_key {label:?}: {msg}"));
                    continue;
                }
            };
            if out.iter().any(|k| k.name.name_eq(&name)) {
                self.error(
                    raw.name.span(),
                    format!("tsig_key {label:?} is declared twice"),
                );
                continue;
            }
            let algorithm = match &raw.algorithm {
                None => crate::tsig::DEFAULT_ALGORITHM,
                Some(a) => match crate::tsig::parse_algorithm(a.get_ref()) {
                    Ok(a) => a,
                    Err(msg) => {
                        self.error(a.span(), format!("tsig_key {label:?}: {msg}"));
                        continue;
                    }
                },
            };
            let (text, span) = match (&raw.secret, &raw.secret_file) {
                (Some(s), None) => (s.get_ref().clone(), s.span()),
                (None, Some(f)) => {
                    let path = self.resolve(f.get_ref());
                    match std::fs::read_to_string(&path) {
                        Ok(t) => (t, f.span()),
                        Err(e) => {
                            self.error(
                                f.span(),
                                format!(
                                    "tsig_key {label:?}: cannot read secret_file {}: {e}",
                                    path.display()
                                ),
                            );
                            continue;
                        }
                    }
                }
                _ => {
                    self.error(
                        raw.name.span(),
                        format!(
                            "tsig_key {label:?}: give the secret either inline (secret) or in a file (secret_file), not both or neither"
                        ),
                    );
                    continue;
                }
            };
            let mut update = Vec::new();
            for rule in &raw.update {
                let r = rule.get_ref();
                match crate::update::UpdateRule::parse(&r.name, &r.types) {
                    Ok(rule) => update.push(rule),
                    Err(msg) => self.error(rule.span(), format!("tsig_key {label:?}: {msg}")),
                }
            }
            match crate::tsig::parse_secret(&text) {
                Ok(secret) => out.push(TsigKey {
                    name,
                    algorithm,
                    secret,
                    update,
                }),
                Err(msg) => self.error(span, format!("tsig_key {label:?}: {msg}")),
            }
        }
        out
    }
}
