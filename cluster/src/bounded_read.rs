//! Reading a file an operator names (the node file, the policy, keys and
//! certificates, token files) without trusting its size or its kind: at
//! most a named number of bytes, and only from a regular file. Without
//! both, `policy = "/dev/zero"` in a node file would fill the memory at
//! start, and a FIFO would hold the start until someone wrote to it.
//!
//! The errors name the file, what it was to hold and the limit; they never
//! quote the content (a token file's is a secret).

use std::fs::OpenOptions;
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
    /// Not UTF-8 where text was expected.
    #[error("{}: a {what} is UTF-8 text, and this file is not", .path.display())]
    NotText {
        /// The file.
        path: PathBuf,
        /// What it was to hold.
        what: &'static str,
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

/// Read at most `limit` bytes of the regular file `path`, which holds a
/// `what` (`node file`, `policy`, `PEM file`, …); a longer file is an
/// error, not a truncated read.
pub fn read_bounded(path: &Path, limit: usize, what: &'static str) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Non-blocking, since opening a FIFO to read waits for a writer; the
    // kind is then read from the open file, so a file swapped in between
    // is seen for what it is. A regular file's reads ignore the flag.
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let t = f.metadata().map_err(io)?.file_type();
    if !t.is_file() {
        return Err(ReadError::NotRegular {
            path: path.to_path_buf(),
            what,
            kind: kind(t),
        });
    }
    let mut buf = Vec::new();
    f.take(limit as u64 + 1).read_to_end(&mut buf).map_err(io)?;
    if buf.len() > limit {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            what,
            limit,
        });
    }
    Ok(buf)
}

/// [`read_bounded`], as UTF-8 text.
pub fn read_bounded_string(
    path: &Path,
    limit: usize,
    what: &'static str,
) -> Result<String, ReadError> {
    String::from_utf8(read_bounded(path, limit, what)?).map_err(|_| ReadError::NotText {
        path: path.to_path_buf(),
        what,
    })
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
            Err(ReadError::NotText { .. })
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
}
