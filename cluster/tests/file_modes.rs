//! The files and directories the cluster crate creates get their modes
//! explicitly, not from the umask (docs/ops.md §4): under umask 000 a CA
//! directory, a certificate directory and the Raft directory are 0700,
//! private keys and `raft.redb` 0600. The umask is the process's, so these
//! cases live in a binary of their own and take turns.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use rampart_cluster::pki::{CA_CERT, CA_KEY, init_ca, issue_node_cert};
use rampart_cluster::raft::{STORE_FILE, open_store};

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-modes-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

#[path = "support/umask.rs"]
mod umask;
use umask::under_open_umask;

#[test]
fn cluster_init_makes_the_ca_directory_0700_and_its_key_0600() {
    let root = tmp("ca");
    under_open_umask(|| {
        let ca = root.join("pki/ca");
        init_ca(&ca).unwrap();
        assert_eq!(mode(&root.join("pki")), 0o700, "a parent made for the CA");
        assert_eq!(mode(&ca), 0o700, "the CA directory");
        assert_eq!(mode(&ca.join(CA_KEY)), 0o600, "the CA key");
        assert_eq!(
            mode(&ca.join(CA_CERT)),
            0o644,
            "the CA certificate is public"
        );
    });
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn cluster_cert_makes_its_directory_0700_and_the_node_key_0600() {
    let root = tmp("cert");
    // The CA is made under the usual umask: this case is the issue's.
    let ca = root.join("ca");
    init_ca(&ca).unwrap();
    under_open_umask(|| {
        let out = root.join("out/fw-a");
        let issued = issue_node_cert(&ca, 1, "fw-a", &out).unwrap();
        assert_eq!(
            mode(&root.join("out")),
            0o700,
            "a parent made for the certificate"
        );
        assert_eq!(mode(&out), 0o700, "the certificate directory");
        assert_eq!(mode(&issued.key), 0o600, "the node key");
        assert_eq!(mode(&issued.cert), 0o644, "the node certificate is public");
    });
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_raft_store_makes_its_directories_0700_and_raft_redb_0600() {
    let root = tmp("raft");
    under_open_umask(|| {
        let raft = root.join("data/raft");
        let store = open_store(&raft).unwrap();
        assert_eq!(mode(&root.join("data")), 0o700, "the data directory");
        assert_eq!(mode(&raft), 0o700, "the Raft directory");
        assert_eq!(mode(&raft.join(STORE_FILE)), 0o600, "raft.redb");
        drop(store);
    });
    fs::remove_dir_all(&root).unwrap();
}
