//! The node's files get their modes explicitly, not from the umask
//! (docs/ops.md §4): under umask 000 a token the node creates is 0600 in a
//! 0700 directory it creates, and `rampart cluster policy-key` makes its
//! private key 0600 and its public key 0644. Its own binary, since the
//! umask is the process's. And `rampart run` refuses a data directory
//! another user may change (or point a link to elsewhere) before it reads
//! anything from it, and one another node runs on.

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

/// A node file for `rampart run` in `root` with `data_dir`, on interfaces
/// that do not exist (every refusal here comes before they are opened).
fn node_file(root: &Path, data_dir: &Path) -> std::path::PathBuf {
    let file = root.join("node.toml");
    fs::write(
        &file,
        format!(
            "[node]\nid = 1\nname = \"fw-a\"\ndata_dir = \"{}\"\n\n\
             [[interface]]\nname = \"rampart-none-a\"\nnameif = \"inside\"\nsecurity_level = 100\n\n\
             [[interface]]\nname = \"rampart-none-b\"\nnameif = \"outside\"\nsecurity_level = 0\n",
            data_dir.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    file
}

/// `rampart run --config file`: whether it succeeded, and its stderr.
fn run_node(file: &Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["run", "--config"])
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A data directory named through a link another user owns in a sticky
/// directory (as `/tmp`): that user may point it at their own directory
/// while the node runs, and the node would write `configure`'s policy
/// there and run whatever they put back at the next start. Refused at
/// start, naming the link.
#[test]
fn rampart_run_refuses_a_data_directory_through_a_link_another_user_owns() {
    let root = std::env::temp_dir().join(format!("rampart-node-datalink-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let real = root.join("real");
    fs::create_dir_all(&real).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o700)).unwrap();
    let sticky = root.join("tmp");
    fs::create_dir(&sticky).unwrap();
    fs::set_permissions(&sticky, fs::Permissions::from_mode(0o1777)).unwrap();
    let link = sticky.join("data");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
    let file = node_file(&root, &link);
    let (ok, err) = run_node(&file);
    assert!(!ok, "{err}");
    assert!(
        err.contains(&format!(
            "{}: [node] data_dir: {}: this symbolic link on the way to the data directory is \
             owned by uid 65534, neither root nor the user this runs as (uid 0), who may point it \
             elsewhere at any time; refusing to follow it",
            file.display(),
            link.display()
        )),
        "{err}"
    );
    assert!(
        fs::read_dir(&real).unwrap().next().is_none(),
        "nothing made in it"
    );
    fs::remove_dir_all(&root).unwrap();
}

/// A second node on a data directory a node runs on (the same node file
/// started twice) would bridge the same interfaces and forward every
/// frame twice: refused at start, naming the holder of the lock (here
/// this test, which holds it as a running node does).
#[test]
fn rampart_run_refuses_a_data_directory_another_node_runs_on() {
    let root = std::env::temp_dir().join(format!("rampart-node-datalock-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let data = root.join("data");
    fs::create_dir_all(&data).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&data, fs::Permissions::from_mode(0o700)).unwrap();
    let file = node_file(&root, &data);
    let held = rampart_node::data_lock::lock(&data).unwrap();
    let (ok, err) = run_node(&file);
    assert!(!ok, "{err}");
    assert!(
        err.contains(&format!(
            "{}: [node] data_dir: {}: another process (pid {}) holds this lock: a node runs on \
             the data directory {} already; refusing to start a second one",
            file.display(),
            held.path().display(),
            std::process::id(),
            data.display()
        )),
        "{err}"
    );
    drop(held);
    // Released: the next start gets past the lock (to the interfaces,
    // which do not exist here).
    let (ok, err) = run_node(&file);
    assert!(!ok, "{err}");
    assert!(!err.contains("holds this lock"), "{err}");
    fs::remove_dir_all(&root).unwrap();
}
