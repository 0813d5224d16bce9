//! The policy this node ran last, kept in its data directory
//! (`<data_dir>/applied-policy.cfg`), so that a restart runs it again when
//! the policy its cluster committed last is one this node cannot run.
//!
//! A node without a cluster keeps the policy `configure` applied last the
//! same way, in `<data_dir>/configured-policy.cfg` (cluster `none`): its
//! startup-config, which every start runs in place of the policy file
//! (docs/ops.md §7, `startup_policy.rs`). Each file has its own name so
//! that neither role ever runs the other's policy: a node that joins a
//! cluster runs the cluster's, and one taken out of its cluster does not
//! start on the policy its former cluster committed.
//!
//! The Raft store holds only the latest committed policy. A node that
//! refused it (not signed for its version by the operator's key, or not
//! compiling with this node's interfaces) kept running the one before; a
//! restart must not trade that for its policy file, which may be far older
//! or the built-in security-levels policy (docs/ARCHITECTURE.md §7).
//!
//! The file is written only once a committed policy is in force here
//! (every check passed, the workers took it), so a policy refused for its
//! signature never reaches it. It is written whole under a fresh name
//! beside it (`O_EXCL`), synced, renamed over the old one and the
//! directory synced: a crash leaves the old file or the new one. Mode
//! 0600. It is read as the node's other trusted files are (docs/ops.md
//! §4): refused if another user may change it or a directory above it, and
//! checked again before it runs (signature, compile), as the committed
//! policy would be.
//!
//! ```text
//! ! rampart applied-policy v1 version <N> cluster <id|none>
//! <the committed text, its signature line included>
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rampart_cluster::bounded_read::into_text;
use rampart_cluster::private_files::{SECRET_FILE_MODE, read_trusted, replace_file};
use rampart_cluster::raft::MAX_POLICY_BYTES;

/// The file's name in the data directory.
pub const KEPT_POLICY_FILE: &str = "applied-policy.cfg";

/// The name, in the data directory, of the policy `configure` applied last
/// on a node without a cluster.
pub const CONFIGURED_POLICY_FILE: &str = "configured-policy.cfg";

/// How the first line starts.
const HEADER_PREFIX: &str = "! rampart applied-policy v1 ";

/// The longest first line: the prefix, a version and a cluster id (32 hex
/// digits) with their words, far below this.
const MAX_HEADER_BYTES: usize = 256;

/// A policy as kept: the version it was committed as, the cluster that
/// committed it (`None`: founded before cluster ids) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The committed version.
    pub version: u64,
    /// The cluster id, as `show cluster` prints it.
    pub cluster: Option<String>,
    /// The text as committed.
    pub text: String,
}

/// Where a node keeps the policy it ran last.
#[derive(Debug, Clone)]
pub struct KeptPolicy {
    path: PathBuf,
    /// What the file holds, for errors ("the policy this node ran last").
    what: &'static str,
    /// What the node starts on without the file, for errors.
    instead: &'static str,
}

impl KeptPolicy {
    /// The kept policy of the node whose data directory is `data_dir`.
    pub fn in_data_dir(data_dir: &Path) -> KeptPolicy {
        KeptPolicy {
            path: data_dir.join(KEPT_POLICY_FILE),
            what: "the policy this node ran last",
            instead: "the policy its cluster committed, or its policy file",
        }
    }

    /// The policy `configure` applied last on the node without a cluster
    /// whose data directory is `data_dir`.
    pub fn configured_in(data_dir: &Path) -> KeptPolicy {
        KeptPolicy {
            path: data_dir.join(CONFIGURED_POLICY_FILE),
            what: "the policy `configure` applied last",
            instead: "its policy file (or the built-in policy)",
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keep `kept` in place of what was kept, atomically and durably.
    pub fn save(&self, kept: &Kept) -> std::io::Result<()> {
        let cluster = kept.cluster.as_deref().unwrap_or("none");
        let mut data = format!(
            "{HEADER_PREFIX}version {} cluster {cluster}\n",
            kept.version
        );
        data.push_str(&kept.text);
        replace_file(&self.path, data.as_bytes(), SECRET_FILE_MODE)
    }

    /// The kept policy; `None` if none was kept. A file another user may
    /// change (or its directory) is an error, and so is one not in this
    /// format: the node does not start on a file it cannot trust.
    pub fn load(&self) -> anyhow::Result<Option<Kept>> {
        let path = &self.path;
        if std::fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        {
            return Ok(None);
        }
        let text = read_trusted(path, MAX_POLICY_BYTES + MAX_HEADER_BYTES, "kept policy")
            .and_then(|b| Ok(into_text(b, path, "kept policy")?))
            .with_context(|| format!("reading {}", self.what))?;
        parse(&text).map(Some).with_context(|| {
            format!(
                "{}: not a kept policy (move it aside: the node then starts on {})",
                path.display(),
                self.instead
            )
        })
    }
}

/// The kept policy in `text`.
fn parse(text: &str) -> anyhow::Result<Kept> {
    let (header, body) = text.split_once('\n').context("no header line")?;
    let words: Vec<&str> = header
        .strip_prefix(HEADER_PREFIX)
        .context("the header line is not this format's")?
        .split(' ')
        .collect();
    let ["version", version, "cluster", cluster] = words[..] else {
        anyhow::bail!("malformed header line");
    };
    Ok(Kept {
        version: version.parse().context("malformed version")?,
        cluster: (cluster != "none").then(|| cluster.to_string()),
        text: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rampart-kept-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        d
    }

    const TEXT: &str = "access-list A extended permit tcp any any eq 22\n\
                        ! rampart-signature v1 4 00\n";

    #[test]
    fn a_kept_policy_reads_back_as_written_and_replaces_the_last() {
        let d = dir("round");
        let k = KeptPolicy::in_data_dir(&d);
        assert_eq!(k.load().unwrap(), None, "nothing kept yet");
        let first = Kept {
            version: 3,
            cluster: Some("5a5a".into()),
            text: "! the text\n".into(),
        };
        k.save(&first).unwrap();
        assert_eq!(k.load().unwrap(), Some(first));
        let second = Kept {
            version: 4,
            cluster: None,
            text: TEXT.into(),
        };
        k.save(&second).unwrap();
        assert_eq!(k.load().unwrap(), Some(second));
        let mode = std::fs::metadata(k.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Nothing left beside it.
        let names: Vec<_> = std::fs::read_dir(&d).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A kept policy others may change is refused, as every trusted file
    /// (docs/ops.md §4), and so is one that is not in its format.
    #[test]
    fn a_kept_policy_others_may_change_or_not_in_format_is_refused() {
        let d = dir("trust");
        let k = KeptPolicy::in_data_dir(&d);
        k.save(&Kept {
            version: 2,
            cluster: None,
            text: TEXT.into(),
        })
        .unwrap();
        std::fs::set_permissions(k.path(), std::fs::Permissions::from_mode(0o620)).unwrap();
        let e = format!("{:#}", k.load().unwrap_err());
        assert!(e.contains("group or others may change it"), "{e}");
        std::fs::set_permissions(k.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::lchown(k.path(), Some(65533), None).unwrap();
        let e = format!("{:#}", k.load().unwrap_err());
        assert!(e.contains("is owned by uid 65533"), "{e}");
        std::fs::remove_file(k.path()).unwrap();
        std::fs::write(k.path(), TEXT).unwrap();
        std::fs::set_permissions(k.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = format!("{:#}", k.load().unwrap_err());
        assert!(e.contains("not a kept policy"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
