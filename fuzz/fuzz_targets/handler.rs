//! The query handler, bytes in, bytes out, over UDP and TCP, against the
//! rich zone of `eightfold_fuzz::ZONE`; the query ID picks the health of
//! each check. See `eightfold_fuzz::check` for what every response must
//! satisfy.
#![no_main]

use eightfold::dns::handler::Transport;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let published = eightfold_fuzz::published();
    eightfold_fuzz::set_health_from_id(published, data);
    eightfold_fuzz::check(published, data, Transport::Udp);
    eightfold_fuzz::check(published, data, Transport::Tcp);
});
