//! The config parser, and publishing what it accepts.
#![no_main]

use eightfold::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Zone files are resolved against a folder that does not exist, so a
    // relative `file` never opens anything; an absolute one could name a
    // device (/dev/zero, /dev/stdin) and hang the run, so those are skipped,
    // as are TOML unicode escapes that could spell one.
    let lower = text.to_ascii_lowercase();
    if ["dev", "proc", "sys", "\\u"]
        .iter()
        .any(|s| lower.contains(s))
    {
        return;
    }
    if let Ok(config) = Config::from_toml(eightfold_fuzz::fuzz_path(), text) {
        let published = eightfold::publish::publish(&config);
        assert_eq!(published.snapshot.zone_count(), config.zones.len());
    }
});
