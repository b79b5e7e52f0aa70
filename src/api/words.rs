//! How the APIs and the status page spell the service's domain values:
//! one spelling each, whether the JSON API, Route 53's XML or a page
//! shows it.

use std::time::SystemTime;

use crate::health::ProbeResult;
use crate::service::{ChangeStatus, ManagedBy};

/// A time as RFC 3339 in UTC with milliseconds (`2026-11-25T12:04:05.123Z`):
/// every time the JSON API, Route 53's XML and the page's `<time>`
/// elements show.
pub fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// `healthy` or `unhealthy`, as the checker's log lines say it.
pub fn health(healthy: bool) -> &'static str {
    crate::health::state::word(healthy)
}

/// Who manages a zone or check: `file`, `secondary` or `api`.
pub fn managed_by(m: ManagedBy) -> &'static str {
    match m {
        ManagedBy::File => "file",
        ManagedBy::Secondary => "secondary",
        ManagedBy::Api => "api",
    }
}

/// Where a TSIG key comes from: `config` (the config file) or `api`. Not
/// [`managed_by`]'s `file`: the key list said `config` first, and clients
/// read it so.
pub fn key_source(m: ManagedBy) -> &'static str {
    match m {
        ManagedBy::File | ManagedBy::Secondary => "config",
        ManagedBy::Api => "api",
    }
}

/// Route 53's ChangeInfo status, which the JSON API reports too:
/// `INSYNC` or `PENDING`.
pub fn change_status(s: ChangeStatus) -> &'static str {
    match s {
        ChangeStatus::InSync => "INSYNC",
        ChangeStatus::Pending => "PENDING",
    }
}

/// How long a probe took, in (fractional) milliseconds.
pub fn latency_ms(r: &ProbeResult) -> f64 {
    r.latency.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_have_milliseconds_and_states_their_words() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        assert_eq!(time(t), "2026-11-18T11:06:40.123Z");
        assert_eq!((health(true), health(false)), ("healthy", "unhealthy"));
        assert_eq!(key_source(ManagedBy::File), "config");
        assert_eq!(managed_by(ManagedBy::Secondary), "secondary");
        assert_eq!(change_status(ChangeStatus::InSync), "INSYNC");
    }
}
