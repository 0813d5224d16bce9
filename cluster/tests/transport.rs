//! The QUIC transport on loopback: mutual TLS against the cluster CA,
//! identity checks, ordered frames, reconnects, and refusal of peers and
//! frames that break the rules (among them a peer of another major version
//! of the sync wire).

// Tests wait on real sockets with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use rampart_cluster::pki::{self, NodeTls};
use rampart_cluster::sync::wire::{WIRE_VERSION, WireVersion};
use rampart_cluster::transport::{ALPN_SYNC, PeerSpec, Transport, TransportConfig, TransportEvent};
use tokio::sync::mpsc;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-transport-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn node_tls(ca_dir: &Path, id: u16) -> NodeTls {
    let issued = pki::issue_node_cert(ca_dir, id, &format!("fw-{id}"), ca_dir).expect("issue");
    NodeTls::load(&ca_dir.join(pki::CA_CERT), &issued.cert, &issued.key).expect("load")
}

fn cfg(id: u16, peers: &[(u16, SocketAddr)]) -> TransportConfig {
    let peers = peers
        .iter()
        .map(|&(pid, address)| PeerSpec {
            id: pid,
            name: format!("fw-{pid}"),
            address,
        })
        .collect();
    let mut c = TransportConfig::new(id, "127.0.0.1:0".parse().expect("addr"), peers);
    c.idle_timeout = Duration::from_secs(1);
    c.keep_alive = Duration::from_millis(200);
    c
}

/// Nodes 1 and 2, each listening on a free loopback port and naming the
/// other as its peer.
fn pair_cfgs() -> (TransportConfig, TransportConfig) {
    let (a_addr, b_addr) = (free_addr(), free_addr());
    let mut ca = cfg(1, &[(2, b_addr)]);
    ca.listen = a_addr;
    let mut cb = cfg(2, &[(1, a_addr)]);
    cb.listen = b_addr;
    (ca, cb)
}

/// A free UDP port on loopback (bound and released).
fn free_addr() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr")
}

/// Node 2 alone on a free loopback port, with a certificate from the CA
/// in `dir`, expecting node 1 (somewhere else).
fn node_b(dir: &Path) -> (Transport, mpsc::Receiver<TransportEvent>, SocketAddr) {
    let b_addr = free_addr();
    let mut cb = cfg(2, &[(1, free_addr())]);
    cb.listen = b_addr;
    let (b, brx) = Transport::start(cb, node_tls(dir, 2)).expect("start b");
    (b, brx, b_addr)
}

/// A hand-driven QUIC client with node 1's genuine certificate, connected
/// to node 2 at `addr` (it then speaks whatever the test writes).
async fn raw_client(dir: &Path, addr: SocketAddr) -> (quinn::Endpoint, quinn::Connection) {
    raw_client_with(dir, addr, quinn::TransportConfig::default()).await
}

/// [`raw_client`] with the client's own QUIC transport settings.
async fn raw_client_with(
    dir: &Path,
    addr: SocketAddr,
    transport: quinn::TransportConfig,
) -> (quinn::Endpoint, quinn::Connection) {
    let tls = node_tls(dir, 1);
    let client = tls.client_config(&[ALPN_SYNC]).expect("client cfg");
    let qc = quinn::crypto::rustls::QuicClientConfig::try_from(client).expect("quic cfg");
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("endpoint");
    let mut cc = quinn::ClientConfig::new(Arc::new(qc));
    cc.transport_config(Arc::new(transport));
    ep.set_default_client_config(cc);
    let conn = ep
        .connect(addr, &pki::node_dns_name(2))
        .expect("connect")
        .await
        .expect("handshake");
    (ep, conn)
}

/// Dial node 2 at `addr` from 127.0.0.1 with `qc` and say nothing: the
/// set-up's outcome as it comes (the acceptor's admission shows in it).
async fn silent_dial(
    qc: &Arc<quinn::crypto::rustls::QuicClientConfig>,
    addr: SocketAddr,
) -> (
    quinn::Endpoint,
    Result<quinn::Connection, quinn::ConnectionError>,
) {
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("endpoint");
    ep.set_default_client_config(quinn::ClientConfig::new(qc.clone()));
    let conn = ep
        .connect(addr, &pki::node_dns_name(2))
        .expect("connect")
        .await;
    (ep, conn)
}

/// A hello of the 7-byte form (read as minor 0) of this major version,
/// naming node 1.
fn good_hello() -> Vec<u8> {
    let mut hello = 7u32.to_be_bytes().to_vec();
    hello.extend_from_slice(b"RSYN");
    hello.extend_from_slice(&[WIRE_VERSION.major, 0, 1]);
    hello
}

/// Start a node again on its address, which the old endpoint's socket
/// frees once its connections have drained.
async fn restart(
    cfg: &TransportConfig,
    tls: &NodeTls,
) -> (Transport, mpsc::Receiver<TransportEvent>) {
    let mut tries = 0;
    loop {
        match Transport::start(cfg.clone(), tls.clone()) {
            Ok(t) => return t,
            Err(e) if tries < 50 => {
                tries += 1;
                eprintln!("restart node {}: {e}; retrying", cfg.node_id);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("restart node {} on its address: {e}", cfg.node_id),
        }
    }
}

/// The next frame `rx` delivers (other events passed over).
async fn next_frame(rx: &mut mpsc::Receiver<TransportEvent>) -> Bytes {
    loop {
        if let TransportEvent::Frame { frame, .. } = next(rx, 10).await {
            return frame;
        }
    }
}

async fn next(rx: &mut mpsc::Receiver<TransportEvent>, secs: u64) -> TransportEvent {
    tokio::time::timeout(Duration::from_secs(secs), rx.recv())
        .await
        .expect("event in time")
        .expect("channel open")
}

async fn wait_up(rx: &mut mpsc::Receiver<TransportEvent>) -> (u16, u64) {
    loop {
        if let TransportEvent::Up { peer, conn } = next(rx, 10).await {
            return (peer, conn);
        }
    }
}

/// The connection a pair settles on: the first `Up`, or a newer one that
/// replaced it within `SETTLE` (a dial the peer asked for may cross one
/// in flight on a loaded machine; the newer connection replaces the
/// older, whose sends then fail as `Replaced`, as documented).
async fn settled_up(rx: &mut mpsc::Receiver<TransportEvent>) -> (u16, u64) {
    const SETTLE: Duration = Duration::from_millis(500);
    let mut up = wait_up(rx).await;
    while let Ok(Some(event)) = tokio::time::timeout(SETTLE, rx.recv()).await {
        if let TransportEvent::Up { peer, conn } = event {
            up = (peer, conn);
        }
    }
    up
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_pair_exchanges_ordered_frames_and_reconnects() {
    let dir = tmp("pair");
    pki::init_ca(&dir).expect("ca");
    let (ca, cb) = pair_cfgs();
    let tls_a = node_tls(&dir, 1);
    let tls_b = node_tls(&dir, 2);
    let (a, mut arx) = Transport::start(ca, tls_a).expect("start a");
    let (b, mut brx) = Transport::start(cb.clone(), tls_b.clone()).expect("start b");

    let (peer, a_conn) = settled_up(&mut arx).await;
    assert_eq!(peer, 2);
    let (peer, b_conn) = settled_up(&mut brx).await;
    assert_eq!(peer, 1);

    // 10,000 frames each way arrive complete and in order.
    const N: u32 = 10_000;
    for i in 0..N {
        a.send(2, a_conn, Bytes::from(i.to_be_bytes().to_vec()))
            .expect("send a");
        b.send(1, b_conn, Bytes::from(i.to_be_bytes().to_vec()))
            .expect("send b");
    }
    for rx in [&mut arx, &mut brx] {
        for want in 0..N {
            let frame = next_frame(rx).await;
            assert_eq!(frame.as_ref(), want.to_be_bytes(), "frame order");
        }
    }
    assert!(a.counters().frames_sent.load(Ordering::Relaxed) >= u64::from(N));
    // The link's figures: UDP datagrams both ways, a round-trip time.
    let link = |t: &Transport| {
        let l = t.link_stats();
        assert_eq!(l.len(), 1, "one peer: {l:?}");
        l[0]
    };
    let first = link(&a);
    assert_eq!(first.0, 2);
    assert!(first.1.datagrams_out > 0 && first.1.datagrams_in > 0);
    assert!(first.1.bytes_out >= 4 * u64::from(N), "{first:?}");
    assert!(first.1.rtt > Duration::ZERO);

    // Datagrams: best effort, but on loopback they arrive.
    a.send_datagram(2, a_conn, Bytes::from_static(b"fast path"))
        .expect("datagram");
    loop {
        if let TransportEvent::Datagram { peer, frame, .. } = next(&mut brx, 10).await {
            assert_eq!((peer, frame.as_ref()), (1, &b"fast path"[..]));
            break;
        }
    }
    assert!(
        a.send_datagram(2, a_conn, Bytes::from(vec![0u8; 64 << 10]))
            .is_err(),
        "larger than a datagram"
    );

    // B goes away: A sees the connection down within the idle timeout
    // (or at once, from B's close).
    b.shutdown().await;
    drop(b);
    loop {
        if let TransportEvent::Down { peer, conn, .. } = next(&mut arx, 10).await {
            assert_eq!((peer, conn), (2, a_conn));
            break;
        }
    }
    assert!(a.send(2, a_conn, Bytes::from_static(b"x")).is_err());
    // The ended connection's figures stay in the sums; no round trip now.
    let down = link(&a).1;
    assert!(down.datagrams_out >= first.1.datagrams_out, "{down:?}");
    assert_eq!(down.rtt, Duration::ZERO);

    // B comes back on the same address: A redials, a new connection id.
    // The old endpoint's socket closes once its connections have drained.
    let (b2, mut b2rx) = restart(&cb, &tls_b).await;
    let (peer, conn2) = wait_up(&mut arx).await;
    assert_eq!(peer, 2);
    assert!(conn2 > a_conn, "connection ids increase");
    wait_up(&mut b2rx).await;
    a.send(2, conn2, Bytes::from_static(b"again"))
        .expect("send after reconnect");
    assert_eq!(next_frame(&mut b2rx).await.as_ref(), b"again");
    // Both connections summed: the counters never go back.
    let again = link(&a).1;
    assert!(again.datagrams_out > down.datagrams_out, "{again:?}");
    assert!(again.rtt > Duration::ZERO);
    a.shutdown().await;
    b2.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A node whose certificate comes from another CA never gets a connection;
/// the refusal is counted and nothing reaches the event channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_ca_is_refused_and_counted() {
    let dir = tmp("ca1");
    let other = tmp("ca2");
    pki::init_ca(&dir).expect("ca");
    pki::init_ca(&other).expect("other ca");
    let (b, mut brx, b_addr) = node_b(&dir);
    // The intruder is configured as node 1 with a certificate for node 1,
    // but from its own CA, and trusts its own CA.
    let (x, mut xrx) =
        Transport::start(cfg(1, &[(2, b_addr)]), node_tls(&other, 1)).expect("start x");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(brx.try_recv().is_err(), "nothing reaches B's protocol");
    assert!(
        xrx.try_recv().is_err(),
        "nothing reaches the intruder either"
    );
    assert!(b.counters().refused_tls.load(Ordering::Relaxed) >= 1);
    assert!(x.counters().dial_failures.load(Ordering::Relaxed) >= 1);
    x.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

/// A member of the cluster (valid certificate for node 3) that claims to
/// be node 1 is refused as a wrong identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_for_another_node_is_refused() {
    let dir = tmp("ident");
    pki::init_ca(&dir).expect("ca");
    let (b, mut brx, b_addr) = node_b(&dir);
    let liar_tls = node_tls(&dir, 3);
    let (x, _xrx) = Transport::start(cfg(1, &[(2, b_addr)]), liar_tls).expect("start liar");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(brx.try_recv().is_err(), "nothing reaches B's protocol");
    assert!(b.counters().refused_wrong_identity.load(Ordering::Relaxed) >= 1);
    x.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Node 1's certificate is genuine, but the configuration names node 1
/// `fw-other`: the name the configuration promises is checked against the
/// certificate on both sides, and the link never comes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_certificate_lacks_its_configured_name_is_refused() {
    let dir = tmp("peer-name");
    pki::init_ca(&dir).expect("ca");
    let (ca, mut cb) = pair_cfgs();
    cb.peers[0].name = "fw-other".into();
    let (a, mut arx) = Transport::start(ca, node_tls(&dir, 1)).expect("start a");
    let (b, mut brx) = Transport::start(cb, node_tls(&dir, 2)).expect("start b");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        arx.try_recv().is_err() && brx.try_recv().is_err(),
        "no link"
    );
    assert!(b.counters().refused_wrong_identity.load(Ordering::Relaxed) >= 1);
    a.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A verified peer that sends an over-long frame header gets its
/// connection closed and counted; the protocol never sees the frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame_closes_the_connection() {
    let dir = tmp("big");
    pki::init_ca(&dir).expect("ca");
    let (b, mut brx, b_addr) = node_b(&dir);

    let (ep, conn) = raw_client(&dir, b_addr).await;
    let mut s = conn.open_uni().await.expect("stream");
    s.write_all(&good_hello()).await.expect("hello");
    let (peer, conn_id) = wait_up(&mut brx).await;
    assert_eq!(peer, 1);
    s.write_all(&u32::MAX.to_be_bytes())
        .await
        .expect("bad header");
    loop {
        match next(&mut brx, 10).await {
            TransportEvent::Down { peer, conn, .. } => {
                assert_eq!((peer, conn), (1, conn_id));
                break;
            }
            TransportEvent::Frame { .. } => panic!("an oversized frame reached the protocol"),
            TransportEvent::Up { .. } | TransportEvent::Datagram { .. } => {}
        }
    }
    assert_eq!(b.counters().frames_too_large.load(Ordering::Relaxed), 1);
    ep.close(0u32.into(), b"");
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Before its certificate's node is checked against its hello, a peer may
/// send at most a 64-byte hello: a hello frame announced at 4 MiB is
/// refused at its length (it once had 4 MiB allocated for it first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_announced_larger_than_a_hello_is_refused_at_its_length() {
    let dir = tmp("big-hello");
    pki::init_ca(&dir).expect("ca");
    let (b, mut brx, b_addr) = node_b(&dir);
    let (ep, conn) = raw_client(&dir, b_addr).await;
    let mut s = conn.open_uni().await.expect("stream");
    s.write_all(&(4u32 << 20).to_be_bytes())
        .await
        .expect("length");
    let reason = tokio::time::timeout(Duration::from_secs(10), conn.closed())
        .await
        .expect("closed in time");
    assert!(format!("{reason}").contains("hello too large"), "{reason}");
    assert_eq!(b.counters().frames_too_large.load(Ordering::Relaxed), 1);
    assert!(brx.try_recv().is_err(), "nothing reached the protocol");
    ep.close(0u32.into(), b"");
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A higher id whose wake found it connected to the peer by the end of
/// the handshake withdraws it before the hello, with its own close code:
/// the acceptor lets it go uncounted. A member that closes before its
/// hello for any other reason is counted as a bad hello, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_wake_is_not_counted_as_a_bad_hello() {
    let dir = tmp("withdrawn");
    pki::init_ca(&dir).expect("ca");
    let (b, mut brx, b_addr) = node_b(&dir);
    let bad = || b.counters().refused_bad_frame.load(Ordering::Relaxed);
    let client = node_tls(&dir, 1)
        .client_config(&[ALPN_SYNC])
        .expect("client cfg");
    let qc = Arc::new(quinn::crypto::rustls::QuicClientConfig::try_from(client).expect("quic cfg"));
    for (code, want) in [(8u32, 0), (4, 1)] {
        let (ep, conn) = silent_dial(&qc, b_addr).await;
        let conn = conn.expect("handshake");
        conn.close(code.into(), b"connected meanwhile");
        ep.wait_idle().await;
        let mut waited = Duration::ZERO;
        while bad() < want && waited < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(bad(), want, "close code {code}");
    }
    assert!(brx.try_recv().is_err(), "nothing reached the protocol");
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A member that sends a good hello but grants no stream for the answer
/// (a QUIC stack allowing the acceptor no unidirectional stream) once held
/// its connection, a task and its buffers for good: the set-up is bounded
/// as a whole, and the connection is dropped after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_grants_no_stream_for_the_answer_is_dropped() {
    let dir = tmp("no-credit");
    pki::init_ca(&dir).expect("ca");
    let (b, mut brx, b_addr) = node_b(&dir);
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_uni_streams(0u32.into());
    let (ep, conn) = raw_client_with(&dir, b_addr, t).await;
    let mut s = conn.open_uni().await.expect("stream");
    s.write_all(&good_hello()).await.expect("hello");
    // Node 2's idle timeout is 1 s: its set-up limit 2 s.
    tokio::time::timeout(Duration::from_secs(6), conn.closed())
        .await
        .expect("the stalled set-up ends");
    assert!(brx.try_recv().is_err(), "nothing reached the protocol");
    ep.close(0u32.into(), b"");
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// From an address that is no member's, at most four connections are set
/// up at once (64 from all such addresses): a fifth is refused and
/// counted; once the stalled ones end (no hello within the idle timeout)
/// the address is admitted again. Members' addresses are never held back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_is_no_members_gets_four_set_ups_at_once() {
    let dir = tmp("per-source");
    pki::init_ca(&dir).expect("ca");
    // Node 1 is configured at 127.0.0.2: 127.0.0.1 is a stranger's address.
    let b_addr = free_addr();
    let mut cb = cfg(2, &[(1, "127.0.0.2:9".parse().expect("addr"))]);
    cb.listen = b_addr;
    let (b, _brx) = Transport::start(cb, node_tls(&dir, 2)).expect("start b");
    let tls = node_tls(&dir, 1);
    let client = tls.client_config(&[ALPN_SYNC]).expect("client cfg");
    let qc = Arc::new(quinn::crypto::rustls::QuicClientConfig::try_from(client).expect("quic cfg"));
    let dial = || silent_dial(&qc, b_addr);
    let mut held = Vec::new();
    for _ in 0..4 {
        // TLS completes; no hello follows, so each set-up waits.
        let (ep, conn) = dial().await;
        held.push((ep, conn.expect("admitted")));
    }
    let (ep, fifth) = dial().await;
    assert!(fifth.is_err(), "a fifth set-up from one address is refused");
    assert_eq!(b.counters().refused_busy.load(Ordering::Relaxed), 1);
    ep.close(0u32.into(), b"");
    // The held set-ups end at the hello timeout; the address is let in again.
    for (_, conn) in &held {
        tokio::time::timeout(Duration::from_secs(6), conn.closed())
            .await
            .expect("a stalled set-up ends");
    }
    let (ep, again) = dial().await;
    assert!(again.is_ok(), "admitted again: {again:?}");
    ep.close(0u32.into(), b"");
    for (ep, _) in held {
        ep.close(0u32.into(), b"");
    }
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A member that dials from another address than the one on record (a
/// founder that listened on a wildcard, a second interface) was counted
/// as a stranger, held to four set-ups per address and to the strangers'
/// shared slots, which anyone could hold (a review's case). Once it has
/// been verified from an address, that address counts as the member's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_a_member_was_verified_from_counts_as_the_members() {
    let dir = tmp("proven");
    pki::init_ca(&dir).expect("ca");
    // B records node 1 at 127.0.0.2; node 1 dials from 127.0.0.1.
    let b_addr = free_addr();
    let mut cb = cfg(2, &[(1, "127.0.0.2:9".parse().expect("addr"))]);
    cb.listen = b_addr;
    let (b, mut brx) = Transport::start(cb, node_tls(&dir, 2)).expect("start b");
    let mut ca = cfg(1, &[(2, b_addr)]);
    ca.listen = free_addr();
    let tls = node_tls(&dir, 1);
    let client = tls.client_config(&[ALPN_SYNC]).expect("client cfg");
    let (a, _arx) = Transport::start(ca, tls).expect("start a");
    assert_eq!(wait_up(&mut brx).await.0, 1, "node 1 verified");
    // Five set-ups at once from node 1's address, none saying hello: a
    // stranger's fifth would be refused.
    let qc = Arc::new(quinn::crypto::rustls::QuicClientConfig::try_from(client).expect("quic cfg"));
    let mut held = Vec::new();
    for i in 0..5 {
        let (ep, conn) = silent_dial(&qc, b_addr).await;
        assert!(conn.is_ok(), "set-up {i} admitted: {conn:?}");
        held.push((ep, conn));
    }
    assert_eq!(b.counters().refused_busy.load(Ordering::Relaxed), 0);
    for (ep, _) in held {
        ep.close(0u32.into(), b"");
    }
    a.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A peer speaking another major version of the sync wire is refused by
/// both sides, loudly: counted, and the refusal (this node's, and the
/// close reason the peer receives) names both versions. Nothing reaches
/// either protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_of_another_major_wire_version_is_refused_naming_both_versions() {
    let dir = tmp("major");
    pki::init_ca(&dir).expect("ca");
    let (ca, mut cb) = pair_cfgs();
    let ours = WIRE_VERSION;
    let theirs = WireVersion {
        major: ours.major + 1,
        minor: 0,
    };
    cb.wire_version = theirs;
    let (a, mut arx) = Transport::start(ca, node_tls(&dir, 1)).expect("start a");
    let (b, mut brx) = Transport::start(cb, node_tls(&dir, 2)).expect("start b");
    // A dials B (lower id dials): B refuses, A hears why. Bounded wait.
    for _ in 0..50 {
        if a.counters().refused_version.load(Ordering::Relaxed) > 0
            && b.counters().refused_version.load(Ordering::Relaxed) > 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(b.counters().refused_version.load(Ordering::Relaxed) >= 1);
    assert!(a.counters().refused_version.load(Ordering::Relaxed) >= 1);
    assert_eq!(b.counters().connections_up.load(Ordering::Relaxed), 0);
    assert_eq!(a.counters().connections_up.load(Ordering::Relaxed), 0);
    assert!(arx.try_recv().is_err(), "nothing reaches A's protocol");
    assert!(brx.try_recv().is_err(), "nothing reaches B's protocol");
    // Each node's last word is its own refusal or the one it received:
    // B (the higher id) also dials A to wake it, and A refuses that call,
    // so which comes last depends on timing. Either names both versions.
    let (o, t) = (ours.to_string(), theirs.to_string());
    let said_b = b.last_refusal().expect("B says why it refused");
    assert!(
        said_b.contains(&format!("speaks sync wire version {o} and this node {t}"))
            || said_b.contains(&format!(
                "refused this node: sync wire version {t} refused by node 1, which speaks {o}"
            )),
        "{said_b}"
    );
    let said_a = a.last_refusal().expect("A says why it was refused");
    assert!(
        said_a.contains(&format!(
            "refused this node: sync wire version {o} refused by node 2, which speaks {t}"
        )) || said_a.contains(&format!("speaks sync wire version {t} and this node {o}")),
        "{said_a}"
    );
    a.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Another minor version of the same major syncs as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_of_another_minor_wire_version_is_accepted() {
    let dir = tmp("minor");
    pki::init_ca(&dir).expect("ca");
    let (ca, mut cb) = pair_cfgs();
    cb.wire_version = WireVersion {
        major: WIRE_VERSION.major,
        minor: WIRE_VERSION.minor + 1,
    };
    let (a, mut arx) = Transport::start(ca, node_tls(&dir, 1)).expect("start a");
    let (b, mut brx) = Transport::start(cb, node_tls(&dir, 2)).expect("start b");
    assert_eq!(wait_up(&mut arx).await.0, 2);
    assert_eq!(wait_up(&mut brx).await.0, 1);
    assert_eq!(a.counters().refused_version.load(Ordering::Relaxed), 0);
    assert_eq!(b.counters().refused_version.load(Ordering::Relaxed), 0);
    a.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A member that floods frames at a node whose protocol is busy: the
/// reader holds at most `INBOUND_BUDGET_BYTES` of them unconsumed (it once
/// held up to 4,096 frames of up to 4 MiB, 16 GiB), waits beyond it, and
/// nothing is lost once the protocol catches up. On the sending side the
/// queue towards a peer is bounded in bytes as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_and_outbound_frames_are_bounded_in_bytes_and_nothing_is_lost() {
    use rampart_cluster::transport::{INBOUND_BUDGET_BYTES, OUTBOUND_BUDGET_BYTES};
    let dir = tmp("budget");
    pki::init_ca(&dir).expect("ca");
    let (ca, cb) = pair_cfgs();
    let (a, mut arx) = Transport::start(ca, node_tls(&dir, 1)).expect("start a");
    let (b, mut brx) = Transport::start(cb, node_tls(&dir, 2)).expect("start b");
    let (_, a_conn) = wait_up(&mut arx).await;
    wait_up(&mut brx).await;
    // 100 frames of 2 MiB: 200 MiB, three times B's budget. B's protocol
    // (this test) does not read for a while.
    const N: usize = 100;
    const LEN: usize = 2 << 20;
    let sender = {
        let a = a.clone();
        tokio::spawn(async move {
            let mut sent = 0;
            let mut refused = 0;
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while sent < N && std::time::Instant::now() < deadline {
                match a.send(2, a_conn, Bytes::from(vec![sent as u8; LEN])) {
                    Ok(()) => sent += 1,
                    // A's own queue is bounded in bytes too: wait for the writer.
                    Err(_) => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await
                    }
                }
            }
            (sent, refused)
        })
    };
    // B's reader fills its budget and waits.
    let waited = std::time::Instant::now() + Duration::from_secs(30);
    while b.counters().inbound_budget_waits.load(Ordering::Relaxed) == 0
        && std::time::Instant::now() < waited
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // What B holds unconsumed: within its budget.
    let mut held = Vec::new();
    while let Ok(ev) = brx.try_recv() {
        held.push(ev);
    }
    let held_bytes: usize = held
        .iter()
        .map(|e| match e {
            TransportEvent::Frame { frame, .. } => frame.len(),
            _ => 0,
        })
        .sum();
    assert!(
        held_bytes <= INBOUND_BUDGET_BYTES,
        "{held_bytes} bytes held unconsumed"
    );
    assert!(b.counters().inbound_budget_waits.load(Ordering::Relaxed) >= 1);
    // Consuming them frees the budget: every frame arrives, in order.
    let mut got = held
        .into_iter()
        .filter_map(|e| match e {
            TransportEvent::Frame { frame, .. } => Some(frame[0]),
            _ => None,
        })
        .collect::<Vec<u8>>();
    while got.len() < N {
        got.push(next_frame(&mut brx).await[0]);
    }
    assert_eq!(got, (0..N).map(|i| i as u8).collect::<Vec<_>>());
    let (sent, refused) = sender.await.expect("sender");
    assert_eq!(sent, N);
    assert!(refused >= 1);
    assert!(
        a.counters().send_refused_bytes.load(Ordering::Relaxed) >= 1,
        "A's queue met its {OUTBOUND_BUDGET_BYTES}-byte budget"
    );
    a.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The lower id dials; a higher id that starts while the lower one's dial
/// loop sleeps out a long backoff wakes it, and the two connect at once
/// instead of after the backoff (60 s here, so without the wake the test
/// fails at its 10 s wait).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_higher_id_that_starts_late_wakes_the_lower_ids_dial() {
    let dir = tmp("wake");
    pki::init_ca(&dir).expect("ca");
    let (mut ca, cb) = pair_cfgs();
    ca.backoff_min = Duration::from_secs(60);
    ca.backoff_max = Duration::from_secs(60);
    let (a, mut arx) = Transport::start(ca, node_tls(&dir, 1)).expect("start a");
    // A's first dial fails (B is not there); it sleeps its backoff.
    let t0 = std::time::Instant::now();
    while a.counters().dial_failures.load(Ordering::Relaxed) == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "A's dial never failed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (b, mut brx) = Transport::start(cb, node_tls(&dir, 2)).expect("start b");
    let (peer, a_conn) = wait_up(&mut arx).await;
    assert_eq!(peer, 2);
    assert_eq!(wait_up(&mut brx).await.0, 1);
    // A counts the wake before it dials back; B counts it once it sees A
    // close the wake's connection, which may be after the two are up.
    assert!(a.counters().wakes_received.load(Ordering::Relaxed) >= 1);
    let t1 = std::time::Instant::now();
    while b.counters().wakes_sent.load(Ordering::Relaxed) == 0 {
        assert!(
            t1.elapsed() < Duration::from_secs(10),
            "B never counted its wake"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(a.counters().refused_unknown_peer.load(Ordering::Relaxed), 0);
    // Connected, B wakes no more.
    let sent = b.counters().wakes_sent.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(b.counters().wakes_sent.load(Ordering::Relaxed), sent);
    a.send(2, a_conn, Bytes::from_static(b"hi")).expect("send");
    assert_eq!(next_frame(&mut brx).await.as_ref(), b"hi");
    a.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A higher id that crashes and restarts leaves the lower id a connection
/// to its previous life, which the lower id would keep until its idle
/// timeout (30 s here): the restarted node's wake closes it and the lower
/// id dials the new one at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_higher_id_replaces_its_leftover_connection_at_once() {
    let dir = tmp("wake-restart");
    pki::init_ca(&dir).expect("ca");
    let (mut ca, mut cb) = pair_cfgs();
    // QUIC takes the smaller of the two sides' idle timeouts.
    for c in [&mut ca, &mut cb] {
        c.idle_timeout = Duration::from_secs(30);
        c.keep_alive = Duration::from_secs(1);
    }
    let (a, mut arx) = Transport::start(ca, node_tls(&dir, 1)).expect("start a");
    // B runs on a runtime of its own, dropped to crash it: no close frame
    // leaves, as when its process is killed.
    let (up_tx, up_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let tls_b = node_tls(&dir, 2);
    let (cb1, tls_b1) = (cb.clone(), tls_b.clone());
    let crashed = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let (_b, mut brx) = Transport::start(cb1, tls_b1).expect("start b");
            wait_up(&mut brx).await;
            up_tx.send(()).expect("tell");
        });
        let _ = stop_rx.recv();
        drop(rt);
    });
    up_rx.recv_timeout(Duration::from_secs(10)).expect("B up");
    let (_, first) = wait_up(&mut arx).await;
    // Older than a fresh connection (a wake that crossed it keeps it).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    stop_tx.send(()).expect("stop");
    crashed.join().expect("crashed thread");
    let (b2, mut b2rx) = restart(&cb, &tls_b).await;
    let mut down = false;
    let second = loop {
        match next(&mut arx, 10).await {
            TransportEvent::Down { conn, .. } if conn == first => down = true,
            TransportEvent::Up { peer: 2, conn } => break conn,
            _ => {}
        }
    };
    assert!(down, "the leftover connection ended first");
    assert!(second > first);
    wait_up(&mut b2rx).await;
    assert!(a.counters().wakes_received.load(Ordering::Relaxed) >= 1);
    a.shutdown().await;
    b2.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A lower id that crashes and dials again before its old connection's
/// idle timeout (30 s here) replaces it at once: the higher id's transport
/// reports the new connection up while its protocol may still send for
/// the old one. A frame meant for the old connection is dropped and
/// counted, never sent on the new one, where it would come before the
/// protocol's `Hello` (docs/sync.md §5, *Peers up and down*).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_meant_for_a_replaced_connection_is_not_sent_on_the_new_one() {
    use rampart_cluster::transport::SendError;
    let dir = tmp("replaced");
    pki::init_ca(&dir).expect("ca");
    let (mut ca, mut cb) = pair_cfgs();
    for c in [&mut ca, &mut cb] {
        c.idle_timeout = Duration::from_secs(30);
        c.keep_alive = Duration::from_secs(1);
    }
    let (b, mut brx) = Transport::start(cb, node_tls(&dir, 2)).expect("start b");
    // A runs on a runtime of its own, dropped to crash it: no close frame
    // leaves, as when its process is killed.
    let (up_tx, up_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let tls_a = node_tls(&dir, 1);
    let (ca1, tls_a1) = (ca.clone(), tls_a.clone());
    let crashed = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let (_a, mut arx) = Transport::start(ca1, tls_a1).expect("start a");
            wait_up(&mut arx).await;
            up_tx.send(()).expect("tell");
        });
        let _ = stop_rx.recv();
        drop(rt);
    });
    up_rx.recv_timeout(Duration::from_secs(10)).expect("A up");
    let (_, first) = wait_up(&mut brx).await;
    stop_tx.send(()).expect("stop");
    crashed.join().expect("crashed thread");
    let (a2, mut a2rx) = restart(&ca, &tls_a).await;
    let second = loop {
        if let TransportEvent::Up { peer: 1, conn } = next(&mut brx, 10).await {
            break conn;
        }
    };
    assert_ne!(second, first, "a new connection");
    assert_eq!(
        b.send(1, first, Bytes::from_static(b"for the old one")),
        Err(SendError::Replaced(1))
    );
    assert_eq!(
        b.send_datagram(1, first, Bytes::from_static(b"old copy")),
        Err(SendError::Replaced(1))
    );
    assert_eq!(b.counters().sends_replaced.load(Ordering::Relaxed), 2);
    b.send(1, second, Bytes::from_static(b"hello on the new one"))
        .expect("send on the new connection");
    wait_up(&mut a2rx).await;
    assert_eq!(
        next_frame(&mut a2rx).await.as_ref(),
        b"hello on the new one"
    );
    a2.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
