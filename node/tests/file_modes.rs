//! The node's token files get their modes explicitly, not from the umask
//! (docs/ops.md §4): under umask 000 a token the node creates is 0600 in a
//! 0700 directory it creates. Its own binary, since the umask is the
//! process's.

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

#[test]
fn under_umask_000_a_created_token_is_0600_in_a_0700_directory() {
    let root = std::env::temp_dir().join(format!("rampart-node-modes-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    // SAFETY: umask only swaps the process's mask and cannot fail.
    let old = unsafe { libc::umask(0o000) };
    let made = std::panic::catch_unwind(|| {
        let admin = root.join("data/admin.token");
        let read = root.join("data/read/read.token");
        let t = rampart_node::token_file::read_or_create(&admin).unwrap();
        let r = rampart_node::token_file::read_or_create(&read).unwrap();
        (admin, read, t, r)
    });
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let (admin, read, t, r) = made.unwrap_or_else(|p| std::panic::resume_unwind(p));
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
