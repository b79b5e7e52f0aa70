//! The master-file parser, then what a loaded file goes through next: the
//! SPEC §3 validator and, when it passes, the snapshot builder and one
//! query per record.
#![no_main]

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use domain::base::MessageBuilder;
use domain::base::iana::Rtype;
use eightfold::dns::handler::{Published, Transport};
use eightfold::health::HealthTable;
use eightfold::model::{DName, ZoneSpec};
use eightfold::snapshot::Snapshot;
use libfuzzer_sys::fuzz_target;

fn apex() -> &'static DName {
    static APEX: OnceLock<DName> = OnceLock::new();
    APEX.get_or_init(|| DName::from_str("example.test.").unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(records) = eightfold::zonefile::parse_text(Path::new("fuzz.zone"), text, apex()) else {
        return;
    };
    let spec = ZoneSpec {
        name: apex().clone(),
        records,
    };
    if !eightfold::validate::zone(&spec).is_empty() {
        return;
    }
    let published = Published {
        snapshot: Snapshot::build(std::slice::from_ref(&spec), &|_| None, 1),
        health: Arc::new(HealthTable::new([])),
        ..Default::default()
    };
    for (i, r) in spec.records.iter().enumerate().take(16) {
        for qtype in [r.rtype, Rtype::ANY] {
            let mut msg = MessageBuilder::new_vec();
            msg.header_mut().set_id(i as u16);
            let mut q = msg.question();
            if q.push((&r.owner, qtype)).is_err() {
                continue;
            }
            let query = q.into_message().into_octets();
            eightfold_fuzz::check(&published, &query, Transport::Udp);
        }
    }
});
