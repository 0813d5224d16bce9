//! The owner of one TCP socket of this host, looked up by its addresses
//! through the kernel's socket diagnostics (sock_diag(7): a
//! `SOCK_DIAG_BY_FAMILY` request naming one socket, answered with its
//! `inet_diag_msg`, which carries its owner's uid).
//!
//! The ops listeners ask it for every connection they accept (docs/ops.md
//! §2): a connection from a socket of this host counts under its owner's
//! uid, so that one local user is one source whichever loopback (or other
//! local) address it connects from, and two users are two. `/proc/net/tcp`
//! ([`crate::sock_owner`]) would say the same, but it lists every socket of
//! the namespace, so reading it costs as much as the host holds sockets,
//! which any local user can inflate; an exact lookup is one hash lookup in
//! the kernel, answered within the request's own `send`. That makes it
//! cheap enough for every accept on the listeners' one thread, and the
//! answer is read without waiting (`MSG_DONTWAIT`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};

/// `SOCK_DIAG_BY_FAMILY` (linux/sock_diag.h).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLMSG_ERROR` (linux/netlink.h).
const NLMSG_ERROR: u16 = 2;
/// `NLM_F_REQUEST` (linux/netlink.h): one answer, no dump.
const NLM_F_REQUEST: u16 = 1;
/// The `nlmsghdr`'s length.
const HEADER_LEN: usize = 16;
/// `inet_diag_req_v2`: family, protocol, extensions, padding, the states
/// wanted, then the 48-byte `inet_diag_sockid`.
const REQUEST_LEN: usize = HEADER_LEN + 8 + SOCKID_LEN;
/// `inet_diag_sockid`: ports, two 16-byte addresses, the interface and the
/// cookie.
const SOCKID_LEN: usize = 48;
/// `inet_diag_msg` up to and including `idiag_uid` (family, state, timer,
/// retransmits, the sock id, expires, the two queues, then the uid).
const MSG_UID_END: usize = 4 + SOCKID_LEN + 12 + 4;
/// `inet_diag_msg` up to and including `idiag_inode`, after the uid: the
/// whole message.
const MSG_INODE_END: usize = MSG_UID_END + 4;
/// Room for the answer: one `inet_diag_msg`, or an error that quotes the
/// request.
const ANSWER_ROOM: usize = 512;
/// TCP states (linux/tcp_states.h) that are no client's live socket: a
/// listener (the kernel's lookup falls back to one when no connection
/// matches) and a connection's leftover.
const TCP_TIME_WAIT: u8 = 6;
const TCP_LISTEN: u8 = 10;

/// The uid that owns the TCP socket of this network namespace whose local
/// address is `local` and whose remote address is `remote`: for an
/// accepted connection, `local` is its peer's address and `remote` the
/// listener's, so the answer is the connecting user. `None` when no such
/// socket is here (the peer is on another host, or already gone). Asks
/// the namespace of the calling thread, as the accepted socket lives in.
pub fn tcp_owner(local: SocketAddr, remote: SocketAddr) -> io::Result<Option<u32>> {
    // SAFETY: socket(2) with constant arguments; the descriptor it answers
    // is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a descriptor just opened and owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let req = request(local, remote);
    // Unaddressed, a netlink datagram goes to the kernel (netlink(7)).
    // SAFETY: `req` is valid for reads of its length for the call.
    let sent = unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut answer = [0u8; ANSWER_ROOM];
    // SAFETY: `answer` is valid for writes of its length for the call.
    let got = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            answer.as_mut_ptr().cast(),
            answer.len(),
            libc::MSG_DONTWAIT,
        )
    };
    let got = usize::try_from(got).map_err(|_| io::Error::last_os_error())?;
    parse(&answer[..got.min(ANSWER_ROOM)], local, remote)
}

/// The address family a lookup of these addresses asks in: an IPv4
/// connection (also one a dual-stack socket holds, `::ffff:a.b.c.d`) is
/// found among IPv4 connections, which hold those sockets too.
fn family(local: SocketAddr) -> u8 {
    match local.ip().to_canonical() {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

/// An address as `inet_diag_sockid` holds it: network order, an IPv4 one
/// in the first four bytes.
fn addr_bytes(ip: IpAddr) -> [u8; 16] {
    let mut b = [0u8; 16];
    match ip.to_canonical() {
        IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => b = a.octets(),
    }
    b
}

/// The request for the socket with these addresses.
fn request(local: SocketAddr, remote: SocketAddr) -> [u8; REQUEST_LEN] {
    let mut r = [0u8; REQUEST_LEN];
    let len = REQUEST_LEN as u32;
    r[0..4].copy_from_slice(&len.to_ne_bytes());
    r[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    r[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    r[8..12].copy_from_slice(&1u32.to_ne_bytes());
    // Port id 0: the kernel fills in ours.
    let b = HEADER_LEN;
    r[b] = family(local);
    r[b + 1] = libc::IPPROTO_TCP as u8;
    // Every state: an exact lookup does not filter by them anyway.
    r[b + 4..b + 8].copy_from_slice(&u32::MAX.to_ne_bytes());
    let id = b + 8;
    r[id..id + 2].copy_from_slice(&local.port().to_be_bytes());
    r[id + 2..id + 4].copy_from_slice(&remote.port().to_be_bytes());
    r[id + 4..id + 20].copy_from_slice(&addr_bytes(local.ip()));
    r[id + 20..id + 36].copy_from_slice(&addr_bytes(remote.ip()));
    // A link-local peer is found only on its interface.
    let scope = match local {
        SocketAddr::V6(a) if family(local) == libc::AF_INET6 as u8 => a.scope_id(),
        _ => 0,
    };
    r[id + 36..id + 40].copy_from_slice(&scope.to_ne_bytes());
    // INET_DIAG_NOCOOKIE, both words: any socket with these addresses.
    r[id + 40..id + 48].copy_from_slice(&[0xff; 8]);
    r
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The address at `at` of a sock id of `family`.
fn addr_at(b: &[u8], at: usize, family: u8) -> Option<IpAddr> {
    let raw: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    if family == libc::AF_INET as u8 {
        Some(IpAddr::from([raw[0], raw[1], raw[2], raw[3]]))
    } else {
        Some(IpAddr::from(raw).to_canonical())
    }
}

/// The uid in the kernel's answer, if it names a live socket with exactly
/// these addresses; `None` when the kernel found none (`ENOENT`) or found
/// another (a listener, a leftover).
///
/// Only a socket a process holds has an owner: the kernel answers for a
/// time-wait or request minisocket with uid 0 and inode 0 whatever user
/// opened the connection (`inet_twsk_diag_fill`, `inet_req_diag_fill` in
/// the kernel's `inet_diag.c`), and for a full socket no process holds
/// any more (an orphan in FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK) with
/// inode 0. Its state is no guide (a time-wait minisocket reports its
/// substate, FIN_WAIT2 for one closed first by this end), so inode 0 is
/// the test: such a connection counts under no uid, never as root's.
fn parse(answer: &[u8], local: SocketAddr, remote: SocketAddr) -> io::Result<Option<u32>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "a malformed sock_diag answer");
    let kind = answer
        .get(4..6)
        .map(|t| u16::from_ne_bytes([t[0], t[1]]))
        .ok_or_else(bad)?;
    let body = &answer[HEADER_LEN.min(answer.len())..];
    if kind == NLMSG_ERROR {
        let errno = u32_at(body, 0).ok_or_else(bad)? as i32;
        return match -errno {
            0 | libc::ENOENT => Ok(None),
            e => Err(io::Error::from_raw_os_error(e)),
        };
    }
    if kind != SOCK_DIAG_BY_FAMILY || body.len() < MSG_INODE_END {
        return Err(bad());
    }
    let (fam, state) = (body[0], body[1]);
    let id = 4;
    let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
    let found_local = SocketAddr::new(addr_at(body, id + 4, fam).ok_or_else(bad)?, port(id));
    let found_remote = SocketAddr::new(addr_at(body, id + 20, fam).ok_or_else(bad)?, port(id + 2));
    let canon = |a: SocketAddr| (a.ip().to_canonical(), a.port());
    if canon(found_local) != canon(local)
        || canon(found_remote) != canon(remote)
        || matches!(state, TCP_LISTEN | TCP_TIME_WAIT)
        || u32_at(body, MSG_INODE_END - 4) == Some(0)
    {
        return Ok(None);
    }
    Ok(u32_at(body, MSG_UID_END - 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer as the kernel writes it for a socket of `family` with
    /// these addresses, `state` and `uid`, held by a process (inode 7).
    fn answer(family: u8, local: SocketAddr, remote: SocketAddr, state: u8, uid: u32) -> Vec<u8> {
        with_inode(answer_of(family, local, remote, state, uid), 7)
    }

    /// `a` with its socket's inode set to `inode`.
    fn with_inode(mut a: Vec<u8>, inode: u32) -> Vec<u8> {
        a[HEADER_LEN + 68..HEADER_LEN + 72].copy_from_slice(&inode.to_ne_bytes());
        a
    }

    fn answer_of(
        family: u8,
        local: SocketAddr,
        remote: SocketAddr,
        state: u8,
        uid: u32,
    ) -> Vec<u8> {
        let mut a = vec![0u8; HEADER_LEN + 72];
        let len = a.len() as u32;
        a[0..4].copy_from_slice(&len.to_ne_bytes());
        a[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        let m = HEADER_LEN;
        a[m] = family;
        a[m + 1] = state;
        a[m + 4..m + 6].copy_from_slice(&local.port().to_be_bytes());
        a[m + 6..m + 8].copy_from_slice(&remote.port().to_be_bytes());
        let bytes = |ip: IpAddr| match (family == libc::AF_INET as u8, ip) {
            (false, IpAddr::V4(v4)) => v4.to_ipv6_mapped().octets(),
            _ => addr_bytes(ip),
        };
        a[m + 8..m + 24].copy_from_slice(&bytes(local.ip()));
        a[m + 24..m + 40].copy_from_slice(&bytes(remote.ip()));
        a[m + 64..m + 68].copy_from_slice(&uid.to_ne_bytes());
        a
    }

    fn error(errno: i32) -> Vec<u8> {
        let mut a = vec![0u8; HEADER_LEN + 4];
        a[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        a[HEADER_LEN..].copy_from_slice(&(-errno).to_ne_bytes());
        a
    }

    const INET: u8 = libc::AF_INET as u8;
    const INET6: u8 = libc::AF_INET6 as u8;

    #[test]
    fn the_request_names_the_socket_in_network_order() {
        let client: SocketAddr = "127.0.0.2:40000".parse().unwrap();
        let server: SocketAddr = "127.0.0.1:9100".parse().unwrap();
        let r = request(client, server);
        assert_eq!(u32_at(&r, 0), Some(REQUEST_LEN as u32));
        assert_eq!((r[16], r[17]), (INET, libc::IPPROTO_TCP as u8));
        assert_eq!(&r[24..28], &[0x9c, 0x40, 0x23, 0x8c]);
        assert_eq!(&r[28..32], &[127, 0, 0, 2]);
        assert_eq!(&r[44..48], &[127, 0, 0, 1]);
        // A dual-stack socket's IPv4 connection is asked as IPv4.
        let mapped: SocketAddr = "[::ffff:127.0.0.2]:40000".parse().unwrap();
        assert_eq!(request(mapped, server), r);
        let v6: SocketAddr = "[2001:db8::7]:40000".parse().unwrap();
        assert_eq!(
            request(v6, "[2001:db8::1]:9100".parse().unwrap())[16],
            INET6
        );
    }

    #[test]
    fn only_the_socket_asked_for_is_taken() {
        let client: SocketAddr = "127.0.0.2:40000".parse().unwrap();
        let server: SocketAddr = "127.0.0.1:9100".parse().unwrap();
        let ok = |a: Vec<u8>| parse(&a, client, server).unwrap();
        assert_eq!(ok(answer(INET, client, server, 1, 4242)), Some(4242));
        // A dual-stack client socket answers in IPv6 form.
        assert_eq!(ok(answer(INET6, client, server, 4, 7)), Some(7));
        // The kernel falls back to a listener on the client's port: not a
        // client, and so not this connection's owner.
        let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
        assert_eq!(ok(answer(INET, client, any, TCP_LISTEN, 0)), None);
        assert_eq!(ok(answer(INET, client, server, TCP_TIME_WAIT, 0)), None);
        let other: SocketAddr = "127.0.0.1:9101".parse().unwrap();
        assert_eq!(ok(answer(INET, client, other, 1, 0)), None);
        assert_eq!(ok(error(libc::ENOENT)), None);
        // A connection no process holds: a time-wait minisocket in its
        // FIN_WAIT2 substate (uid 0), or an orphaned full socket, both
        // with inode 0. Before, the first counted as root's.
        const TCP_FIN_WAIT2: u8 = 5;
        let orphan = with_inode(answer(INET, client, server, TCP_FIN_WAIT2, 0), 0);
        assert_eq!(ok(orphan), None);
        let orphan = with_inode(answer(INET, client, server, 4, 1000), 0);
        assert_eq!(ok(orphan), None);
        assert!(parse(&error(libc::EPERM), client, server).is_err());
        assert!(parse(&[0u8; 3], client, server).is_err());
        assert!(parse(&answer(INET, client, server, 1, 0)[..40], client, server).is_err());
    }

    /// On this host: the client end of a loopback connection is found,
    /// owned by this user; an address with no socket is not.
    #[test]
    fn a_real_connection_is_found_owned_by_this_user() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (accepted, peer) = l.accept().unwrap();
        let here = accepted.local_addr().unwrap();
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        assert_eq!(tcp_owner(peer, here).unwrap(), Some(me));
        assert_eq!(c.local_addr().unwrap(), peer);
        let nobody: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(tcp_owner(nobody, here).unwrap(), None);
        // IPv6, and an IPv4 client of a dual-stack listener (where the
        // host has IPv6 at all).
        for (listen, to) in [("[::1]:0", "[::1]"), ("[::]:0", "127.0.0.1")] {
            let Ok(l) = std::net::TcpListener::bind(listen) else {
                continue;
            };
            let port = l.local_addr().unwrap().port();
            let to: SocketAddr = format!("{to}:{port}").parse().unwrap();
            let _c = std::net::TcpStream::connect(to).unwrap();
            let (accepted, peer) = l.accept().unwrap();
            let here = accepted.local_addr().unwrap();
            assert_eq!(tcp_owner(peer, here).unwrap(), Some(me), "{listen}");
        }
    }
}
