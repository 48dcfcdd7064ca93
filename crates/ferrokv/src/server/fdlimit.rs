//! The open-files limit that `maxclients` needs: like Redis, ferrokv wants `maxclients`
//! plus [`RESERVED_FDS`] descriptors (listeners, files, logs), raises `RLIMIT_NOFILE` to
//! that at startup and on CONFIG SET, and when the system does not allow it, settles for
//! the highest limit it can get and lowers `maxclients` to fit.

/// Descriptors kept for the server's own use beyond `maxclients` (Redis's
/// CONFIG_MIN_RESERVED_FDS).
pub const RESERVED_FDS: u64 = 32;

/// What [`raise_for`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adjusted {
    /// The limit was high enough already.
    Enough,
    /// The limit was raised from `from` to what `maxclients` needs.
    Raised {
        /// The soft limit before.
        from: u64,
    },
    /// Only `best` descriptors could be had (the OS refused more with `errno`).
    Short {
        /// The soft limit now in force.
        best: u64,
        /// The soft limit before.
        from: u64,
        /// The error of the last refused attempt.
        errno: i32,
    },
    /// The current limit could not be read.
    Unknown,
}

/// The kernel's ceiling for any process's descriptors (`/proc/sys/fs/nr_open`).
fn nr_open() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 20)
}

fn get_nofile() -> Option<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass, which lives for the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (rc == 0).then_some(lim)
}

fn set_nofile(cur: u64, max: u64) -> Result<(), i32> {
    let lim = libc::rlimit {
        rlim_cur: cur as libc::rlim_t,
        rlim_max: max as libc::rlim_t,
    };
    // SAFETY: setrlimit only reads the struct we pass, which lives for the call.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// Make room for `maxclients` connections: raise the soft `RLIMIT_NOFILE` to `maxclients +
/// RESERVED_FDS` when it is lower, or, if the system refuses, to the highest value it
/// allows, stepping down 16 at a time as Redis does. The hard limit is raised only when
/// it must be (which needs privileges), never lowered.
// `rlim_t` is u64 on Linux but not everywhere: the casts stay.
#[allow(clippy::unnecessary_cast)]
pub fn raise_for(maxclients: u64) -> Adjusted {
    let want = maxclients.saturating_add(RESERVED_FDS);
    let Some(lim) = get_nofile() else {
        return Adjusted::Unknown;
    };
    let from = lim.rlim_cur as u64;
    let hard = lim.rlim_max as u64;
    if from >= want {
        return Adjusted::Enough;
    }
    // No kernel gives more than `nr_open`: start there rather than step down from an
    // absurd request.
    let mut best = want.min(nr_open());
    let mut errno = 0;
    while best > from {
        match set_nofile(best, hard.max(best)) {
            Ok(()) => break,
            Err(e) => errno = e,
        }
        // Above the hard limit only privileges help; up to it the soft limit can always
        // be set: jump there at once, then step down as Redis does.
        best = if best > hard {
            hard
        } else {
            best.saturating_sub(16)
        };
    }
    if best >= want {
        Adjusted::Raised { from }
    } else {
        Adjusted::Short {
            best: best.max(from),
            from,
            errno,
        }
    }
}

/// Startup: raise the limit for `maxclients`, log as Redis does, and return the
/// `maxclients` that fits (lower than asked when the system refused); `Err` when not even
/// the reserved descriptors fit.
pub fn adjust_at_startup(maxclients: u64) -> Result<u64, String> {
    let want = maxclients.saturating_add(RESERVED_FDS);
    match raise_for(maxclients) {
        Adjusted::Enough => Ok(maxclients),
        Adjusted::Raised { from } => {
            tracing::info!(
                "Increased maximum number of open files to {} (it was originally set to {}).",
                want,
                from
            );
            Ok(maxclients)
        }
        Adjusted::Unknown => {
            tracing::warn!(
                "Unable to obtain the current NOFILE limit, assuming 1024 and setting the max clients configuration accordingly."
            );
            Ok(1024 - RESERVED_FDS)
        }
        Adjusted::Short { best, from, errno } => {
            if best <= RESERVED_FDS {
                return Err(format!(
                    "Your current 'ulimit -n' of {} is not enough for the server to start. Please increase your open file limit to at least {}. Exiting.",
                    from, want
                ));
            }
            let reduced = best - RESERVED_FDS;
            tracing::warn!(
                "You requested maxclients of {} requiring at least {} max file descriptors.",
                maxclients,
                want
            );
            tracing::warn!(
                "Server can't set maximum open files to {} because of OS error: {}.",
                want,
                std::io::Error::from_raw_os_error(errno)
            );
            tracing::warn!(
                "Current maximum open files is {}. maxclients has been reduced to {} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.",
                best,
                reduced
            );
            Ok(reduced)
        }
    }
}

/// CONFIG SET maxclients: raise the limit if needed; the error text is Redis's when the
/// system cannot give enough descriptors.
pub fn check_config_set(maxclients: u64) -> Result<(), String> {
    match raise_for(maxclients) {
        Adjusted::Enough | Adjusted::Raised { .. } | Adjusted::Unknown => Ok(()),
        Adjusted::Short { best, .. } => Err(format!(
            "The operating system is not able to handle the specified number of clients, try with {}",
            best.saturating_sub(RESERVED_FDS)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_maxclients_needs_nothing() {
        assert_eq!(raise_for(1), Adjusted::Enough);
        assert_eq!(adjust_at_startup(1), Ok(1));
        assert_eq!(check_config_set(1), Ok(()));
    }

    #[test]
    fn an_impossible_maxclients_is_refused_with_the_best_count() {
        // More than any kernel allows (nr_open is at most about 2^30 on Linux).
        let huge = 1u64 << 40;
        let err = check_config_set(huge).unwrap_err();
        assert!(
            err.starts_with(
                "The operating system is not able to handle the specified number of clients, try with "
            ),
            "{err}"
        );
        let n: u64 = err.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n < huge);
        assert_eq!(adjust_at_startup(huge), Ok(n));
    }
}
