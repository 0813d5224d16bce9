//! A store a node wrote, with any one 4 KiB page zeroed or set to 0xff:
//! every read a start does before Raft runs (the cluster id, the state
//! machine, the log's order, the vote) refuses it with an error that says
//! to move `raft/` aside, or reads it; never a panic. Before, only opening
//! the database ran under the guard against the library's panics; a review
//! saw a later read panic (exit 101) on a store with pages zeroed. This
//! sweep did not meet that panic (`store.rs`'s unit test covers the guard).

// Tests wait on real sockets with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::raft_lab::{Lab, data_dir, policy};
use rampart_cluster::raft::{STORE_FILE, check_store_at_start};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn damage_to_any_page_never_panics_a_start() {
    let (mut lab, leader) = Lab::formed_and_written("damage-start", 3).await;
    for port in 7003..7013 {
        lab.node(leader).write(&policy(port)).await.expect("write");
    }
    let src = data_dir(&lab, leader);
    lab.stop(leader).await;
    let good = std::fs::read(src.join(STORE_FILE)).expect("read");
    let work = src.with_extension("damaged");
    let mut panicked = Vec::new();
    let mut refused = 0;
    for fill in [0u8, 0xff] {
        for at in (0..good.len()).step_by(4096) {
            let mut bad = good.clone();
            let end = (at + 4096).min(bad.len());
            bad[at..end].fill(fill);
            let _ = std::fs::remove_dir_all(&work);
            std::fs::create_dir_all(&work).expect("dir");
            std::fs::write(work.join(STORE_FILE), &bad).expect("write");
            let d = work.clone();
            match tokio::spawn(async move { check_store_at_start(&d).await }).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    let text = e.to_string();
                    assert!(text.contains("raft.redb"), "{text}");
                    refused += 1;
                }
                Err(_) => panicked.push((fill, at)),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    lab.shutdown().await;
    assert!(panicked.is_empty(), "a start panicked for {panicked:?}");
    assert!(refused > 0, "no damage was noticed at all");
}

/// A store cut short (a disk that filled, a copy that stopped) is refused
/// with the library's word once and what to do, not the library's text
/// alone (and twice: as the error and as its cause).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_truncated_store_is_refused_with_advice_once() {
    let (mut lab, leader) = Lab::formed_and_written("truncated", 3).await;
    let src = data_dir(&lab, leader);
    lab.stop(leader).await;
    let good = std::fs::read(src.join(STORE_FILE)).expect("read");
    for len in [good.len() / 2, 4096, 100] {
        let work = src.with_extension(format!("cut-{len}"));
        std::fs::create_dir_all(&work).expect("dir");
        std::fs::write(work.join(STORE_FILE), &good[..len]).expect("write");
        let e = check_store_at_start(&work).await.expect_err("refused");
        let text = e.to_string();
        assert!(text.contains("the store is corrupt"), "{text}");
        assert_eq!(text.matches("aside").count(), 1, "{text}");
        assert!(
            std::error::Error::source(&e).is_none(),
            "the cause is in the text already: {text}"
        );
        let _ = std::fs::remove_dir_all(&work);
    }
    lab.shutdown().await;
}
