//! Real traffic across the asymmetric lab: TCP connections that carry a
//! payload checked by digest, and UDP request/response, each kind counted
//! as attempted, succeeded and bytes verified. Every wait is bounded in
//! time; `stop` ends a kind early (Ctrl-C).

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

use super::netns::NetnsError;
use super::report::KindReport;
use super::topology::{ASYM_CLIENT, ASYM_SERVER, AsymLab};

/// The UDP kind's server port.
pub(crate) const UDP_PORT: u16 = 5003;

/// FNV-1a, to compare transferred bytes without keeping two copies.
pub fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// `count` TCP connections from `src` to `dst:port`, each sending `bytes`
/// and checking the server's digest of what arrived.
#[allow(clippy::too_many_arguments)]
pub fn tcp_kind(
    lab: &AsymLab,
    name: &str,
    src: &'static str,
    dst: &'static str,
    port: u16,
    count: usize,
    bytes: usize,
    stop: &'static AtomicBool,
) -> Result<KindReport, NetnsError> {
    let server = lab.server.spawn(move || {
        let Ok(l) = TcpListener::bind((dst, port)) else {
            return;
        };
        if l.set_nonblocking(true).is_err() {
            return;
        }
        // Bounded in time: failed connections never arrive.
        for _ in 0..(count * 300) {
            match l.accept() {
                Ok((mut c, _)) => {
                    let _ = c.set_nonblocking(false);
                    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut data = Vec::new();
                    if c.read_to_end(&mut data).is_ok() {
                        let _ = c.write_all(&fnv(&data).to_be_bytes());
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
    })?;
    let (succeeded, verified) = lab
        .client
        .spawn(move || {
            let payload: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
            let (mut ok, mut verified) = (0, 0);
            for _ in 0..count {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let (Ok(src), Ok(dst)) = (src.parse(), dst.parse())
                    && one_tcp(src, dst, port, &payload)
                {
                    ok += 1;
                    verified += payload.len();
                }
            }
            (ok, verified)
        })?
        .join()
        .unwrap_or((0, 0));
    drop(server); // the listener thread ends by itself within its bound
    Ok(KindReport::new(name, count, succeeded, verified))
}

/// One TCP connection from `src` to `dst:port` that sends `payload` and
/// checks the server's digest of what arrived; every wait is bounded.
pub(crate) fn one_tcp(src: Ipv4Addr, dst: Ipv4Addr, port: u16, payload: &[u8]) -> bool {
    let Ok(s) = Socket::new(Domain::IPV4, Type::STREAM, None) else {
        return false;
    };
    if s.bind(&SocketAddr::from((src, 0)).into()).is_err()
        || s.connect_timeout(
            &SocketAddr::from((dst, port)).into(),
            Duration::from_millis(1500),
        )
        .is_err()
    {
        return false;
    }
    let mut s: TcpStream = s.into();
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    // A path that breaks after the handshake must not stall the sender
    // for TCP's whole retransmission budget.
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let mut reply = [0u8; 8];
    s.write_all(payload).is_ok()
        && s.shutdown(std::net::Shutdown::Write).is_ok()
        && s.read_exact(&mut reply).is_ok()
        && u64::from_be_bytes(reply) == fnv(payload)
}

/// `count` UDP request/response exchanges on the asymmetric path.
pub fn udp_kind(
    lab: &AsymLab,
    name: &str,
    count: usize,
    stop: &'static AtomicBool,
) -> Result<KindReport, NetnsError> {
    let server = lab.server.spawn(move || {
        let Ok(s) = UdpSocket::bind((ASYM_SERVER, UDP_PORT)) else {
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 2048];
        for _ in 0..count * 3 {
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                let _ = s.send_to(&buf[..n], from);
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
    })?;
    let (ok, verified) = lab
        .client
        .spawn(move || {
            let Ok(s) = UdpSocket::bind((ASYM_CLIENT, 0)) else {
                return (0, 0);
            };
            let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
            let (mut ok, mut verified) = (0, 0);
            for i in 0..count {
                let msg = format!("rampart lab datagram {i}");
                let _ = s.send_to(msg.as_bytes(), (ASYM_SERVER, UDP_PORT));
                let mut buf = [0u8; 2048];
                if let Ok(n) = s.recv(&mut buf)
                    && &buf[..n] == msg.as_bytes()
                {
                    ok += 1;
                    verified += n;
                }
            }
            (ok, verified)
        })?
        .join()
        .unwrap_or((0, 0));
    let _ = server.join();
    Ok(KindReport::new(name, count, ok, verified))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_fnv_1a() {
        assert_eq!(fnv(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
