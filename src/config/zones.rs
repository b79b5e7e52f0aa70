//! The `[[zone]]` tables: their files read on every core, then each
//! zone's records, secondary settings and own transfer rules checked, then
//! every zone validated on every core.

use std::collections::HashSet;
use std::ops::Range;

use super::cx::Cx;
use super::parse_absolute;
use super::raw::{RawRecord, RawZone};
use super::sources::{Parsed, built};
use crate::diag::Diagnostic;
use crate::model::{DName, RecordSpec, ZoneSpec};
use crate::nameservers::NameServer;
use crate::tsig::TsigKey;
use crate::xfr::Settings as XfrSettings;
use crate::xfr::secondary::Secondary;
use crate::{validate, zonefile};

impl Cx<'_> {
    /// Every `[[zone]]` table, each with its `primaries` (a secondary)
    /// and its own transfer rules, which go into `transfers`.
    pub(super) fn zones(
        &mut self,
        raws: Vec<RawZone>,
        check_ids: &HashSet<&str>,
        tsig_keys: &[TsigKey],
        transfers: &mut XfrSettings,
        nameservers: &[NameServer],
    ) -> (Vec<ZoneSpec>, Vec<Secondary>) {
        let mut zones: Vec<ZoneSpec> = Vec::new();
        let mut name_spans = Vec::new();
        let jobs: Vec<Option<zonefile::Job<'_>>> = raws
            .iter()
            .map(|z| {
                let apex = parse_absolute(z.name.get_ref()).ok()?;
                let path = self.resolve(z.file.as_ref()?.get_ref());
                // Inline records and primaries are not in the file: such
                // a zone is always read again.
                // So is one that may take an in-zone name server given
                // without addresses: whether it addresses it is in its
                // records.
                let unaddressed = nameservers.iter().any(|s| {
                    s.addresses.is_empty() && s.name.as_ref().is_some_and(|n| n.ends_with(&apex))
                });
                let known = (z.record.is_empty()
                    && z.primaries.is_none()
                    && z.primary_key.is_none()
                    && !unaddressed)
                    .then(|| self.known.get(&crate::snapshot::name_key(&apex)))
                    .flatten();
                Some((path, apex, known))
            })
            .collect();
        // Zones with [[zone.record]] tables are built with them, later.
        let inline: HashSet<Box<[u8]>> = raws
            .iter()
            .filter(|z| !z.record.is_empty())
            .filter_map(|z| parse_absolute(z.name.get_ref()).ok())
            .map(|apex| crate::snapshot::name_key(&apex))
            .collect();
        let build = self.build;
        let finish = |apex: &DName, records: Vec<RecordSpec>| match build
            && !inline.contains(&crate::snapshot::name_key(apex))
        {
            true => built(apex, records),
            false => Parsed::Records(records),
        };
        let mut loaded = zonefile::load_files(&jobs, &finish).into_iter();
        drop(jobs);
        let mut seen: HashSet<Box<[u8]>> = HashSet::new();
        let mut secondaries = Vec::new();
        for mut z in raws {
            let allow = z.allow_transfer.take();
            let notify = (z.notify.take(), z.notify_key.take());
            let own = allow.is_some() || notify.0.is_some() || notify.1.is_some();
            let file = loaded.next().flatten();
            let primaries = (z.primaries.take(), z.primary_key.take());
            let secondary = primaries.0.is_some() || primaries.1.is_some();
            if secondary && (z.file.is_some() || !z.record.is_empty()) {
                self.error(
                    z.name.span(),
                    format!(
                        "zone {}: a secondary zone (primaries) takes its records from its primaries; remove `file` and its [[zone.record]] tables",
                        z.name.get_ref()
                    ),
                );
                continue;
            }
            let name_span = z.name.span();
            if let Some(zone) = self.zone(z, check_ids, &mut seen, file) {
                if secondary && let Some(s) = self.secondary(&zone.name, primaries, tsig_keys) {
                    secondaries.push(s);
                }
                if own {
                    let what = format!("zone {}", zone.name);
                    let t = self.transfers(&what, allow, notify, tsig_keys);
                    transfers.zones.insert(zone.name.clone(), t);
                }
                zones.push(zone);
                name_spans.push(name_span);
            }
        }
        self.validate_zones(&zones, name_spans);
        (zones, secondaries)
    }

    fn zone(
        &mut self,
        raw: RawZone,
        check_ids: &HashSet<&str>,
        seen: &mut HashSet<Box<[u8]>>,
        loaded: Option<zonefile::Loaded<Parsed>>,
    ) -> Option<ZoneSpec> {
        let apex = match parse_absolute(raw.name.get_ref()) {
            Ok(n) => n,
            Err(msg) => {
                self.error(
                    raw.name.span(),
                    format!("zone name {:?}: {msg}", raw.name.get_ref()),
                );
                return None;
            }
        };
        if !seen.insert(crate::snapshot::name_key(&apex)) {
            self.error(raw.name.span(), format!("zone {apex} is declared twice"));
            return None;
        }
        let mut records = Vec::new();
        if let Some(file) = &raw.file {
            let path = self.resolve(file.get_ref());
            // load_files read every zone with a file and a valid name.
            let loaded = loaded.expect("a zone file read with the others");
            let key = crate::snapshot::name_key(&apex);
            match loaded {
                Ok((read, source)) => {
                    match read {
                        zonefile::Read::Parsed(Parsed::Records(recs)) => records.extend(recs),
                        zonefile::Read::Parsed(Parsed::Built(built)) => {
                            self.sources.built.insert(key.clone(), built);
                        }
                        zonefile::Read::Unchanged => {
                            self.sources.unchanged.insert(key.clone());
                        }
                    }
                    // Only a zone its file alone declares may be kept
                    // as it was at the next reload.
                    // A copy made here: kept for the life of the config,
                    // it must not pin a page among the parser's garbage.
                    if raw.record.is_empty() {
                        self.sources.read.insert(key, source.clone());
                    }
                }
                Err(d) if d.0.len() == 1 && d.0[0].message.starts_with("cannot read zone file") => {
                    let msg = format!("zone {apex}: {}: {}", path.display(), d.0[0].message);
                    self.error(file.span(), msg);
                }
                Err(d) => self.diags.0.extend(d.0),
            }
        }
        for rec in raw.record {
            let span = rec.span();
            if let Some(r) = self.record(&apex, rec.into_inner(), span, check_ids) {
                records.push(r);
            }
        }
        // Validated by the caller, every zone at once on every core.
        Some(ZoneSpec {
            name: apex,
            records,
        })
    }

    /// Reports what [`validate::zone`] finds in `zones` (declared at
    /// `name_spans`), validating them on every core: with 10,000 zone
    /// files this reads every record once more.
    fn validate_zones(&mut self, zones: &[ZoneSpec], name_spans: Vec<Range<usize>>) {
        use rayon::prelude::*;
        let found: Vec<Vec<validate::Problem>> = zones.par_iter().map(validate::zone).collect();
        for (problems, span) in found.into_iter().zip(name_spans) {
            for problem in problems {
                let origin = problem.origin.unwrap_or_else(|| self.origin(span.clone()));
                self.diags.push(Diagnostic {
                    file: origin.file.to_path_buf(),
                    line: origin.line,
                    col: origin.col,
                    message: problem.message,
                });
            }
        }
    }

    fn record(
        &mut self,
        apex: &DName,
        raw: RawRecord,
        span: Range<usize>,
        check_ids: &HashSet<&str>,
    ) -> Option<RecordSpec> {
        let (input, mut spans) = raw.split();
        spans.whole = span.clone();
        match input.to_spec(apex, &|id| check_ids.contains(id)) {
            Ok(mut spec) => {
                spec.origin = Some(self.origin(span));
                Some(spec)
            }
            Err(errors) => {
                self.report(&spans, errors);
                None
            }
        }
    }
}
