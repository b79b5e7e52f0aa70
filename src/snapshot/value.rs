//! One record value as a snapshot keeps it: addresses inline, every other
//! type boxed.
//!
//! Why not [`RData`] itself: `domain`'s `ZoneRecordData` is an enum as
//! large as its largest variant (144 bytes), so a million A records cost
//! 144 MiB in values alone. Addresses are by far the most common values
//! and fit in 16 bytes; this type is 24 bytes, and other types pay one
//! pointer more than before. It composes exactly as the `RData` it was
//! made from, so answers, transfers and serial fingerprints are unchanged.

use std::fmt;

use domain::base::iana::Rtype;
use domain::base::rdata::{ComposeRecordData, RecordData};
use domain::base::wire::Composer;
use domain::rdata::{A, Aaaa};

use crate::model::RData;

/// A record value: A and AAAA inline, anything else behind a box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An IPv4 address.
    A(A),
    /// An IPv6 address.
    Aaaa(Aaaa),
    /// Any other type, as parsed.
    Other(Box<RData>),
}

impl Value {
    /// The value as `RData` when it is not an address (the types whose
    /// data the answer path looks into: CNAME, DNAME, NS, MX, SRV, SOA).
    pub fn other(&self) -> Option<&RData> {
        match self {
            Value::Other(data) => Some(data),
            _ => None,
        }
    }

    /// The value as the `RData` it was made from (a copy, for reads off
    /// the answer path: the API, tests).
    pub fn to_rdata(&self) -> RData {
        match self {
            Value::A(a) => RData::A(a.clone()),
            Value::Aaaa(a) => RData::Aaaa(a.clone()),
            Value::Other(data) => (**data).clone(),
        }
    }
}

impl From<RData> for Value {
    fn from(data: RData) -> Value {
        match data {
            RData::A(a) => Value::A(a),
            RData::Aaaa(a) => Value::Aaaa(a),
            other => Value::Other(Box::new(other)),
        }
    }
}

impl From<&RData> for Value {
    /// A value of its own: names and octets are copied, not shared with
    /// `data`. Why: parsed values share buffers allocated by the parsing
    /// thread; a few kept alive would pin those pages long after the
    /// parsed records are dropped (BENCHMARKS.md, issue 14).
    fn from(data: &RData) -> Value {
        match data {
            RData::A(a) => Value::A(a.clone()),
            RData::Aaaa(a) => Value::Aaaa(a.clone()),
            other => Value::Other(Box::new(copied(other))),
        }
    }
}

/// `data` in buffers of its own.
fn copied(data: &RData) -> RData {
    use domain::dep::octseq::OctetsFrom;
    type Owned = domain::rdata::ZoneRecordData<Vec<u8>, domain::base::Name<Vec<u8>>>;
    let Ok(owned) = Owned::try_octets_from(data.clone());
    let Ok(copy) = RData::try_octets_from(owned);
    copy
}

impl RecordData for Value {
    fn rtype(&self) -> Rtype {
        match self {
            Value::A(_) => Rtype::A,
            Value::Aaaa(_) => Rtype::AAAA,
            Value::Other(data) => data.rtype(),
        }
    }
}

impl ComposeRecordData for Value {
    fn rdlen(&self, compress: bool) -> Option<u16> {
        match self {
            Value::A(a) => a.rdlen(compress),
            Value::Aaaa(a) => a.rdlen(compress),
            Value::Other(data) => data.rdlen(compress),
        }
    }

    fn compose_rdata<Target: Composer + ?Sized>(
        &self,
        target: &mut Target,
    ) -> Result<(), Target::AppendError> {
        match self {
            Value::A(a) => a.compose_rdata(target),
            Value::Aaaa(a) => a.compose_rdata(target),
            Value::Other(data) => data.compose_rdata(target),
        }
    }

    fn compose_canonical_rdata<Target: Composer + ?Sized>(
        &self,
        target: &mut Target,
    ) -> Result<(), Target::AppendError> {
        match self {
            Value::A(a) => a.compose_canonical_rdata(target),
            Value::Aaaa(a) => a.compose_canonical_rdata(target),
            Value::Other(data) => data.compose_canonical_rdata(target),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::A(a) => a.fmt(f),
            Value::Aaaa(a) => a.fmt(f),
            Value::Other(data) => data.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// Every value composes, displays and reports its type exactly as the
    /// `RData` it was made from.
    #[test]
    fn a_value_is_its_rdata_on_the_wire_and_in_text() {
        let apex = crate::model::DName::from_str("example.test.").unwrap();
        let text = "a 60 A 192.0.2.1\naaaa 60 AAAA 2001:db8::1\nc 60 CNAME a\n\
                    mx 60 MX 10 a\ntxt 60 TXT \"hello\" \"world\"\n\
                    srv 60 SRV 1 2 3 a\nd 60 DNAME other.test.\n\
                    caa 60 CAA 0 issue \"ca.test\"\nptr 60 PTR a\n";
        let records =
            crate::zonefile::parse_text(std::path::Path::new("t.zone"), text, &apex).unwrap();
        assert_eq!(records.len(), 9);
        for r in &records {
            let data = &r.values[0];
            let value = Value::from(data);
            assert_eq!(value.rtype(), data.rtype());
            assert_eq!(value.to_string(), data.to_string());
            assert_eq!(value.to_rdata(), *data);
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            value.compose_len_rdata(&mut ours).unwrap();
            data.compose_len_rdata(&mut theirs).unwrap();
            assert_eq!(ours, theirs, "{}", r.rtype);
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            value.compose_canonical_rdata(&mut ours).unwrap();
            data.compose_canonical_rdata(&mut theirs).unwrap();
            assert_eq!(ours, theirs, "{}", r.rtype);
        }
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }
}
