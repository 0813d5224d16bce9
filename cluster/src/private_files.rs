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
//!
//! Files whose content the node trusts without their being secret (the
//! node file, the policy, `ca.pem`, the node certificate, the policy
//! signer's public key, `raft.redb`) and the directories that hold them
//! are refused if another user may change them: written by group or
//! others, or owned by a user other than root or the node's own. A
//! directory's ancestors are held to the same rule, as OpenSSH's
//! `StrictModes` holds a user's home directory, except that one anyone may
//! write to but only an entry's owner may rename or delete from (sticky,
//! as `/tmp`) may sit above: nobody else can swap what the node made in
//! it. The checks read the metadata of the open file, never a path's
//! before opening it, so nothing swapped in between is used unchecked.
//!
//! A symbolic link on the way to such a file or directory is held to the
//! same rule, by its own owner (`lstat`): in a sticky directory the
//! link's owner may replace it at any time, and with
//! `fs.protected_symlinks` off the node would follow it, so a link owned by
//! a user other than root or the node's own is refused, as is one in a
//! directory another user may write to. A checked data directory is used
//! by its resolved name from then on ([`check_trusted_dir`]).

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bounded_read::{ReadError, open_regular, read_open};

/// Mode of every directory Rampart creates for its state or its secrets.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Mode of every secret file Rampart creates (and of the Raft store).
pub const SECRET_FILE_MODE: u32 = 0o600;

/// Mode of a public file Rampart creates (a certificate, a public key).
pub const PUBLIC_FILE_MODE: u32 = 0o644;

/// Permission bits a secret file must not have: any access by group or
/// others.
const GROUP_OR_OTHER: u32 = 0o077;

/// Permission bits a trusted file or directory must not have: writing by
/// group or others.
const GROUP_OR_OTHER_WRITE: u32 = 0o022;

/// The sticky bit: in such a directory only an entry's owner (or root)
/// may rename or delete it (chmod(2), `S_ISVTX`).
const STICKY: u32 = 0o1000;

/// Most temporary names tried beside a file being written.
const TEMP_NAME_TRIES: u64 = 1000;

/// A file or directory the node will not trust; the operator's fault, or
/// the system's for [`TrustError::Io`].
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Its metadata could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Not a regular file, too large, or a link.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A secret that group or others may read or write.
    #[error(
        "{}: this {what} has mode {mode:04o}, so group or others may read or change it; \
         refusing to use it (make it the owner's only: chmod 600 {})",
        .path.display(), .path.display()
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// What it holds (`TLS private key`, `admin token`, …).
        what: String,
        /// Its permission bits.
        mode: u32,
    },
    /// A file or directory that group or others may write.
    #[error(
        "{}: this {what} has mode {mode:04o}, so group or others may change it; refusing to \
         trust it (take their write access away: chmod go-w {})",
        .path.display(), .path.display()
    )]
    Writable {
        /// The file or directory.
        path: PathBuf,
        /// What it is (`data directory`, `node file`, …).
        what: String,
        /// Its permission bits.
        mode: u32,
    },
    /// A symbolic link on the way to a file or directory, owned by
    /// another user, who may point it elsewhere.
    #[error(
        "{}: this symbolic link on the way to the {what} is owned by uid {uid}, neither root \
         nor the user this runs as (uid {euid}), who may point it elsewhere at any time; \
         refusing to follow it (name the real path, or replace the link with one root or uid \
         {euid} owns)",
        .path.display()
    )]
    LinkOwner {
        /// The link.
        path: PathBuf,
        /// What lies beyond it.
        what: String,
        /// Its owner.
        uid: u32,
        /// The user this process runs as.
        euid: u32,
    },
    /// A file or directory another user owns, who may change it.
    #[error(
        "{}: this {what} is owned by uid {uid}, neither root nor the user this runs as (uid \
         {euid}), who may change it; refusing to trust it (chown it to root or uid {euid})",
        .path.display()
    )]
    Owner {
        /// The file or directory.
        path: PathBuf,
        /// What it is.
        what: String,
        /// Its owner.
        uid: u32,
        /// The user this process runs as.
        euid: u32,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> TrustError + '_ {
    move |source| TrustError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The user this process runs as.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Refuse `meta` (of `path`, a `what`) if a user other than root or this
/// process's owns it.
fn check_owner(path: &Path, what: &str, meta: &Metadata) -> Result<(), TrustError> {
    let (uid, euid) = (meta.uid(), euid());
    if uid == 0 || uid == euid {
        return Ok(());
    }
    Err(TrustError::Owner {
        path: path.to_path_buf(),
        what: what.to_string(),
        uid,
        euid,
    })
}

/// Refuse `meta` (of the file or directory `path`, a `what`) if another
/// user may change it: owned by another, or writable by group or others.
pub fn check_trusted_meta(path: &Path, what: &str, meta: &Metadata) -> Result<(), TrustError> {
    check_owner(path, what, meta)?;
    let mode = meta.mode() & 0o7777;
    if mode & GROUP_OR_OTHER_WRITE != 0 {
        return Err(TrustError::Writable {
            path: path.to_path_buf(),
            what: what.to_string(),
            mode,
        });
    }
    Ok(())
}

/// Refuse `meta` (of the secret file `path`, a `what`) if another user
/// owns it or group or others may access it at all.
fn check_secret_meta(path: &Path, what: &str, meta: &Metadata) -> Result<(), TrustError> {
    check_owner(path, what, meta)?;
    let mode = meta.mode() & 0o7777;
    if mode & GROUP_OR_OTHER != 0 {
        return Err(TrustError::TooOpen {
            path: path.to_path_buf(),
            what: what.to_string(),
            mode,
        });
    }
    Ok(())
}

/// Refuse the directories from `dir` (symbolic links resolved) up to the
/// root if another user may change one: owned by another, or writable by
/// group or others and not sticky. `what` names what lies below, for the
/// errors.
fn check_ancestors(dir: &Path, what: &str) -> Result<(), TrustError> {
    let real = fs::canonicalize(dir).map_err(io_at(dir))?;
    for a in real.ancestors() {
        let meta = fs::metadata(a).map_err(io_at(a))?;
        let what = format!("directory above the {what}");
        check_owner(a, &what, &meta)?;
        let mode = meta.mode() & 0o7777;
        if mode & GROUP_OR_OTHER_WRITE != 0 && mode & STICKY == 0 {
            return Err(TrustError::Writable {
                path: a.to_path_buf(),
                what,
                mode,
            });
        }
    }
    Ok(())
}

/// Most symbolic links followed in resolving one path (as Linux's
/// `MAXSYMLINKS`; path_resolution(7)).
const MAX_LINKS: usize = 40;

/// Resolve `path` as the kernel would, one name at a time, and refuse a
/// symbolic link met on the way (in a directory of the path, or the last
/// name) that another user may point elsewhere: one owned (`lstat`) by a
/// user other than root or this process's, or one in a directory another
/// user may write to (not sticky) or in one below such a directory. `what`
/// names what lies beyond, for the errors. Returns the resolved path, with
/// no link left in it: a name under it reaches what was checked here.
pub fn check_links(path: &Path, what: &str) -> Result<PathBuf, TrustError> {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    use std::path::Component;
    let mut resolved = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        std::env::current_dir().map_err(io_at(path))?
    };
    let mut rest: VecDeque<OsString> = VecDeque::new();
    let push_front = |rest: &mut VecDeque<OsString>, p: &Path| {
        for c in p.components().rev() {
            rest.push_front(c.as_os_str().to_os_string());
        }
    };
    push_front(&mut rest, path);
    let mut links = 0;
    while let Some(name) = rest.pop_front() {
        match Path::new(&name).components().next() {
            Some(Component::RootDir) => resolved = PathBuf::from("/"),
            Some(Component::ParentDir) => {
                resolved.pop();
            }
            Some(Component::Normal(n)) => {
                let next = resolved.join(n);
                let meta = fs::symlink_metadata(&next).map_err(io_at(path))?;
                if !meta.file_type().is_symlink() {
                    resolved = next;
                    continue;
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(io_at(path)(io::Error::from_raw_os_error(libc::ELOOP)));
                }
                let (uid, euid) = (meta.uid(), euid());
                if uid != 0 && uid != euid {
                    return Err(TrustError::LinkOwner {
                        path: next,
                        what: what.to_string(),
                        uid,
                        euid,
                    });
                }
                check_ancestors(&resolved, &format!("link {}", next.display()))?;
                let target = fs::read_link(&next).map_err(io_at(&next))?;
                push_front(&mut rest, &target);
            }
            _ => {}
        }
    }
    Ok(resolved)
}

/// Refuse the directory `dir` (a `what`: `data directory`, …) if another
/// user may change what it holds: it, or a directory above it, is owned
/// by another user or writable by group or others (above it, unless
/// sticky), or a symbolic link on the way to it may be pointed elsewhere
/// ([`check_links`]). Returns its resolved path, which the caller uses
/// from then on: a link on the way repointed later (by root or this user)
/// then changes nothing under the running process.
pub fn check_trusted_dir(dir: &Path, what: &str) -> Result<PathBuf, TrustError> {
    let real = check_links(dir, what)?;
    let meta = fs::metadata(&real).map_err(io_at(&real))?;
    if !meta.is_dir() {
        return Err(io_at(dir)(io::Error::from_raw_os_error(libc::ENOTDIR)));
    }
    check_trusted_meta(&real, what, &meta)?;
    if let Some(up) = real.parent() {
        check_ancestors(up, &format!("{what} {}", real.display()))?;
    }
    Ok(real)
}

/// The directory holding `path` (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Read at most `limit` bytes of the secret file `path` (a `what`): opened
/// once without following a link at its name, then refused from the open
/// file's metadata if it is not a regular file, another user owns it, or
/// group or others may access it; its directory and those above must be
/// ones only root or this user may change (sticky ones aside), and no
/// symbolic link on the way to it one another user may point elsewhere
/// ([`check_links`]).
pub fn read_secret(path: &Path, limit: usize, what: &'static str) -> Result<Vec<u8>, TrustError> {
    check_links(parent_of(path), what)?;
    check_ancestors(parent_of(path), what)?;
    let (f, meta) = open_regular(path, what, false)?;
    check_secret_meta(path, what, &meta)?;
    Ok(read_open(f, path, limit, what)?)
}

/// Read at most `limit` bytes of the file `path` (a `what`) whose content
/// the node trusts, refused if another user may change it: if it is owned
/// by another user or writable by group or others (read from the open
/// file), or its directory or one above is (sticky ones aside). A symbolic
/// link is followed, and both the link's directories and the file's are
/// held to the rule: whoever may write either may swap the content; so is
/// each link's owner ([`check_links`]).
pub fn read_trusted(path: &Path, limit: usize, what: &'static str) -> Result<Vec<u8>, TrustError> {
    check_ancestors(parent_of(path), what)?;
    let real = check_links(path, what)?;
    check_ancestors(parent_of(&real), what)?;
    // The real name, every link resolved in directories just checked;
    // a link there now was put there by root or this user.
    let (f, meta) = open_regular(&real, what, false).map_err(|e| match e {
        ReadError::Link { .. } => ReadError::Link {
            path: path.to_path_buf(),
            what,
        },
        other => other,
    })?;
    check_trusted_meta(path, what, &meta)?;
    Ok(read_open(f, path, limit, what)?)
}

/// Create `dir` and any missing parents with mode 0700, set explicitly
/// (directories that exist already are left as the operator made them).
/// Each directory made here is synced into its parent: a file the caller
/// then makes in `dir` and syncs (a Raft store that has voted) must not
/// vanish with its directory at a power loss (fsync(2): syncing a file
/// does not sync the directory entry that names it).
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_private_dir_all(parent)?;
    }
    match fs::DirBuilder::new().mode(PRIVATE_DIR_MODE).create(dir) {
        Ok(()) => {
            fs::set_permissions(dir, fs::Permissions::from_mode(PRIVATE_DIR_MODE))?;
            sync_dir(parent_of(dir))
        }
        // Made by someone else a moment ago: theirs to set.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Create a new file with `mode`, set explicitly; fails if anything (a
/// link too) is at `path`.
pub fn create_new_with_mode(path: &Path, mode: u32) -> io::Result<File> {
    // O_EXCL alone already refuses a link at the name (open(2)); the
    // O_NOFOLLOW says so where a reader looks for it.
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    Ok(f)
}

/// Create a new secret file, mode 0600, and sync its directory, so that
/// the name lasts as long as what the caller then writes and syncs in it
/// (fsync(2) syncs a file, not the entry naming it); fails if it exists.
pub fn create_secret_file(path: &Path) -> io::Result<File> {
    let f = create_new_with_mode(path, SECRET_FILE_MODE)?;
    sync_dir(parent_of(path))?;
    Ok(f)
}

/// Write `data` to a new file `path` with `mode` (set explicitly, whatever
/// the umask) and sync it; fails if anything is at `path`.
pub fn write_new(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let mut f = create_new_with_mode(path, mode)?;
    f.write_all(data)?;
    f.sync_all()
}

/// Sync the directory `dir`, so that names made or renamed in it last.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Create, with `mode`, a file of a fresh name beside `path`:
/// `.<name>.tmp-<process id>-<counter>`, trying the next name while one
/// exists (a leftover of an interrupted write by an earlier process with
/// the same id, as after a reboot, or a name someone else put there).
pub fn create_temp_beside(path: &Path, mode: u32) -> io::Result<(PathBuf, File)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = parent_of(path);
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    for _ in 0..TEMP_NAME_TRIES {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
        match create_new_with_mode(&tmp, mode) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{TEMP_NAME_TRIES} temporary files .{name}.tmp-* are in the way in {}; delete them",
            dir.display()
        ),
    ))
}

/// Replace `path` with a file holding `data`, mode `mode` (set
/// explicitly): written whole and synced under a fresh name beside it,
/// then renamed over it and the directory synced, so a reader sees the old
/// file or the new one, never a part, and nothing at a name another user
/// could have prepared (a link to elsewhere) is written through.
pub fn replace_file(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let (tmp, mut f) = create_temp_beside(path, mode)?;
    let written = f
        .write_all(data)
        .and_then(|()| f.sync_all())
        .and_then(|()| fs::rename(&tmp, path));
    drop(f);
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(parent_of(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The user tests give files to, to model another local user (the
    /// overflow uid, which no one logs in as).
    const OTHER_UID: u32 = 65533;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rampart-private-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    fn chmod(p: &Path, mode: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn give_away(p: &Path) {
        std::os::unix::fs::lchown(p, Some(OTHER_UID), None).unwrap();
    }

    /// A directory as the tests and most hosts make one: 0755, under the
    /// sticky system temporary directory.
    fn plain_dir(tag: &str) -> PathBuf {
        let d = tmp(tag);
        fs::create_dir_all(&d).unwrap();
        chmod(&d, 0o755);
        d
    }

    // === secrets ===

    #[test]
    fn an_open_secret_is_refused_naming_the_file_and_its_mode() {
        let d = tmp("check");
        create_private_dir_all(&d).unwrap();
        let key = d.join("node-1.key");
        write_new(&key, b"k", SECRET_FILE_MODE).unwrap();
        assert_eq!(read_secret(&key, 10, "TLS private key").unwrap(), b"k");
        for open in [0o644, 0o640, 0o604, 0o620, 0o602] {
            chmod(&key, open);
            let e = read_secret(&key, 10, "TLS private key")
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
        chmod(&key, 0o400);
        read_secret(&key, 10, "TLS private key").unwrap();
        assert!(matches!(
            read_secret(&d.join("missing"), 10, "admin token"),
            Err(TrustError::Read(ReadError::Io { .. }))
        ));
        fs::remove_dir_all(&d).unwrap();
    }

    /// A secret someone else owns (planted where the node's was missing)
    /// or a link to one is refused; so is one in a directory others may
    /// write to, where it could be swapped for another.
    #[test]
    fn a_planted_linked_or_exposed_secret_is_refused() {
        let d = plain_dir("planted");
        let key = d.join("admin.token");
        write_new(&key, b"t", SECRET_FILE_MODE).unwrap();
        give_away(&key);
        assert_eq!(
            read_secret(&key, 10, "token").unwrap_err().to_string(),
            format!(
                "{}: this token is owned by uid {OTHER_UID}, neither root nor the user this runs \
                 as (uid 0), who may change it; refusing to trust it (chown it to root or uid 0)",
                key.display()
            )
        );
        fs::remove_file(&key).unwrap();
        let real = d.join("real.token");
        write_new(&real, b"t", SECRET_FILE_MODE).unwrap();
        std::os::unix::fs::symlink(&real, &key).unwrap();
        assert!(matches!(
            read_secret(&key, 10, "token"),
            Err(TrustError::Read(ReadError::Link { .. }))
        ));
        chmod(&d, 0o777);
        assert!(matches!(
            read_secret(&real, 10, "token"),
            Err(TrustError::Writable { ref path, .. }) if *path == d
        ));
        fs::remove_dir_all(&d).unwrap();
    }

    // === trusted directories ===

    #[test]
    fn a_directory_others_may_change_is_refused_naming_it_and_the_fix() {
        let d = plain_dir("dir");
        check_trusted_dir(&d, "data directory").unwrap();
        for open in [0o775, 0o757, 0o1777, 0o1770] {
            chmod(&d, open);
            assert_eq!(
                check_trusted_dir(&d, "data directory")
                    .unwrap_err()
                    .to_string(),
                format!(
                    "{0}: this data directory has mode {open:04o}, so group or others may change \
                     it; refusing to trust it (take their write access away: chmod go-w {0})",
                    d.display()
                )
            );
        }
        chmod(&d, 0o700);
        check_trusted_dir(&d, "data directory").unwrap();
        give_away(&d);
        assert!(matches!(
            check_trusted_dir(&d, "data directory"),
            Err(TrustError::Owner { uid: OTHER_UID, .. })
        ));
        fs::remove_dir_all(&d).unwrap();
    }

    /// As OpenSSH's StrictModes: a directory above may not be writable by
    /// others or owned by another user, unless it is sticky (as `/tmp`).
    #[test]
    fn a_directory_above_others_may_change_is_refused_unless_sticky() {
        let top = plain_dir("above");
        let data = top.join("var/data");
        create_private_dir_all(&data).unwrap();
        let var = top.join("var");
        chmod(&var, 0o777);
        assert_eq!(
            check_trusted_dir(&data, "data directory")
                .unwrap_err()
                .to_string(),
            format!(
                "{0}: this directory above the data directory {1} has mode 0777, so group or \
                 others may change it; refusing to trust it (take their write access away: \
                 chmod go-w {0})",
                var.display(),
                data.display()
            )
        );
        chmod(&var, 0o1777);
        check_trusted_dir(&data, "data directory").unwrap();
        give_away(&var);
        assert!(matches!(
            check_trusted_dir(&data, "data directory"),
            Err(TrustError::Owner { ref path, .. }) if *path == var
        ));
        // Named through a link that others may swap: refused at the link.
        chmod(&var, 0o755);
        std::os::unix::fs::lchown(&var, Some(0), None).unwrap();
        let shared = top.join("shared");
        fs::create_dir(&shared).unwrap();
        chmod(&shared, 0o777);
        let link = shared.join("data");
        std::os::unix::fs::symlink(&data, &link).unwrap();
        assert!(matches!(
            check_trusted_dir(&link, "data directory"),
            Err(TrustError::Writable { ref path, .. }) if *path == shared
        ));
        chmod(&shared, 0o755);
        check_trusted_dir(&link, "data directory").unwrap();
        fs::remove_dir_all(&top).unwrap();
    }

    /// A link another user owns, in a sticky directory (as `/tmp`), may
    /// be pointed elsewhere by that user at any time: refused, whether it
    /// names the directory or one above it, or a file read. One root owns
    /// is followed, and the directory is used by its resolved name.
    #[test]
    fn a_link_another_user_owns_on_the_way_is_refused() {
        let top = plain_dir("links");
        let real = top.join("real");
        create_private_dir_all(&real).unwrap();
        let sticky = top.join("sticky");
        fs::create_dir(&sticky).unwrap();
        chmod(&sticky, 0o1777);
        let link = sticky.join("data");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let resolved = fs::canonicalize(&real).unwrap();
        assert_eq!(
            check_trusted_dir(&link, "data directory").unwrap(),
            resolved
        );
        give_away(&link);
        assert_eq!(
            check_trusted_dir(&link, "data directory")
                .unwrap_err()
                .to_string(),
            format!(
                "{}: this symbolic link on the way to the data directory is owned by uid \
                 {OTHER_UID}, neither root nor the user this runs as (uid 0), who may point it \
                 elsewhere at any time; refusing to follow it (name the real path, or replace \
                 the link with one root or uid 0 owns)",
                link.display()
            )
        );
        // A link above the directory, by a relative target.
        let up = sticky.join("up");
        std::os::unix::fs::symlink("..", &up).unwrap();
        let under = up.join("real");
        assert_eq!(
            check_trusted_dir(&under, "data directory").unwrap(),
            resolved
        );
        give_away(&up);
        assert!(matches!(
            check_trusted_dir(&under, "data directory"),
            Err(TrustError::LinkOwner { ref path, uid: OTHER_UID, .. }) if *path == up
        ));
        // Files read through such links: a trusted one and a secret.
        let file = real.join("ca.pem");
        write_new(&file, b"c", PUBLIC_FILE_MODE).unwrap();
        let key = real.join("node-1.key");
        write_new(&key, b"k", SECRET_FILE_MODE).unwrap();
        assert!(matches!(
            read_trusted(&under.join("ca.pem"), 10, "certificate file"),
            Err(TrustError::LinkOwner { ref path, .. }) if *path == up
        ));
        assert!(matches!(
            read_secret(&under.join("node-1.key"), 10, "TLS private key"),
            Err(TrustError::LinkOwner { ref path, .. }) if *path == up
        ));
        let file_link = sticky.join("ca.pem");
        std::os::unix::fs::symlink(&file, &file_link).unwrap();
        assert_eq!(
            read_trusted(&file_link, 10, "certificate file").unwrap(),
            b"c"
        );
        give_away(&file_link);
        assert!(matches!(
            read_trusted(&file_link, 10, "certificate file"),
            Err(TrustError::LinkOwner { ref path, .. }) if *path == file_link
        ));
        std::os::unix::fs::lchown(&up, Some(0), None).unwrap();
        assert_eq!(
            read_secret(&under.join("node-1.key"), 10, "TLS private key").unwrap(),
            b"k"
        );
        fs::remove_dir_all(&top).unwrap();
    }

    // === trusted files ===

    #[test]
    fn a_trusted_file_others_may_change_is_refused() {
        let d = plain_dir("trusted");
        let f = d.join("node.toml");
        fs::write(&f, "x").unwrap();
        chmod(&f, 0o644);
        assert_eq!(read_trusted(&f, 10, "node file").unwrap(), b"x");
        chmod(&f, 0o664);
        assert_eq!(
            read_trusted(&f, 10, "node file").unwrap_err().to_string(),
            format!(
                "{0}: this node file has mode 0664, so group or others may change it; refusing \
                 to trust it (take their write access away: chmod go-w {0})",
                f.display()
            )
        );
        chmod(&f, 0o644);
        give_away(&f);
        assert!(matches!(
            read_trusted(&f, 10, "node file"),
            Err(TrustError::Owner { .. })
        ));
        std::os::unix::fs::lchown(&f, Some(0), None).unwrap();
        chmod(&d, 0o775);
        assert!(matches!(
            read_trusted(&f, 10, "node file"),
            Err(TrustError::Writable { ref path, .. }) if *path == d
        ));
        chmod(&d, 0o755);
        // A link is followed, and where it points is held to the rule.
        let elsewhere = plain_dir("trusted-target");
        let target = elsewhere.join("node.toml");
        fs::write(&target, "y").unwrap();
        let link = d.join("link.toml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read_trusted(&link, 10, "node file").unwrap(), b"y");
        chmod(&elsewhere, 0o777);
        assert!(matches!(
            read_trusted(&link, 10, "node file"),
            Err(TrustError::Writable { ref path, .. }) if *path == elsewhere
        ));
        fs::remove_dir_all(&d).unwrap();
        fs::remove_dir_all(&elsewhere).unwrap();
    }

    // === creating ===

    #[test]
    fn existing_directories_are_left_as_they_are() {
        let d = tmp("existing");
        fs::create_dir_all(&d).unwrap();
        chmod(&d, 0o755);
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

    /// A replaced file is written under a fresh name, never through a
    /// link someone put at a name, and gets its mode whatever the old
    /// file's was.
    #[test]
    fn a_replaced_file_is_new_with_its_mode_and_writes_through_no_link() {
        let d = plain_dir("replace");
        let victim = d.join("victim");
        fs::write(&victim, "keep").unwrap();
        let target = d.join("fw-a.conn");
        fs::write(&target, "old").unwrap();
        chmod(&target, 0o666);
        for n in 0..4 {
            let name = format!(".fw-a.conn.tmp-{}-{n}", std::process::id());
            std::os::unix::fs::symlink(&victim, d.join(name)).unwrap();
        }
        replace_file(&target, b"new", SECRET_FILE_MODE).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(mode(&target), 0o600);
        assert!(fs::symlink_metadata(&target).unwrap().is_file());
        fs::remove_dir_all(&d).unwrap();
    }
}
