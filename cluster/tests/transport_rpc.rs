//! RPCs on the sync transport: one bidirectional stream per call on the
//! verified connection, with the service, size, busy and timeout rules,
//! beside ordered sync frames; and members added and removed at run time.

// Tests wait on real sockets with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use rampart_cluster::pki::{self, NodeTls};
use rampart_cluster::transport::{
    LinkState, PeerSpec, RPC_MAX_MESSAGE_BYTES, RpcError, Transport, TransportConfig,
    TransportEvent,
};
use tokio::sync::mpsc;

const SERVICE: u8 = 7;

/// How long the test waits for a call that should time out on its own
/// before calling it hung: a bound far above any plausible time, not a
/// timing claim (the slow handler answers only after it).
const HANG_GUARD: Duration = Duration::from_secs(60);

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-rpc-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn node_tls(ca_dir: &Path, id: u16) -> NodeTls {
    let issued = pki::issue_node_cert(ca_dir, id, &format!("fw-{id}"), ca_dir).expect("issue");
    NodeTls::load(&ca_dir.join(pki::CA_CERT), &issued.cert, &issued.key).expect("load")
}

fn free_addr() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr")
}

fn cfg(id: u16, listen: SocketAddr, peers: &[(u16, SocketAddr)]) -> TransportConfig {
    let peers = peers
        .iter()
        .map(|&(pid, address)| PeerSpec {
            id: pid,
            name: format!("fw-{pid}"),
            address,
        })
        .collect();
    let mut c = TransportConfig::new(id, listen, peers);
    c.idle_timeout = Duration::from_secs(1);
    c.keep_alive = Duration::from_millis(200);
    c
}

async fn next(rx: &mut mpsc::Receiver<TransportEvent>) -> TransportEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("event in time")
        .expect("channel open")
}

/// The id of the next connection to `want` that comes up.
async fn wait_up(rx: &mut mpsc::Receiver<TransportEvent>, want: u16) -> u64 {
    loop {
        if let TransportEvent::Up { peer, conn } = next(rx).await
            && peer == want
        {
            return conn;
        }
    }
}

type Events = mpsc::Receiver<TransportEvent>;

/// Nodes 1 and 2 under a new CA in `dir`, connected to each other, with
/// node 1's id for its connection to node 2.
async fn connected_pair(dir: &Path) -> (Transport, Events, Transport, Events, u64) {
    pki::init_ca(dir).expect("ca");
    let (a_addr, b_addr) = (free_addr(), free_addr());
    let (a, mut arx) =
        Transport::start(cfg(1, a_addr, &[(2, b_addr)]), node_tls(dir, 1)).expect("a");
    let (b, mut brx) =
        Transport::start(cfg(2, b_addr, &[(1, a_addr)]), node_tls(dir, 2)).expect("b");
    let a_conn = wait_up(&mut arx, 2).await;
    wait_up(&mut brx, 1).await;
    (a, arx, b, brx, a_conn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_round_trip_beside_sync_frames_and_fail_clearly() {
    let dir = tmp("pair");
    let (a, mut arx, b, mut brx, a_conn) = connected_pair(&dir).await;
    let t = Duration::from_secs(2);

    // Before B serves the service, A is told so (and treats it as down).
    let e = a
        .rpc(2, SERVICE, Bytes::from_static(b"ping"), t)
        .await
        .expect_err("not served yet");
    assert_eq!(
        e,
        RpcError::NoService {
            peer: 2,
            service: SERVICE
        }
    );
    assert!(e.is_unreachable());

    // B answers each call with the caller's id and the request reversed.
    let mut calls = b.serve_rpcs(SERVICE);
    let server = tokio::spawn(async move {
        while let Some(call) = calls.recv().await {
            match call.request.as_ref() {
                b"drop" => drop(call),
                // Never answered while the test runs: a caller that does
                // not keep to its own timeout would wait for good.
                b"slow" => {
                    tokio::spawn(async move {
                        tokio::time::sleep(HANG_GUARD).await;
                        call.reply(Bytes::new());
                    });
                }
                req => {
                    let mut out = vec![u8::try_from(call.peer).expect("small id")];
                    out.extend(req.iter().rev());
                    call.reply(Bytes::from(out));
                }
            }
        }
    });
    // Sync frames flow while calls are in flight.
    for i in 0u32..1000 {
        a.send(2, a_conn, Bytes::from(i.to_be_bytes().to_vec()))
            .expect("frame");
    }
    let mut handles = Vec::new();
    for i in 0u8..50 {
        let a = a.clone();
        handles.push(tokio::spawn(async move {
            a.rpc(2, SERVICE, Bytes::from(vec![i, 1, 2]), t).await
        }));
    }
    for (i, h) in handles.into_iter().enumerate() {
        let reply = h.await.expect("task").expect("reply");
        assert_eq!(reply.as_ref(), &[1, 2, 1, i as u8]);
    }
    let mut want = 0u32;
    while want < 1000 {
        if let TransportEvent::Frame { frame, .. } = next(&mut brx).await {
            assert_eq!(frame.as_ref(), want.to_be_bytes());
            want += 1;
        }
    }

    // A large request (within the limit) arrives whole.
    let big = Bytes::from(vec![9u8; 3 << 20]);
    let reply = a.rpc(2, SERVICE, big, t).await.expect("big");
    assert_eq!(reply.len(), (3 << 20) + 1);

    // Failures, each with its cause.
    assert_eq!(
        a.rpc(2, SERVICE, Bytes::from_static(b"drop"), t).await,
        Err(RpcError::HandlerFailed(2))
    );
    let e = tokio::time::timeout(
        HANG_GUARD,
        a.rpc(
            2,
            SERVICE,
            Bytes::from_static(b"slow"),
            Duration::from_millis(300),
        ),
    )
    .await
    .expect("the call kept to its 300 ms timeout, not waiting for an answer that never comes")
    .expect_err("slow");
    assert!(
        matches!(
            e,
            RpcError::Timeout {
                peer: 2,
                timeout_ms: 300
            }
        ),
        "{e}"
    );
    assert_eq!(
        a.rpc(9, SERVICE, Bytes::new(), t).await,
        Err(RpcError::NotConnected(9))
    );
    let too_big = Bytes::from(vec![0u8; RPC_MAX_MESSAGE_BYTES + 1]);
    assert!(matches!(
        a.rpc(2, SERVICE, too_big, t).await,
        Err(RpcError::RequestTooLarge { .. })
    ));
    assert!(matches!(
        a.rpc(2, SERVICE + 1, Bytes::new(), t).await,
        Err(RpcError::NoService { .. })
    ));
    // Calls go both ways on the one connection.
    let mut a_calls = a.serve_rpcs(SERVICE);
    let b2 = b.clone();
    let call = tokio::spawn(async move { b2.rpc(1, SERVICE, Bytes::from_static(b"hi"), t).await });
    let incoming = tokio::time::timeout(t, a_calls.recv())
        .await
        .expect("call in time")
        .expect("call");
    assert_eq!(incoming.peer, 2);
    incoming.reply(Bytes::from_static(b"hello"));
    assert_eq!(call.await.expect("task").expect("reply").as_ref(), b"hello");

    let ca = a.counters();
    assert!(ca.rpcs_sent.load(std::sync::atomic::Ordering::Relaxed) >= 55);
    assert!(
        b.counters()
            .rpcs_received
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 54
    );

    // B goes away: calls fail at once as not connected.
    b.shutdown().await;
    server.abort();
    loop {
        if let TransportEvent::Down { peer: 2, .. } = next(&mut arx).await {
            break;
        }
    }
    assert_eq!(
        a.rpc(2, SERVICE, Bytes::new(), t).await,
        Err(RpcError::NotConnected(2))
    );
    a.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Nodes that are in no configuration file are added at run time (as a
/// Raft join does), then removed: their connections close and they are
/// refused from then on. A (id 2) dials the higher id 3 once added and
/// accepts the lower id 1 once added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_added_and_removed_at_run_time() {
    use std::sync::atomic::Ordering::Relaxed;
    let dir = tmp("members");
    pki::init_ca(&dir).expect("ca");
    let (a_addr, low_addr, high_addr) = (free_addr(), free_addr(), free_addr());
    let (a, mut arx) = Transport::start(cfg(2, a_addr, &[]), node_tls(&dir, 2)).expect("a");
    let (low, mut lrx) =
        Transport::start(cfg(1, low_addr, &[(2, a_addr)]), node_tls(&dir, 1)).expect("low");
    let (high, mut hrx) =
        Transport::start(cfg(3, high_addr, &[(2, a_addr)]), node_tls(&dir, 3)).expect("high");
    assert!(a.peer_states().is_empty());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(arx.try_recv().is_err(), "no connection before the adds");
    assert!(
        a.counters().refused_unknown_peer.load(Relaxed) >= 1,
        "node 1 dialled and was refused"
    );

    for (id, address) in [(1, low_addr), (3, high_addr)] {
        let spec = PeerSpec {
            id,
            name: format!("fw-{id}"),
            address,
        };
        assert!(a.add_peer(spec.clone()).expect("add"));
        assert!(!a.add_peer(spec).expect("add again"), "already a member");
    }
    assert!(
        a.add_peer(PeerSpec {
            id: 2,
            name: "me".into(),
            address: a_addr
        })
        .is_err()
    );
    let mut up = Vec::new();
    while up.len() < 2 {
        if let TransportEvent::Up { peer, conn } = next(&mut arx).await {
            up.push((peer, conn));
        }
    }
    up.sort_unstable();
    assert_eq!(up.iter().map(|u| u.0).collect::<Vec<_>>(), vec![1, 3]);
    wait_up(&mut lrx, 2).await;
    wait_up(&mut hrx, 2).await;
    assert_eq!(
        a.peer_states(),
        vec![(1, LinkState::Up), (3, LinkState::Up)]
    );
    a.send(3, up[1].1, Bytes::from_static(b"hello"))
        .expect("send");
    loop {
        if let TransportEvent::Frame { frame, .. } = next(&mut hrx).await {
            assert_eq!(frame.as_ref(), b"hello");
            break;
        }
    }

    let linked = |t: &Transport| t.link_stats().iter().map(|l| l.0).collect::<Vec<_>>();
    assert_eq!(linked(&a), [1, 3], "both links' figures before the removal");
    let refused_before = a.counters().refused_unknown_peer.load(Relaxed);
    assert!(a.remove_peer(1));
    assert!(a.remove_peer(3));
    assert!(!a.remove_peer(3));
    let mut down = Vec::new();
    while down.len() < 2 {
        if let TransportEvent::Down { peer, .. } = next(&mut arx).await {
            down.push(peer);
        }
    }
    assert!(a.peer_states().is_empty());
    // Their links' totals went with them: a member added back under the
    // id starts from zero, not from the old totals.
    assert_eq!(
        linked(&a),
        Vec::<u16>::new(),
        "removed members' link figures"
    );
    // Node 1 redials (A is in its configuration) and is refused; A no
    // longer dials node 3.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(a.counters().refused_unknown_peer.load(Relaxed) > refused_before);
    assert!(a.send(1, up[0].1, Bytes::from_static(b"x")).is_err());
    assert!(a.send(3, up[1].1, Bytes::from_static(b"x")).is_err());
    while let Ok(ev) = arx.try_recv() {
        assert!(
            !matches!(ev, TransportEvent::Up { .. }),
            "a removed peer came back"
        );
    }
    for t in [&a, &low, &high] {
        t.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A member removed while it has no connection is reported as removed
/// even when the event channel is full at that moment: the report waits
/// for room instead of being dropped (the sync protocol forgets a member
/// only on that report).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removals_without_a_connection_are_reported_when_the_channel_is_full() {
    let dir = tmp("removals");
    pki::init_ca(&dir).expect("ca");
    let mut c = cfg(2, free_addr(), &[]);
    c.inbound_queue_frames = 16;
    let (a, mut arx) = Transport::start(c, node_tls(&dir, 2)).expect("a");
    // Forty members nobody answers for: no connection ever comes up, so
    // nothing else reaches the channel, which holds sixteen events.
    let ids: Vec<u16> = (100..140).collect();
    for &id in &ids {
        let spec = PeerSpec {
            id,
            name: format!("fw-{id}"),
            address: free_addr(),
        };
        assert!(a.add_peer(spec).expect("add"));
    }
    for &id in &ids {
        assert!(a.remove_peer(id));
    }
    let mut removed = Vec::new();
    while removed.len() < ids.len() {
        match next(&mut arx).await {
            TransportEvent::Down {
                peer,
                removed: true,
                ..
            } => removed.push(peer),
            other => panic!("only removals expected, got {other:?}"),
        }
    }
    removed.sort_unstable();
    assert_eq!(removed, ids, "every removal reported once");
    a.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A call of `len` bytes from `a` to node 2, under way.
fn call_of(a: &Transport, len: usize) -> tokio::task::JoinHandle<Result<Bytes, RpcError>> {
    let a = a.clone();
    tokio::spawn(async move {
        a.rpc(
            2,
            SERVICE,
            Bytes::from(vec![7u8; len]),
            Duration::from_secs(20),
        )
        .await
    })
}

/// The next `n` calls of `len` bytes to arrive, held unanswered.
async fn held_calls(
    calls: &mut mpsc::Receiver<rampart_cluster::transport::IncomingRpc>,
    n: usize,
    len: usize,
) -> Vec<rampart_cluster::transport::IncomingRpc> {
    let mut held = Vec::new();
    while held.len() < n {
        let c = tokio::time::timeout(Duration::from_secs(20), calls.recv())
            .await
            .expect("a call in time")
            .expect("service open");
        assert_eq!(c.request.len(), len);
        held.push(c);
    }
    held
}

/// A member's requests in memory at once are bounded in bytes per
/// connection (quinn bounds them to 64 streams, but 64 × 16 MiB is 1 GiB):
/// with three 15 MiB requests waiting on a slow handler, further large
/// ones are refused and counted, and calls go through again once the
/// handler answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_held_in_memory_are_bounded_in_bytes_per_connection() {
    use rampart_cluster::transport::RPC_INBOUND_BUDGET_BYTES;
    use std::sync::atomic::Ordering::Relaxed;
    let dir = tmp("rpc-budget");
    let (a, _arx, b, _brx, _) = connected_pair(&dir).await;
    let mut calls = b.serve_rpcs(SERVICE);
    const LEN: usize = 15 << 20;
    const { assert!(3 * LEN <= RPC_INBOUND_BUDGET_BYTES && 4 * LEN > RPC_INBOUND_BUDGET_BYTES) };
    let call = |a: &Transport| call_of(a, LEN);
    // Three requests arrive and wait on the handler, holding their bytes.
    let first: Vec<_> = (0..3).map(|_| call(&a)).collect();
    let held = held_calls(&mut calls, 3, LEN).await;
    // Two more: no room left in the connection's budget.
    for r in [call(&a), call(&a)] {
        assert!(r.await.expect("task").is_err(), "refused");
    }
    assert!(b.counters().rpcs_refused_budget.load(Relaxed) >= 2);
    for c in held {
        c.reply(Bytes::from_static(b"ok"));
    }
    for r in first {
        assert_eq!(r.await.expect("task").expect("answered").as_ref(), b"ok");
    }
    // The budget is whole again.
    let again = call(&a);
    let c = tokio::time::timeout(Duration::from_secs(20), calls.recv())
        .await
        .expect("in time")
        .expect("open");
    c.reply(Bytes::from_static(b"ok"));
    assert!(again.await.expect("task").is_ok());
    a.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The budget counts the memory a request's buffer holds, not only its
/// bytes: a request of 8 MiB and a byte is read into 16 MiB, so three of
/// them spend the connection's budget and a fourth is refused (counting
/// bytes, five would have been kept, holding 80 MiB against a 48 MiB
/// bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_budget_counts_the_memory_a_request_holds() {
    use rampart_cluster::transport::RPC_INBOUND_BUDGET_BYTES;
    use std::sync::atomic::Ordering::Relaxed;
    let dir = tmp("rpc-budget-capacity");
    let (a, _arx, b, _brx, _) = connected_pair(&dir).await;
    let mut calls = b.serve_rpcs(SERVICE);
    const LEN: usize = (8 << 20) + 1;
    const { assert!(3 * (16 << 20) <= RPC_INBOUND_BUDGET_BYTES && 5 * LEN < RPC_INBOUND_BUDGET_BYTES) };
    let call = |a: &Transport| call_of(a, LEN);
    let first: Vec<_> = (0..3).map(|_| call(&a)).collect();
    let held = held_calls(&mut calls, 3, LEN).await;
    let refused_before = b.counters().rpcs_refused_budget.load(Relaxed);
    assert!(call(&a).await.expect("task").is_err(), "refused");
    assert_eq!(
        b.counters().rpcs_refused_budget.load(Relaxed),
        refused_before + 1
    );
    for c in held {
        c.reply(Bytes::from_static(b"ok"));
    }
    for r in first {
        assert_eq!(r.await.expect("task").expect("answered").as_ref(), b"ok");
    }
    a.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A member known at a stale address (a node file's seed list, after the
/// node was removed and joined again elsewhere) takes the address the
/// Raft membership gives it: the lower id dials the new one and the pair
/// comes up (before, a known id kept its old address for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_given_a_new_address_is_dialled_there() {
    let dir = tmp("moved");
    pki::init_ca(&dir).expect("ca");
    let (a_addr, b_addr, stale) = (free_addr(), free_addr(), free_addr());
    let (a, mut arx) =
        Transport::start(cfg(1, a_addr, &[(2, stale)]), node_tls(&dir, 1)).expect("a");
    let (b, mut brx) =
        Transport::start(cfg(2, b_addr, &[(1, a_addr)]), node_tls(&dir, 2)).expect("b");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !a.peer_states().contains(&(2, LinkState::Up)),
        "not up while node 1 dials the stale address"
    );
    let moved = PeerSpec {
        id: 2,
        name: "fw-2".into(),
        address: b_addr,
    };
    assert!(!a.add_peer(moved).expect("known id"), "not a new member");
    tokio::time::timeout(Duration::from_secs(10), async {
        wait_up(&mut arx, 2).await;
        wait_up(&mut brx, 1).await;
    })
    .await
    .expect("up at the new address");
    a.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A wildcard address (a member that founded the cluster with `listen =
/// "0.0.0.0:…"` records that in the membership) never replaces an address
/// that works: after node 2 restarts, node 1 dials it where it always did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_address_never_replaces_a_dialable_one() {
    let dir = tmp("wildcard");
    let (a, mut arx, b, _brx, _) = connected_pair(&dir).await;
    let b_addr = b.local_addr().expect("bound");
    assert!(
        !a.add_peer(PeerSpec {
            id: 2,
            name: "fw-2".into(),
            address: SocketAddr::from(([0, 0, 0, 0], b_addr.port())),
        })
        .expect("known id")
    );
    b.shutdown().await;
    drop(b);
    // The old endpoint's socket may take a moment to close.
    let a_addr = a.local_addr().expect("bound");
    let mut again = None;
    for _ in 0..50 {
        let tls = NodeTls::load(
            &dir.join(pki::CA_CERT),
            &dir.join("node-2.pem"),
            &dir.join("node-2.key"),
        )
        .expect("node 2's certificate, issued before");
        match Transport::start(cfg(2, b_addr, &[(1, a_addr)]), tls) {
            Ok(t) => {
                again = Some(t);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let (b, mut brx) = again.expect("node 2 starts again at its address");
    tokio::time::timeout(Duration::from_secs(10), async {
        wait_up(&mut brx, 1).await;
        loop {
            if let TransportEvent::Up { peer: 2, .. } = next(&mut arx).await {
                return;
            }
        }
    })
    .await
    .expect("up again at the address that works");
    a.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
