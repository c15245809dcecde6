//! The process's allocator: mimalloc, and how long it keeps memory it no longer uses.
//!
//! mimalloc instead of the system allocator: a shared view is mostly short-lived
//! allocations on many threads, where glibc's malloc spent a third of the CPU (and kept
//! returning pages to the kernel only to fault them back in).
//!
//! Two settings, from profiles of the bundle bench (issue 26):
//! - **No transparent huge pages** (the `no_thp` feature in the root `Cargo.toml`). mimalloc
//!   advises its arenas into 2 MiB pages; every first touch then has the kernel zero
//!   2 MiB, and each purge splits them again. In a bundle export 60% of the server's
//!   samples were that zeroing (`clear_page_erms` under `do_huge_pmd_anonymous_page`).
//! - **Freed memory goes back to the kernel after 10 s unused** (mimalloc's default: 1 s),
//!   jemalloc's default decay. An export or import handles a dataset's hundreds of
//!   megabytes right after a workflow run or an edit freed as much; given back after 1 s,
//!   each touched it afresh. Memory unused for 10 s is still returned, so a server's
//!   resident size falls back after a burst.
//!
//! `MIMALLOC_PURGE_DELAY` in the environment still wins, as mimalloc documents.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_e` (libmimalloc-sys binds no name
/// for it). Version 2 numbered it the same, and the test below checks the version.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// Milliseconds freed memory stays with the process before it is returned.
const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

/// Sets the allocator's options; called first thing in `main`, before the first purge.
pub(crate) fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    #[allow(
        unsafe_code,
        reason = "mimalloc's option setter: a plain store into its option table, valid at any time"
    )]
    // SAFETY: `mi_option_set` takes any option index below `_mi_option_last` and any value;
    // it has no preconditions on the allocator's state.
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(unsafe_code, reason = "reading mimalloc's version and options")]
    #[test]
    fn freed_memory_is_kept_ten_seconds_by_the_mimalloc_this_was_written_for() {
        // SAFETY: both read mimalloc's constants and option table; no preconditions.
        let version = unsafe { libmimalloc_sys::mi_version() };
        assert_eq!(
            version / 10_000,
            3,
            "the option index above is mimalloc 3's; check it against mimalloc.h"
        );
        tune();
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: as above.
            let delay = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
            assert_eq!(delay, PURGE_DELAY_MS);
        }
    }
}
