//! Running a test under an open umask (shared by the file-mode tests of
//! `rampart-cluster` and `rampart-node`, which include this file).

/// The umask is the process's: the tests of one binary that set it take
/// turns.
static UMASK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Run `f` under umask 000, restoring the old mask after.
pub fn under_open_umask<T>(f: impl FnOnce() -> T) -> T {
    let _turn = UMASK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // SAFETY: umask only swaps the process's mask and cannot fail.
    let old = unsafe { libc::umask(0o000) };
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    out.unwrap_or_else(|p| std::panic::resume_unwind(p))
}
