//! The open-files limit, raised at start as NSD and Knot raise theirs.
//!
//! Distributions start services with a soft limit of 1,024 descriptors and
//! a hard limit hundreds of times higher. Every TCP client, API connection
//! and health probe holds one, so the soft limit is what a burst of clients
//! exhausts first; raising it to the hard limit costs nothing.

/// The soft limit before and after [`raise_open_files`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit found at start.
    pub before: u64,
    /// The soft limit now.
    pub after: u64,
}

/// Why the limit could not be read or raised.
#[derive(Debug, thiserror::Error)]
pub enum RlimitError {
    /// getrlimit failed.
    #[error("cannot read the open files limit: {0}")]
    Read(std::io::Error),
    /// setrlimit refused the new soft limit.
    #[error("cannot raise the open files limit from {from} to {to}: {source}")]
    Raise {
        /// The soft limit kept.
        from: u64,
        /// The limit asked for.
        to: u64,
        /// The system's error.
        source: std::io::Error,
    },
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (or, when the hard
/// limit is unlimited, to the most the kernel allows a process).
pub fn raise_open_files() -> Result<OpenFiles, RlimitError> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(RlimitError::Read(std::io::Error::last_os_error()));
    }
    let before = limit.rlim_cur;
    // An unlimited hard limit is refused as a soft one: the kernel caps
    // descriptors per process at fs.nr_open.
    let target = if limit.rlim_max == libc::RLIM_INFINITY {
        nr_open().unwrap_or(before).max(before)
    } else {
        limit.rlim_max
    };
    if target <= before {
        return Ok(OpenFiles {
            before,
            after: before,
        });
    }
    limit.rlim_cur = target;
    // SAFETY: setrlimit reads only the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(RlimitError::Raise {
            from: before,
            to: target,
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(OpenFiles {
        before,
        after: target,
    })
}

/// Says what [`raise_open_files`] did, at info (a failure at warn: the
/// server still runs, with fewer descriptors). Separate from raising, so
/// the line comes once the server has started: a start that fails prints
/// only its one line of error.
pub fn log_open_files(outcome: &Result<OpenFiles, RlimitError>) {
    match outcome {
        // The figures are the line's fields; the message says what happened.
        Ok(OpenFiles { before, after }) if after > before => {
            tracing::info!(soft = *after, was = *before, "open files limit raised")
        }
        Ok(OpenFiles { after, .. }) => {
            tracing::info!(soft = *after, "open files limit already at the hard limit")
        }
        Err(e) => tracing::warn!("{e}; serving with the current limit"),
    }
}

/// The kernel's per-process descriptor ceiling (Linux).
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let raised = raise_open_files().unwrap();
        assert!(raised.after >= raised.before);
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes only the struct it is given.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(limit.rlim_cur, raised.after);
        if limit.rlim_max != libc::RLIM_INFINITY {
            assert_eq!(limit.rlim_cur, limit.rlim_max);
        }
        // A second call has nothing left to raise.
        let again = raise_open_files().unwrap();
        assert_eq!(again.before, again.after);
    }
}
