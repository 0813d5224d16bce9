//! The shun list's compatibility and bounds: an earlier release cannot
//! read a shun entry (so every node is upgraded before the first `shun`),
//! and a snapshot whose list the log could not have built is refused.
use super::tests::{dir, open, snapshot};
use super::*;
use crate::raft::shuns::{MAX_SHUNS, ShunOp, ShunScope};

/// The log command of the release before the shun (80d6870^): its four
/// variants, as it decodes them.
#[derive(Debug, Deserialize)]
// The earlier release's names, as it declared them.
#[allow(dead_code, clippy::enum_variant_names)]
enum EarlierPolicyCmd {
    SetConfig { text: String },
    SetSeqKey { key: SeqKey },
    SetFirstConfig { text: String },
    SetConfigAt { version: Version, text: String },
}

/// A node of the earlier release cannot decode a `PolicyCmd::Shun` entry:
/// it refuses every AppendEntries that carries one (service.rs `handle`,
/// "undecodable request"), and stops taking the log at that entry.
#[test]
fn an_earlier_release_cannot_decode_a_shun_entry() {
    let set = codec::encode(&PolicyCmd::SetConfig { text: "x".into() }).unwrap();
    assert!(codec::decode::<EarlierPolicyCmd>(&set).is_ok());
    let shun = codec::encode(&PolicyCmd::Shun(ShunOp::Clear)).unwrap();
    assert!(codec::decode::<EarlierPolicyCmd>(&shun).is_err());
}

/// A snapshot whose shun list breaks the log's bounds (more than
/// MAX_SHUNS shuns, an interface name far past MAX_SHUN_IFACE_BYTES) is
/// refused whole: the log's apply could never have built it.
#[tokio::test(flavor = "current_thread")]
async fn a_snapshot_with_a_shun_list_past_the_logs_bounds_is_refused() {
    let d = dir("shun-bounds-src");
    let mut sm = open(&d);
    let mut list: Vec<ShunRecord> = (0..(MAX_SHUNS as u32 * 4))
        .map(|i| ShunRecord {
            source: std::net::IpAddr::from(std::net::Ipv4Addr::from(0xC612_0000 + i)),
            conn: None,
            scope: ShunScope::Any,
            added_unix: 1,
        })
        .collect();
    list.push(ShunRecord {
        source: "198.18.9.9".parse().unwrap(),
        conn: None,
        scope: ShunScope::Interface("x".repeat(200_000)),
        added_unix: 1,
    });
    // (What a member's state machine would hold had it been handed such a
    // list; the builder encodes it as any leader's would.)
    sm.state.shuns = Arc::new(list);
    let snap = snapshot(&mut sm).await;
    let other = dir("shun-bounds-dst");
    let mut sm2 = open(&other);
    let r = sm2.install_snapshot(&snap.meta, snap.snapshot).await;
    assert!(
        r.as_ref()
            .is_err_and(|e| e.to_string().contains("shun list")),
        "{r:?}"
    );
    assert!(
        sm2.subscribe_shuns().borrow().is_empty(),
        "nothing installed"
    );
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::remove_dir_all(&other);
}
