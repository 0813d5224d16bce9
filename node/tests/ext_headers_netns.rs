//! Real packets behind IPv6 extension headers through two synced nodes of
//! two workers each, on the asymmetric lab (client→server via node A,
//! server→client via node B): both ends' sockets carry a destination
//! options header on every segment (`IPV6_DSTOPTS`, RFC 3542 §6.1), the
//! kernel's TCP on either side. Every connection opens, carries data and
//! gets its digest back, and neither node drops a packet for want of
//! state. Before the fanout program walked extension headers
//! (docs/io.md §9), about half of such connections never opened (9 of 16
//! in a run): the server's SYN-ACK reached B's worker of the flow's
//! addresses while A's state for it went to B's worker of its ports, and
//! B dropped it and every retransmission at the hold deadline
//! (`tcp-not-syn`).
//!
//! Needs root (CI is root); skipped with a message otherwise.
#![cfg(target_os = "linux")]
// Tests bound their waits with the wall clock.
#![allow(clippy::disallowed_methods)]

use std::io::{Read as _, Write as _};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rampart_node::lab::chaos::bench::WANT_OF_STATE;
use rampart_node::lab::{
    ASYM_CLIENT_V6, ASYM_SERVER_V6, AsymLab, BYPASS_5002_POLICY, NodeProc, NodeSpec, StopOnDrop,
    asym_node, fnv, is_root, write_config,
};
use socket2::{Domain, Socket, Type};

const NODES: [NodeSpec; 2] = [asym_node(0, 2), asym_node(1, 2)];

/// Connections opened, one after the other.
const CONNECTIONS: usize = 16;
/// The server's port (inspected TCP under the lab's policy).
const PORT: u16 = 5300;
/// Bytes each connection sends (and the server digests).
const PAYLOAD: usize = 4096;
/// The longest one connect may take (the client's first SYN
/// retransmission comes after 1 s).
const CONNECT_LIMIT: Duration = Duration::from_secs(3);
/// The longest one read may take.
const READ_LIMIT: Duration = Duration::from_secs(5);

/// Every segment `sock` sends carries an 8-byte destination options
/// header (a PadN option; RFC 3542 §6.1, RFC 8200 §4.6). A listener's
/// accepted connections inherit it, their SYN-ACK included.
fn destination_options(sock: &Socket) {
    let header: [u8; 8] = [0, 0, 1, 4, 0, 0, 0, 0];
    // SAFETY: an option buffer of its stated length, on our own socket.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_DSTOPTS,
            header.as_ptr().cast(),
            header.len() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
}

/// One connection: connect, send, check the digest, each step bounded.
fn one(payload: &[u8]) -> Result<(), String> {
    let src: Ipv6Addr = ASYM_CLIENT_V6.parse().expect("address");
    let dst: Ipv6Addr = ASYM_SERVER_V6.parse().expect("address");
    let s = Socket::new(Domain::IPV6, Type::STREAM, None).map_err(|e| e.to_string())?;
    destination_options(&s);
    s.bind(&SocketAddr::from((src, 0)).into())
        .map_err(|e| e.to_string())?;
    let port = s
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map_or(0, |a| a.port());
    s.connect_timeout(&SocketAddr::from((dst, PORT)).into(), CONNECT_LIMIT)
        .map_err(|e| format!("port {port}: connect: {e}"))?;
    let mut s: TcpStream = s.into();
    s.set_read_timeout(Some(READ_LIMIT))
        .map_err(|e| e.to_string())?;
    s.write_all(payload)
        .map_err(|e| format!("port {port}: send: {e}"))?;
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply)
        .map_err(|e| format!("port {port}: digest: {e}"))?;
    if u64::from_be_bytes(reply) != fnv(payload) {
        return Err(format!("port {port}: wrong digest"));
    }
    Ok(())
}

#[test]
fn tcp_behind_a_destination_options_header_crosses_two_nodes_of_two_workers() {
    if !is_root() {
        eprintln!("skipped: the lab needs root (network namespaces, AF_PACKET)");
        return;
    }
    let lab = AsymLab::new(&format!("rp-exh{}", std::process::id())).expect("lab");
    lab.add_ipv6().expect("IPv6 in the lab");
    let dir = std::env::temp_dir().join(format!("rampart-exthdr-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("policy.cfg"), BYPASS_5002_POLICY).expect("policy");
    rampart_cluster::pki::init_ca(&dir).expect("ca");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&lab, &dir)));
    let _ = std::fs::remove_dir_all(&dir);
    drop(lab);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn run(lab: &AsymLab, dir: &std::path::Path) {
    let exe: std::path::PathBuf = env!("CARGO_BIN_EXE_rampart").into();
    let start = |ns, me: &NodeSpec| {
        // No Raft: each node runs its own policy file.
        let file = write_config(dir, me, &NODES, "forward_before_join = true\n").expect("config");
        NodeProc::start(ns, &exe, &file, me.name).expect("start node")
    };
    let mut a = start(&lab.node_a, &NODES[0]);
    let mut b = start(&lab.node_b, &NODES[1]);
    let ready = a
        .wait_ready(Duration::from_secs(20))
        .and_then(|()| b.wait_ready(Duration::from_secs(20)));
    let nodes = StopOnDrop(vec![a, b]);
    ready.unwrap_or_else(|e| panic!("{e}"));

    // The server serves until the client is done (or two minutes passed).
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = Arc::new(AtomicBool::new(false));
    let client_done = done.clone();
    let listener = lab
        .server
        .spawn(|| {
            let s = Socket::new(Domain::IPV6, Type::STREAM, None).expect("socket");
            destination_options(&s);
            let at: Ipv6Addr = ASYM_SERVER_V6.parse().expect("address");
            s.bind(&SocketAddr::from((at, PORT)).into()).expect("bind");
            s.listen(64).expect("listen");
            s.set_nonblocking(true).expect("non-blocking");
            TcpListener::from(s)
        })
        .expect("namespace thread")
        .join()
        .expect("listener");
    let server = lab
        .server
        .spawn(move || {
            let mut served = 0;
            while served < CONNECTIONS && Instant::now() < deadline && !done.load(Ordering::Relaxed)
            {
                match listener.accept() {
                    Ok((mut c, _)) => {
                        served += 1;
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_read_timeout(Some(READ_LIMIT));
                        let mut data = vec![0u8; PAYLOAD];
                        if c.read_exact(&mut data).is_ok() {
                            let _ = c.write_all(&fnv(&data).to_be_bytes());
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        })
        .expect("namespace thread");
    let failed = lab
        .client
        .spawn(move || {
            let failed = (0..CONNECTIONS)
                .filter_map(|i| {
                    let payload: Vec<u8> =
                        (0..PAYLOAD).map(|j| ((j + i * 7) % 251) as u8).collect();
                    one(&payload).err()
                })
                .collect::<Vec<String>>();
            client_done.store(true, Ordering::Relaxed);
            failed
        })
        .expect("namespace thread")
        .join()
        .expect("client thread");
    let _ = server.join();
    assert!(
        failed.is_empty(),
        "{} of {CONNECTIONS} connections failed: {failed:?}",
        failed.len()
    );
    for n in &nodes.0 {
        let counters = n.counters().expect("counters");
        // TCP's reasons only: IPv6's own chatter (router solicitations,
        // MLD reports) meets `cluster-not-ready` before the nodes are
        // ready and `acl-drop` from the outside.
        let starved: Vec<_> = counters
            .drops
            .iter()
            .filter(|d| {
                WANT_OF_STATE.contains(&d.reason.as_str())
                    && d.reason.starts_with("tcp-")
                    && d.count > 0
            })
            .map(|d| (d.reason.clone(), d.count))
            .collect();
        assert!(
            starved.is_empty(),
            "{} dropped for want of state: {starved:?}",
            n.name()
        );
    }
    drop(nodes);
}
