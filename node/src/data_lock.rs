//! One node per data directory (docs/ops.md §4): `rampart run` holds an
//! exclusive `flock(2)` on `<data_dir>/run.lock` for its whole life, and a
//! second node started on the same data directory (the same node file
//! started twice, say) refuses to start, naming the process that holds
//! it. Without the lock both would open the same interfaces and forward
//! every frame twice, and a node without a cluster has no other lock (a
//! clustered one's Raft store is locked by its database library, but only
//! after the interfaces are open).
//!
//! The kernel drops the lock when the process ends, however it ends, so a
//! lock file left by a node that crashed stops nothing. The file holds the
//! holder's process id, for the error; it is never removed.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rampart_cluster::private_files::SECRET_FILE_MODE;

/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "run.lock";

/// Most bytes of the lock file read for the holder's process id.
const MAX_PID_BYTES: u64 = 32;

/// The data directory's lock, held until dropped (or the process ends).
#[derive(Debug)]
pub struct DataLock {
    _file: File,
    path: PathBuf,
}

impl DataLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Take the lock of the data directory `data_dir` (checked already: only
/// root and this user may change it), or fail, naming the process that
/// holds it, if another node runs on it.
pub fn lock(data_dir: &Path) -> anyhow::Result<DataLock> {
    let path = data_dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(SECRET_FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .with_context(|| format!("{}: opening the data directory's lock", path.display()))?;
    // SAFETY: flock on a descriptor this function owns; no memory is shared.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(e)
                .with_context(|| format!("{}: locking the data directory", path.display()));
        }
        let holder = holder(&mut file).map_or_else(
            || "another process".to_string(),
            |pid| format!("another process (pid {pid})"),
        );
        anyhow::bail!(
            "{}: {holder} holds this lock: a node runs on the data directory {} already; \
             refusing to start a second one, which would bridge the same interfaces and forward \
             every frame twice (stop the other first, or give this node its own data_dir)",
            path.display(),
            data_dir.display()
        );
    }
    let mine = format!("{}\n", std::process::id());
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(mine.as_bytes()))
        .and_then(|()| file.set_permissions(std::fs::Permissions::from_mode(SECRET_FILE_MODE)))
        .with_context(|| format!("{}: writing the data directory's lock", path.display()))?;
    Ok(DataLock { _file: file, path })
}

/// The process id a lock file holds, if it holds one.
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(MAX_PID_BYTES).read_to_string(&mut text).ok()?;
    text.trim().parse().ok().filter(|&p| p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rampart-lock-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// flock(2) locks belong to the open file, so a second open in this
    /// process is refused as another process's would be.
    #[test]
    fn a_second_lock_on_one_data_directory_is_refused_naming_the_holder() {
        let d = dir("twice");
        let held = lock(&d).unwrap();
        assert_eq!(held.path(), d.join(LOCK_FILE));
        let mode = std::fs::metadata(held.path()).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        let e = lock(&d).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: another process (pid {}) holds this lock: a node runs on the data directory \
                 {} already; refusing to start a second one, which would bridge the same \
                 interfaces and forward every frame twice (stop the other first, or give this \
                 node its own data_dir)",
                d.join(LOCK_FILE).display(),
                std::process::id(),
                d.display()
            )
        );
        drop(held);
        // Released with its holder; a leftover file stops nothing.
        let again = lock(&d).unwrap();
        drop(again);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A link at the lock's name is not followed (the node would lock,
    /// and write its pid into, whatever it points to).
    #[test]
    fn a_link_at_the_lock_name_is_refused() {
        let d = dir("link");
        let victim = d.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, d.join(LOCK_FILE)).unwrap();
        assert!(lock(&d).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
