//! Who owns the socket at the other end of a local TCP connection, from
//! the kernel's socket tables (`/proc/net/tcp`, `/proc/net/tcp6`: a line
//! per socket, with its local and remote address and its owner's uid).
//!
//! The CLI asks this before it sends a token (docs/ops.md §1): the node's
//! admin port is an unprivileged port on loopback, and whoever bound it
//! first answers there. It looks up the server's end of the connection it
//! has just opened (local address = the address it reached, remote = its
//! own), not the listener by port: that is the very socket its bytes would
//! reach, so a listener that changes hands between a lookup and the
//! connect cannot slip in. An accepted socket (or a handshake still in the
//! listener's queue) carries the listening socket's owner.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The kernel's tables of TCP sockets of the calling thread's network
/// namespace: `thread-self`, not `self` (which `/proc/net` is), since a
/// thread may have entered another namespace than its process's (the lab
/// asks nodes from threads inside theirs, `node/src/lab/netns.rs`).
const TABLES: [&str; 2] = ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"];

/// Looks a little longer for a socket not in the tables yet: the server's
/// end of a connection appears once the kernel has taken the handshake's
/// last segment, which on loopback is at once, but a lookup is cheap.
const LOOKUPS: u32 = 5;
const LOOKUP_PAUSE: Duration = Duration::from_millis(10);

/// The uid of the process that listens at the other end of `s`, a
/// connected Unix stream socket: the credentials the kernel took when
/// that socket listened (socket(7) and unix(7): `SO_PEERCRED`), mapped
/// into this user namespace (an unmapped owner shows as the overflow uid).
pub fn unix_peer_uid(s: &std::os::unix::net::UnixStream) -> std::io::Result<u32> {
    use std::os::fd::AsRawFd as _;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::ucred>())
        .map_err(|_| std::io::Error::other("ucred size"))?;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given, and
    // the descriptor is open for the call's length (borrowed from `s`).
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::from_mut(&mut cred).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// The owner (uid) of the socket whose local address is `there` and whose
/// remote address is `here`: the server end of our connection from `here`
/// to `there`. `None` when no such socket is on this host (the peer is
/// elsewhere).
pub fn server_uid(here: SocketAddr, there: SocketAddr) -> std::io::Result<Option<u32>> {
    // Only the tables that can hold the socket, its family's first, so the
    // usual lookup reads one: the listener keeps a connection only so long
    // before its head (docs/ops.md §2), and a busy host has long tables. An
    // IPv4 address may still be served by a dual-stack IPv6 socket; an
    // IPv6 one never by an IPv4 socket.
    let tables: &[&str] = match there.ip().to_canonical() {
        IpAddr::V4(_) => &TABLES,
        IpAddr::V6(_) => &TABLES[1..],
    };
    for attempt in 0..LOOKUPS {
        for &path in tables {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                // A kernel without IPv6 has no tcp6 table.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && path.ends_with('6') => {
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(uid) = find(&text, there, here) {
                return Ok(Some(uid));
            }
        }
        if attempt + 1 < LOOKUPS {
            std::thread::sleep(LOOKUP_PAUSE);
        }
    }
    Ok(None)
}

/// The uid of the socket in `table` (the text of `/proc/net/tcp` or
/// `tcp6`) with this local and remote address. Addresses compare in their
/// canonical form, so an IPv4 connection accepted by a dual-stack IPv6
/// socket (`::ffff:127.0.0.1`) is found for an IPv4 address.
pub fn find(table: &str, local: SocketAddr, remote: SocketAddr) -> Option<u32> {
    let canon = |a: SocketAddr| (a.ip().to_canonical(), a.port());
    let (local, remote) = (canon(local), canon(remote));
    table.lines().skip(1).find_map(|line| {
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
        let f: Vec<&str> = line.split_whitespace().collect();
        let l = parse_addr(f.get(1)?)?;
        let r = parse_addr(f.get(2)?)?;
        (canon(l) == local && canon(r) == remote)
            .then(|| f.get(7)?.parse().ok())
            .flatten()
    })
}

/// One `ADDR:PORT` of the tables: the address as the kernel holds it in
/// memory (network order), printed one native-endian 32-bit word at a
/// time in hex; the port in hex.
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = addr.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An address as the tables print it (what the kernel does, here).
    fn hex(ip: IpAddr) -> String {
        let bytes = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        bytes
            .chunks(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes(w.try_into().unwrap())))
            .collect()
    }

    fn line(local: SocketAddr, remote: SocketAddr, state: &str, uid: u32) -> String {
        format!(
            "   3: {}:{:04X} {}:{:04X} {state} 00000000:00000000 00:00000000 00000000  {uid}        0 12345 1 0000000000000000 20 4 30 10 -1",
            hex(local.ip()),
            local.port(),
            hex(remote.ip()),
            remote.port()
        )
    }

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

    #[test]
    fn the_server_end_of_a_connection_is_found_with_its_owner() {
        let node: SocketAddr = "127.0.0.1:9461".parse().unwrap();
        let cli: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let table = [
            HEADER.to_string(),
            // The listener, the client's end, then the server's end.
            line(node, "0.0.0.0:0".parse().unwrap(), "0A", 0),
            line(cli, node, "01", 1000),
            line(node, cli, "01", 1001),
        ]
        .join("\n");
        assert_eq!(find(&table, node, cli), Some(1001));
        assert_eq!(find(&table, cli, node), Some(1000));
        let other: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        assert_eq!(find(&table, node, other), None);
    }

    #[test]
    fn an_ipv4_connection_to_a_dual_stack_socket_is_found_in_tcp6() {
        let node: SocketAddr = "[::ffff:127.0.0.1]:9461".parse().unwrap();
        let cli: SocketAddr = "[::ffff:127.0.0.1]:40000".parse().unwrap();
        let table = [HEADER.to_string(), line(node, cli, "01", 7)].join("\n");
        assert_eq!(
            find(
                &table,
                "127.0.0.1:9461".parse().unwrap(),
                "127.0.0.1:40000".parse().unwrap()
            ),
            Some(7)
        );
        let v6: SocketAddr = "[::1]:9461".parse().unwrap();
        let v6c: SocketAddr = "[::1]:40000".parse().unwrap();
        let table = [HEADER.to_string(), line(v6, v6c, "01", 8)].join("\n");
        assert_eq!(find(&table, v6, v6c), Some(8));
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let node: SocketAddr = "127.0.0.1:9461".parse().unwrap();
        let cli: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let table = [
            HEADER.to_string(),
            "x".into(),
            "   1: ZZZZZZZZ:1F90 00000000:0000 0A".into(),
            line(node, cli, "01", 5),
        ]
        .join("\n");
        assert_eq!(find(&table, node, cli), Some(5));
    }

    /// On this host: a connection of our own to a listener of our own is
    /// found, owned by us.
    #[test]
    fn a_real_connection_is_found_owned_by_this_user() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let uid = server_uid(c.local_addr().unwrap(), c.peer_addr().unwrap()).unwrap();
        // SAFETY: geteuid has no preconditions.
        assert_eq!(uid, Some(unsafe { libc::geteuid() }));
        let _accepted = l.accept().unwrap();
        let uid = server_uid(c.local_addr().unwrap(), c.peer_addr().unwrap()).unwrap();
        assert_eq!(uid, Some(unsafe { libc::geteuid() }));
    }
}
