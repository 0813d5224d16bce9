//! Secret files and the directories that hold them (docs/ops.md §4).
//!
//! A node's secrets are the TLS private keys (its own and, on the host
//! that issues certificates, the CA's), the admin token and the read
//! token; its Raft store holds the cluster's policy. Each is created with
//! an explicit mode, set again with `chmod` after creation since `open`
//! and `mkdir` apply the process umask (which may be 000): directories
//! 0700, secret files 0600. A secret that group or others may read or
//! write is refused before it is used, as ssh refuses an unprotected
//! private key: someone else may have read it, or may have written it.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Mode of every directory Rampart creates for its state or its secrets.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Mode of every secret file Rampart creates (and of the Raft store).
pub const SECRET_FILE_MODE: u32 = 0o600;

/// Permission bits a secret file must not have: any access by group or
/// others.
const GROUP_OR_OTHER: u32 = 0o077;

/// A secret file that cannot be used; the file's (the operator's) fault.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// Its metadata could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Group or others may read or write it.
    #[error(
        "{path}: this {what} has mode {mode:04o}, so group or others may read or change it; \
         refusing to use it (make it the owner's only: chmod 600 {path})"
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// What it holds (`TLS private key`, `admin token`, …).
        what: &'static str,
        /// Its permission bits.
        mode: u32,
    },
}

/// Refuse `path` (holding a `what`) if group or others may access it.
pub fn check_secret(path: &Path, what: &'static str) -> Result<(), SecretFileError> {
    let meta = fs::metadata(path).map_err(|source| SecretFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & GROUP_OR_OTHER != 0 {
        return Err(SecretFileError::TooOpen {
            path: path.to_path_buf(),
            what,
            mode,
        });
    }
    Ok(())
}

/// Create `dir` and any missing parents with mode 0700, set explicitly
/// (directories that exist already are left as the operator made them).
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_private_dir_all(parent)?;
    }
    match fs::DirBuilder::new().mode(PRIVATE_DIR_MODE).create(dir) {
        Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(PRIVATE_DIR_MODE)),
        // Made by someone else a moment ago: theirs to set.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Create a new file with `mode`, set explicitly; fails if it exists.
pub fn create_new_with_mode(path: &Path, mode: u32) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    Ok(f)
}

/// Create a new secret file, mode 0600; fails if it exists.
pub fn create_secret_file(path: &Path) -> io::Result<File> {
    create_new_with_mode(path, SECRET_FILE_MODE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rampart-private-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn an_open_secret_is_refused_naming_the_file_and_its_mode() {
        let d = tmp("check");
        create_private_dir_all(&d).unwrap();
        let key = d.join("node-1.key");
        drop(create_secret_file(&key).unwrap());
        check_secret(&key, "TLS private key").unwrap();
        for open in [0o644, 0o640, 0o604, 0o620, 0o602] {
            fs::set_permissions(&key, fs::Permissions::from_mode(open)).unwrap();
            let e = check_secret(&key, "TLS private key")
                .unwrap_err()
                .to_string();
            assert_eq!(
                e,
                format!(
                    "{0}: this TLS private key has mode {open:04o}, so group or others may read \
                     or change it; refusing to use it (make it the owner's only: chmod 600 {0})",
                    key.display()
                )
            );
        }
        fs::set_permissions(&key, fs::Permissions::from_mode(0o400)).unwrap();
        check_secret(&key, "TLS private key").unwrap();
        assert!(matches!(
            check_secret(&d.join("missing"), "admin token"),
            Err(SecretFileError::Io { .. })
        ));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn existing_directories_are_left_as_they_are() {
        let d = tmp("existing");
        fs::create_dir_all(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir_all(&d.join("a/b")).unwrap();
        assert_eq!(mode(&d), 0o755);
        assert_eq!(mode(&d.join("a")), 0o700);
        assert_eq!(mode(&d.join("a/b")), 0o700);
        assert!(create_secret_file(&d.join("a/s")).is_ok());
        assert_eq!(
            create_secret_file(&d.join("a/s")).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
