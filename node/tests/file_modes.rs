//! The node's files get their modes explicitly, not from the umask
//! (docs/ops.md §4): under umask 000 a token the node creates is 0600 in a
//! 0700 directory it creates, and `rampart cluster policy-key` makes its
//! private key 0600 and its public key 0644. Its own binary, since the
//! umask is the process's. And `rampart run` refuses a data directory
//! another user may change before it reads anything from it.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[path = "../../cluster/tests/support/umask.rs"]
mod umask;
use umask::under_open_umask;

#[test]
fn under_umask_000_policy_key_makes_0600_and_0644_in_a_0700_directory() {
    let root = std::env::temp_dir().join(format!("rampart-node-keymodes-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let dir = root.join("keys/op");
    let (key, public) = under_open_umask(|| rampart_node::policy_sig::generate(&dir).unwrap());
    assert_eq!(
        mode(&root.join("keys")),
        0o700,
        "a parent made for the keys"
    );
    assert_eq!(mode(&dir), 0o700, "the key directory");
    assert_eq!(mode(&key), 0o600, "the private key");
    assert_eq!(mode(&public), 0o644, "the public key");
    rampart_node::policy_sig::Signer::load(&public).unwrap();
    fs::remove_dir_all(&root).unwrap();
}

/// A data directory others may write to: the node refuses it at start,
/// naming it and the fix, before it reads the admin token someone else
/// planted there (or writes a table dump into it).
#[test]
fn rampart_run_refuses_a_data_directory_others_may_write() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = std::env::temp_dir().join(format!("rampart-node-datadir-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let data = root.join("data");
    fs::create_dir_all(&data).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&data, fs::Permissions::from_mode(0o777)).unwrap();
    let token = data.join("admin.token");
    fs::write(&token, "planted\n").unwrap();
    fs::set_permissions(&token, fs::Permissions::from_mode(0o600)).unwrap();
    let file = root.join("node.toml");
    fs::write(
        &file,
        "[node]\nid = 1\nname = \"fw-a\"\ndata_dir = \"data\"\n\n\
         [[interface]]\nname = \"rampart-none-a\"\nnameif = \"inside\"\nsecurity_level = 100\n\n\
         [[interface]]\nname = \"rampart-none-b\"\nnameif = \"outside\"\nsecurity_level = 0\n\n\
         [ops]\nadmin = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    // Set, not left to the umask another test here may have opened.
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["run", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "{0}: [node] data_dir: {1}: this data directory has mode 0777, so group or others \
             may change it; refusing to trust it (take their write access away: chmod go-w {1})",
            file.display(),
            data.display()
        )),
        "{err}"
    );
    fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn under_umask_000_a_created_token_is_0600_in_a_0700_directory() {
    let root = std::env::temp_dir().join(format!("rampart-node-modes-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let (admin, read, t, r) = under_open_umask(|| {
        let admin = root.join("data/admin.token");
        let read = root.join("data/read/read.token");
        let t = rampart_node::token_file::read_or_create(&admin).unwrap();
        let r = rampart_node::token_file::read_or_create(&read).unwrap();
        (admin, read, t, r)
    });
    assert_eq!(mode(&root.join("data")), 0o700, "the data directory");
    assert_eq!(mode(&admin), 0o600, "the admin token");
    assert_eq!(
        mode(&root.join("data/read")),
        0o700,
        "the read token's directory"
    );
    assert_eq!(mode(&read), 0o600, "the read token");
    assert_ne!(t, r);
    fs::remove_dir_all(&root).unwrap();
}
