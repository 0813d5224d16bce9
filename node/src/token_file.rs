//! The node's token files: the admin token that changes need and the
//! optional read token (docs/ops.md §3, §4). A token is one line of
//! printable ASCII, since it travels in an HTTP header; the node creates a
//! missing one with random bytes, mode 0600, in a 0700 directory it
//! creates, and refuses one that group or others may access.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use rampart_cluster::bounded_read::{ReadError, read_bounded};
use rampart_cluster::private_files::{check_secret, create_private_dir_all, create_secret_file};

/// Bytes of randomness in a generated token.
const TOKEN_BYTES: usize = 32;

/// Longest token file read: a generated token is 64 hex digits and a
/// newline; anything near this is not a token.
pub const MAX_TOKEN_FILE_BYTES: usize = 4096;

/// Read a token file (the admin or the read token): one line of printable
/// ASCII, since it travels in an HTTP header. Errors name the file and
/// never show its content.
pub fn read(path: &Path) -> anyhow::Result<String> {
    let buf = match read_bounded(path, MAX_TOKEN_FILE_BYTES, "token file") {
        Ok(b) => b,
        Err(ReadError::TooLarge { .. }) => anyhow::bail!(
            "{}: the token file is over {MAX_TOKEN_FILE_BYTES} bytes; a token is one line of printable ASCII",
            path.display()
        ),
        Err(e) => return Err(e).context("reading the token file"),
    };
    let text = String::from_utf8_lossy(&buf);
    let t = text.trim();
    if t.is_empty() {
        anyhow::bail!("{}: the token file is empty", path.display());
    }
    if !t.bytes().all(|b| b.is_ascii_graphic()) {
        anyhow::bail!(
            "{}: the token holds characters other than printable ASCII (spaces, control \
             characters or non-ASCII); it must fit in an HTTP header",
            path.display()
        );
    }
    Ok(t.to_string())
}

/// Read a token file of the node (the admin or the read token), refusing
/// one that group or others may access, or create it with a fresh random
/// token if it does not exist: mode 0600, in directories it creates 0700,
/// both set explicitly whatever the umask.
pub fn read_or_create(path: &Path) -> anyhow::Result<String> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => {
            check_secret(path, "token")?;
            return read(path);
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("reading the token file {}", path.display()));
        }
        Err(_) => {}
    }
    let mut bytes = [0u8; TOKEN_BYTES];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for a token")?;
    let fresh: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(dir) = path.parent() {
        create_private_dir_all(dir)
            .with_context(|| format!("creating {} for a token", dir.display()))?;
    }
    let mut f = match create_secret_file(path) {
        Ok(f) => f,
        // Another node sharing the data dir made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::thread::sleep(Duration::from_millis(50));
            return read_or_create(path);
        }
        Err(e) => {
            return Err(e).with_context(|| format!("creating the token file {}", path.display()));
        }
    };
    writeln!(f, "{fresh}").with_context(|| format!("writing {}", path.display()))?;
    Ok(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_are_one_bounded_line_of_printable_ascii() {
        let dir = std::env::temp_dir().join(format!("rampart-token-read-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t");
        std::fs::write(&path, "  abc-123_XYZ\n").unwrap();
        assert_eq!(read(&path).unwrap(), "abc-123_XYZ");
        let huge = "a".repeat(10 << 20);
        std::fs::write(&path, &huge).unwrap();
        let e = format!("{:#}", read(&path).unwrap_err());
        assert!(
            e.ends_with(
                "the token file is over 4096 bytes; a token is one line of printable ASCII"
            ),
            "{e}"
        );
        assert!(e.len() < 300, "the error does not echo the token");
        std::fs::write(&path, "ab\x1b[2Jcd").unwrap();
        let e = format!("{:#}", read(&path).unwrap_err());
        assert!(e.contains("printable ASCII") && !e.contains('\x1b'), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_token_that_group_or_others_may_read_is_refused_with_its_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("rampart-token-open-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("admin.token");
        std::fs::write(&path, "0123abcd\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = format!("{:#}", read_or_create(&path).unwrap_err());
        assert_eq!(
            e,
            format!(
                "{0}: this token has mode 0644, so group or others may read or change it; \
                 refusing to use it (make it the owner's only: chmod 600 {0})",
                path.display()
            )
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_or_create(&path).unwrap(), "0123abcd");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_token_is_created_once_owner_only_and_then_read() {
        let dir = std::env::temp_dir().join(format!("rampart-token-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/admin.token");
        let t = read_or_create(&path).unwrap();
        assert_eq!(t.len(), TOKEN_BYTES * 2);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read_or_create(&path).unwrap(), t);
        std::fs::write(&path, "  \n").unwrap();
        assert!(
            read_or_create(&path).is_err(),
            "an empty token file is refused"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
