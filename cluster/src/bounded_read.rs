//! Reading a file an operator names (the node file, the policy, keys and
//! certificates, token files) without trusting its size or its kind: at
//! most a named number of bytes, and only from a regular file. Without
//! both, `policy = "/dev/zero"` in a node file would fill the memory at
//! start, and a FIFO would hold the start until someone wrote to it.
//!
//! The kind is read before the file is opened: opening some devices has an
//! effect of its own (opening `/dev/watchdog` arms the watchdog), so a
//! path that is not a regular file is refused unopened. It is read again
//! from the open file, so one swapped in between is seen for what it is.
//!
//! The errors name the file, what it was to hold and the limit; they never
//! quote the content (a token file's is a secret).

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// Why a file could not be read; the file's (the operator's) fault, or
/// the system's for [`ReadError::Io`].
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A FIFO, a device, a directory or a socket.
    #[error(
        "{}: is a {kind}, not a regular file; a {what} is read only from a regular file",
        .path.display()
    )]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it was to hold.
        what: &'static str,
        /// What it is.
        kind: &'static str,
    },
    /// Longer than the limit.
    #[error("{}: over {limit} bytes, the most a {what} may be", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// What it was to hold.
        what: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// A symbolic link where a file is opened only by its own name.
    #[error(
        "{}: is a symbolic link; a {what} is opened only by its own name, not through a link \
         (name the file it points to)",
        .path.display()
    )]
    Link {
        /// The file.
        path: PathBuf,
        /// What it was to hold.
        what: &'static str,
    },
    /// Not UTF-8 where text was expected.
    #[error(
        "{}: a {what} is UTF-8 text, and this file is not (line {line}, column {column})",
        .path.display()
    )]
    NotText {
        /// The file.
        path: PathBuf,
        /// What it was to hold.
        what: &'static str,
        /// The line of the first byte that is not UTF-8, from 1.
        line: usize,
        /// Its column, in characters from 1.
        column: usize,
    },
}

impl ReadError {
    /// The error without the file's name, for errors that put it first
    /// themselves.
    pub fn reason(&self) -> String {
        let whole = self.to_string();
        let path = match self {
            ReadError::Io { path, .. }
            | ReadError::NotRegular { path, .. }
            | ReadError::TooLarge { path, .. }
            | ReadError::Link { path, .. }
            | ReadError::NotText { path, .. } => path.display().to_string(),
        };
        whole
            .strip_prefix(&format!("{path}: "))
            .map_or_else(|| whole.clone(), str::to_string)
    }
}

/// What a file that is not a regular one is.
fn kind(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// Open the regular file `path`, which holds a `what`, for reading: its
/// kind is read first (through a symbolic link with `follow`, else a link
/// is refused) and anything but a regular file refused unopened, then read
/// again from the open file. Returns the file and its metadata, from the
/// open file.
pub fn open_regular(
    path: &Path,
    what: &'static str,
    follow: bool,
) -> Result<(File, Metadata), ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let before = if follow {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    }
    .map_err(io)?;
    if before.file_type().is_symlink() {
        return Err(ReadError::Link {
            path: path.to_path_buf(),
            what,
        });
    }
    refuse_irregular(path, what, &before)?;
    // Non-blocking, since opening a FIFO to read waits for a writer (one
    // swapped in after the look above); no controlling terminal from a
    // terminal swapped in. A regular file's reads ignore both.
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let f = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(f) => f,
        // open(2): O_NOFOLLOW fails with ELOOP on a link at the last
        // component; one swapped in since the look above.
        Err(e) if !follow && e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(ReadError::Link {
                path: path.to_path_buf(),
                what,
            });
        }
        Err(e) => return Err(io(e)),
    };
    let meta = f.metadata().map_err(io)?;
    refuse_irregular(path, what, &meta)?;
    Ok((f, meta))
}

/// Refuse `path` unless `meta` is a regular file's.
fn refuse_irregular(path: &Path, what: &'static str, meta: &Metadata) -> Result<(), ReadError> {
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    Err(ReadError::NotRegular {
        path: path.to_path_buf(),
        what,
        kind: kind(t),
    })
}

/// Read at most `limit` bytes of `f`, opened from `path` (which holds a
/// `what`); a longer file is an error, not a truncated read.
pub fn read_open(
    f: File,
    path: &Path,
    limit: usize,
    what: &'static str,
) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if buf.len() > limit {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            what,
            limit,
        });
    }
    Ok(buf)
}

/// Read at most `limit` bytes of the regular file `path`, which holds a
/// `what` (`node file`, `policy`, `PEM file`, …); a longer file is an
/// error, not a truncated read.
pub fn read_bounded(path: &Path, limit: usize, what: &'static str) -> Result<Vec<u8>, ReadError> {
    let (f, _) = open_regular(path, what, true)?;
    read_open(f, path, limit, what)
}

/// `bytes`, read from `path` (a `what`), as UTF-8 text; refused with the
/// line and column of the first byte that is not.
pub fn into_text(bytes: Vec<u8>, path: &Path, what: &'static str) -> Result<String, ReadError> {
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // Valid up to there by the error's own account.
        let good = std::str::from_utf8(good).unwrap_or_default();
        let line_start = good.rfind('\n').map_or(0, |i| i + 1);
        ReadError::NotText {
            path: path.to_path_buf(),
            what,
            line: good.matches('\n').count() + 1,
            column: good[line_start..].chars().count() + 1,
        }
    })
}

/// [`read_bounded`], as UTF-8 text.
pub fn read_bounded_string(
    path: &Path,
    limit: usize,
    what: &'static str,
) -> Result<String, ReadError> {
    into_text(read_bounded(path, limit, what)?, path, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rampart-bounded-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    #[test]
    fn a_file_is_read_up_to_its_limit_and_refused_past_it() {
        let d = tmp("limit");
        let p = d.join("policy.cfg");
        std::fs::write(&p, "x".repeat(10)).expect("write");
        assert_eq!(
            read_bounded_string(&p, 10, "policy").expect("read").len(),
            10
        );
        let e = read_bounded(&p, 9, "policy").expect_err("too large");
        assert_eq!(
            e.to_string(),
            format!("{}: over 9 bytes, the most a policy may be", p.display())
        );
        assert_eq!(e.reason(), "over 9 bytes, the most a policy may be");
        std::fs::write(&p, b"\xff\xfe").expect("write");
        assert!(matches!(
            read_bounded_string(&p, 10, "policy"),
            Err(ReadError::NotText {
                line: 1,
                column: 1,
                ..
            })
        ));
        assert!(matches!(
            read_bounded(&d.join("missing"), 10, "policy"),
            Err(ReadError::Io { .. })
        ));
        std::fs::remove_dir_all(&d).expect("clean");
    }

    /// `/dev/zero` never ends and a FIFO without a writer never answers:
    /// both are refused at once, as is a directory.
    #[test]
    fn devices_fifos_and_directories_are_refused_without_reading() {
        let e = read_bounded(Path::new("/dev/zero"), 1 << 20, "policy").expect_err("device");
        assert_eq!(
            e.to_string(),
            "/dev/zero: is a character device, not a regular file; a policy is read only \
             from a regular file"
        );
        let d = tmp("fifo");
        let fifo = d.join("node.toml");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        assert!(matches!(
            read_bounded(&fifo, 1 << 20, "node file"),
            Err(ReadError::NotRegular { kind: "FIFO", .. })
        ));
        assert!(matches!(
            read_bounded(&d, 1 << 20, "node file"),
            Err(ReadError::NotRegular {
                kind: "directory",
                ..
            })
        ));
        std::fs::remove_dir_all(&d).expect("clean");
    }

    /// The first byte that is not UTF-8 is named by line and column
    /// (characters, from 1), as the parsers name a line they refuse.
    #[test]
    fn text_that_is_not_utf8_is_refused_at_its_line_and_column() {
        let d = tmp("utf8");
        let p = d.join("node.toml");
        std::fs::write(&p, b"[node]\nname = \"f\xc3\xa9\xff\"\n").expect("write");
        let e = read_bounded_string(&p, 100, "node file").expect_err("not text");
        assert_eq!(
            e.to_string(),
            format!(
                "{}: a node file is UTF-8 text, and this file is not (line 2, column 11)",
                p.display()
            )
        );
        std::fs::remove_dir_all(&d).expect("clean");
    }

    /// Open events on `path`, seen through inotify(7) while `f` runs.
    fn opens_during(path: &Path, f: impl FnOnce()) -> usize {
        // SAFETY: plain system calls on a descriptor this function owns.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        assert!(fd >= 0, "inotify_init1");
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid descriptor and NUL-terminated path.
        let w = unsafe { libc::inotify_add_watch(fd, c.as_ptr(), libc::IN_OPEN) };
        assert!(w >= 0, "inotify_add_watch");
        f();
        let mut buf = [0u8; 4096];
        // SAFETY: reading into a buffer of the length given.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        // SAFETY: closing the descriptor opened above.
        unsafe { libc::close(fd) };
        // Each event is a struct inotify_event with no name (a watched
        // file, not a directory).
        usize::try_from(n).unwrap_or(0) / std::mem::size_of::<libc::inotify_event>()
    }

    /// A device is refused from its kind alone: opening one may act (a
    /// watchdog arms on open), so it is never opened. Shown on a twin of
    /// `/dev/null` (harmless) made here, so no other process's opens are
    /// counted; a regular file beside it is opened once.
    #[test]
    fn a_device_is_refused_without_being_opened() {
        let d = tmp("device");
        let null = d.join("null");
        let c = std::ffi::CString::new(null.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path; /dev/null is char 1:3.
        let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 3)) };
        assert_eq!(made, 0, "mknod needs root: {}", io::Error::last_os_error());
        let opens = opens_during(&null, || {
            for follow in [true, false] {
                assert!(matches!(
                    open_regular(&null, "policy", follow),
                    Err(ReadError::NotRegular {
                        kind: "character device",
                        ..
                    })
                ));
            }
        });
        assert_eq!(opens, 0, "the device was opened");
        let file = d.join("policy.cfg");
        std::fs::write(&file, "! a policy\n").expect("write");
        assert_eq!(
            opens_during(&file, || {
                read_bounded(&file, 100, "policy").expect("read");
            }),
            1
        );
        std::fs::remove_dir_all(&d).expect("clean");
    }

    /// Without following, a link is refused, naming the fix.
    #[test]
    fn a_link_is_refused_where_links_are_not_followed() {
        let d = tmp("link");
        let target = d.join("target");
        std::fs::write(&target, "x").expect("write");
        let link = d.join("key");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let e = open_regular(&link, "TLS private key", false).expect_err("a link");
        assert_eq!(
            e.to_string(),
            format!(
                "{}: is a symbolic link; a TLS private key is opened only by its own name, not \
                 through a link (name the file it points to)",
                link.display()
            )
        );
        assert!(open_regular(&link, "policy", true).is_ok());
        std::fs::remove_dir_all(&d).expect("clean");
    }
}
