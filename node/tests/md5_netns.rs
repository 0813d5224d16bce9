//! TCP MD5 signatures (RFC 2385, option kind 19, as BGP sessions carry
//! them) through a real node (docs/asa-behaviour.md §6.1, §6.2; the
//! example `dataplane/tests/configs/bgp-md5.cfg`). Both hosts' kernels
//! sign every segment with a shared key and drop a segment whose signature
//! is missing or wrong (RFC 2385 §2.0), so a connection is established
//! only when the node passes kind 19 unchanged and leaves the sequence
//! numbers the signature covers alone:
//!
//! - a class with a `tcp-map` allowing kind 19 and randomization disabled:
//!   the connection comes up and 64 KiB cross intact each way;
//! - the same class without the map: the default normalizer clears kind
//!   19, the server's kernel finds no signature (`TCPMD5NotFound`) and
//!   the client never connects;
//! - the map with randomization left on: the signature arrives, but over
//!   a sequence number the node has shifted (`TCPMD5Failure`), and the
//!   client never connects either.
//!
//! Needs root, as CI has, and a kernel with `CONFIG_TCP_MD5SIG`: without
//! it the test fails, it does not skip. Builds and removes its own
//! namespaces.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use rampart_node::lab::{Lab, Role, is_root, tcp_ext};
use socket2::{Domain, Protocol, Socket, Type};

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 20);
/// The key both hosts sign with.
const KEY: &[u8] = b"rampart-md5-test";
/// Bytes sent each way.
const PAYLOAD: usize = 64 * 1024;
/// The longest a connect may take: Linux resends a SYN 1 s and 3 s after
/// the first, so the server has seen it two or three times by then.
const CONNECT_LIMIT: Duration = Duration::from_secs(3);
/// How long the server waits for a connection: past the client's limit.
const ACCEPT_LIMIT: Duration = Duration::from_secs(5);
/// The longest one read or write may take.
const IO_LIMIT: Duration = Duration::from_secs(10);

/// `struct tcp_md5sig` of Linux's `linux/tcp.h`, the argument of
/// `TCP_MD5SIG` (the libc crate does not declare it). The address is a
/// `sockaddr_storage`'s 128 bytes, here holding a `sockaddr_in`.
#[repr(C)]
struct TcpMd5Sig {
    addr: [u8; 128],
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: i32,
    key: [u8; 80],
}

// The kernel's layout: 128 + 1 + 1 + 2 + 4 + 80 bytes.
const _: () = assert!(std::mem::size_of::<TcpMd5Sig>() == 216);

/// Have `sock` sign its segments to and from `peer` with [`KEY`]
/// (`TCP_MD5SIG`, tcp(7)). A listener's accepted connections inherit its
/// keys. Panics, saying why, if the kernel cannot: CI runs on this kernel,
/// so a kernel without TCP MD5 is a failure to see, not a skip.
fn sign_with(sock: &Socket, peer: Ipv4Addr) {
    let mut sig = TcpMd5Sig {
        addr: [0; 128],
        flags: 0,
        prefixlen: 0,
        keylen: KEY.len() as u16,
        ifindex: 0,
        key: [0; 80],
    };
    // sockaddr_in: family in host order, port (0: any) and address in
    // network order.
    sig.addr[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    sig.addr[4..8].copy_from_slice(&peer.octets());
    sig.key[..KEY.len()].copy_from_slice(KEY);
    // SAFETY: a pointer to a live `tcp_md5sig` of the size passed, on a
    // socket this function borrows.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            (&raw const sig).cast(),
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENOPROTOOPT | libc::ENOENT) => {
                panic!("this kernel has no TCP MD5 signatures (CONFIG_TCP_MD5SIG): {e}")
            }
            _ => panic!("setsockopt TCP_MD5SIG: {e}"),
        }
    }
}

/// The bytes one side sends: a pattern that tells `from`'s bytes apart.
fn pattern(from: u8) -> Vec<u8> {
    (0..PAYLOAD as u32)
        .map(|i| (i % 251) as u8 ^ from)
        .collect()
}

/// The server: a signing listener on `port`; the first connection within
/// [`ACCEPT_LIMIT`] is read to its end, answered with its own pattern and
/// closed. What it received, or why nothing.
fn serve(port: u16) -> Result<Vec<u8>, String> {
    let l =
        Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).map_err(|e| e.to_string())?;
    l.set_reuse_address(true).map_err(|e| e.to_string())?;
    // The key is needed before the SYN arrives: the kernel checks a SYN
    // against the listener's keys.
    sign_with(&l, CLIENT);
    l.bind(&SocketAddrV4::new(SERVER, port).into())
        .map_err(|e| e.to_string())?;
    l.listen(4).map_err(|e| e.to_string())?;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + ACCEPT_LIMIT;
    let conn = loop {
        match l.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(format!("no connection within {ACCEPT_LIMIT:?}"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    let mut conn: std::net::TcpStream = conn.into();
    conn.set_nonblocking(false).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(IO_LIMIT))
        .map_err(|e| e.to_string())?;
    conn.set_write_timeout(Some(IO_LIMIT))
        .map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    conn.read_to_end(&mut got)
        .map_err(|e| format!("server receive: {e}"))?;
    conn.write_all(&pattern(0x5a))
        .map_err(|e| format!("server send: {e}"))?;
    Ok(got)
}

/// The client: a signing socket connects to the server's `port` within
/// [`CONNECT_LIMIT`], sends its pattern, shuts its side and reads the
/// server's answer to the end. What it received, or why nothing.
fn call(port: u16) -> Result<Vec<u8>, String> {
    let s =
        Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).map_err(|e| e.to_string())?;
    // The key is needed before connect: the SYN is signed too.
    sign_with(&s, SERVER);
    let to: SocketAddr = SocketAddrV4::new(SERVER, port).into();
    s.connect_timeout(&to.into(), CONNECT_LIMIT)
        .map_err(|e| format!("connect: {e}"))?;
    let mut s: std::net::TcpStream = s.into();
    s.set_read_timeout(Some(IO_LIMIT))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(IO_LIMIT))
        .map_err(|e| e.to_string())?;
    s.write_all(&pattern(0))
        .map_err(|e| format!("client send: {e}"))?;
    s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .map_err(|e| format!("client receive: {e}"))?;
    Ok(got)
}

/// One signed connection on `port` through the lab's node: the client's
/// and the server's results.
fn exchange(lab: &Lab, port: u16) -> (Result<Vec<u8>, String>, Result<Vec<u8>, String>) {
    let server = lab
        .spawn(Role::Server, move || serve(port))
        .expect("namespace thread");
    // The listener is up before the first SYN.
    std::thread::sleep(Duration::from_millis(100));
    let client = lab
        .spawn(Role::Client, move || call(port))
        .expect("namespace thread")
        .join()
        .expect("client thread");
    (client, server.join().expect("server thread"))
}

/// The policy: class `MD5` matches the client's connections to `port`;
/// `map` adds the tcp-map allowing kind 19 (as `bgp-md5.cfg`), and
/// `randomize` leaves sequence randomization on.
fn policy(port: u16, map: bool, randomize: bool) -> String {
    let mut p = format!(
        "hostname fw-a\n\
         access-list MD5_PEERS extended permit tcp host {CLIENT} host {SERVER} eq {port}\n"
    );
    if map {
        p.push_str("tcp-map MD5-MAP\n tcp-options range 19 19 allow\n");
    }
    p.push_str(
        "class-map MD5\n match access-list MD5_PEERS\npolicy-map global_policy\n class MD5\n",
    );
    if !randomize {
        p.push_str("  set connection random-sequence-number disable\n");
    }
    if map {
        p.push_str("  set connection advanced-options MD5-MAP\n");
    }
    // Without the map and with randomization on the class would set
    // nothing; the cases below never ask for that.
    p.push_str("service-policy global_policy global\n");
    p
}

/// The server's kernel's counters of segments it dropped for a missing
/// and for a wrong signature.
fn md5_drops(lab: &Lab) -> [u64; 2] {
    let ns = lab.netns(Role::Server);
    [tcp_ext(ns, "TCPMD5NotFound"), tcp_ext(ns, "TCPMD5Failure")]
}

/// What one case showed.
struct Outcome {
    /// What the client received, or why nothing.
    client: Result<Vec<u8>, String>,
    /// What the server received, or why nothing.
    server: Result<Vec<u8>, String>,
    /// The server's kernel's drops meanwhile: signature missing, wrong.
    md5_drops: [u64; 2],
    /// The node's exit report.
    node: String,
}

/// The received bytes by their count, not 64 KiB of numbers.
impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outcome")
            .field("client_received", &self.client.as_ref().map(Vec::len))
            .field("server_received", &self.server.as_ref().map(Vec::len))
            .field("md5_drops", &self.md5_drops)
            .field("node", &self.node)
            .finish()
    }
}

/// One signed connection on `port` through a fresh node running
/// [`policy`]`(port, map, randomize)`.
fn case(lab: &Lab, dir: &std::path::Path, port: u16, map: bool, randomize: bool) -> Outcome {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rampart"));
    let node = lab
        .start_node(exe, dir, &policy(port, map, randomize), 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let before = md5_drops(lab);
    let (client, server) = exchange(lab, port);
    let after = md5_drops(lab);
    let summary = node.stop().unwrap_or_else(|e| panic!("{e}"));
    let out = Outcome {
        client,
        server,
        md5_drops: [
            after[0].saturating_sub(before[0]),
            after[1].saturating_sub(before[1]),
        ],
        node: format!("{summary:?}"),
    };
    eprintln!("map {map}, randomization {randomize}: {out:?}");
    out
}

#[test]
fn md5_signed_connections_pass_only_with_a_tcp_map_and_no_randomization() {
    if !is_root() {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    let lab = Lab::new(&format!("rmd5{}", std::process::id())).unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-md5-{}", std::process::id()));

    // 1. The map allows kind 19, randomization is off: signed both ways.
    let out = case(&lab, &dir, 5179, true, false);
    let server = out
        .server
        .as_ref()
        .unwrap_or_else(|e| panic!("server: {e}\n{out:?}"));
    let client = out
        .client
        .as_ref()
        .unwrap_or_else(|e| panic!("client: {e}\n{out:?}"));
    assert!(
        *server == pattern(0),
        "server got {} bytes, not the client's",
        server.len()
    );
    assert!(
        *client == pattern(0x5a),
        "client got {} bytes, not the server's",
        client.len()
    );
    assert_eq!(out.md5_drops, [0, 0], "{out:?}");

    // 2. No map: the default normalizer clears kind 19, the server's
    // kernel drops the unsigned SYN and its retransmissions.
    let out = case(&lab, &dir, 5180, false, false);
    assert!(
        out.client.is_err() && out.server.is_err(),
        "connected without the map: {out:?}"
    );
    assert!(out.md5_drops[0] > 0 && out.md5_drops[1] == 0, "{out:?}");

    // 3. The map, randomization on: the signature arrives intact, but the
    // node has shifted the sequence number it covers.
    let out = case(&lab, &dir, 5181, true, true);
    assert!(
        out.client.is_err() && out.server.is_err(),
        "connected under randomization: {out:?}"
    );
    assert!(out.md5_drops[0] == 0 && out.md5_drops[1] > 0, "{out:?}");

    let _ = std::fs::remove_dir_all(&dir);
}
