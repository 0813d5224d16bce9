//! RFC 5424 syslog messages over UDP (RFC 5426) to a syslog server.
//!
//! RFC 5424 §6: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`,
//! PRI = facility × 8 + severity. The ASA logs to facility local4 (20) by
//! default; MSGID is the ASA message id, MSG the ASA text.

use std::net::{SocketAddr, UdpSocket};

use super::format::Message;

/// Facility local4, the ASA default (`logging facility 20`).
pub const FACILITY_LOCAL4: u8 = 20;

/// Largest datagram sent; RFC 5426 §3.2 asks receivers to take 2048 octets.
pub const MAX_DATAGRAM_BYTES: usize = 2048;

/// Days since 1970-01-01 → (year, month, day) (the proleptic Gregorian
/// calendar; the algorithm of H. Hinnant's "chrono-compatible low-level
/// date algorithms").
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// An RFC 3339 UTC timestamp with microseconds (RFC 5424 §6.2.3).
pub fn timestamp(unix_ns: u64) -> String {
    let secs = (unix_ns / 1_000_000_000) as i64;
    let micros = (unix_ns % 1_000_000_000) / 1000;
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// A header field: printable US-ASCII without spaces, at most `max`
/// characters, `-` when empty (RFC 5424 §6).
fn field(s: &str, max: usize) -> String {
    let f: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if f.is_empty() { "-".into() } else { f }
}

/// The whole message.
pub fn format(msg: &Message, unix_ns: u64, hostname: &str, procid: u32) -> String {
    let pri = u16::from(FACILITY_LOCAL4) * 8 + u16::from(msg.severity.min(7));
    format!(
        "<{pri}>1 {} {} rampart {procid} {} - {}",
        timestamp(unix_ns),
        field(hostname, 255),
        msg.id,
        msg.line()
    )
}

/// A UDP socket connected to the syslog server.
#[derive(Debug)]
pub struct UdpSink {
    socket: UdpSocket,
    hostname: String,
    procid: u32,
}

impl UdpSink {
    /// Send to `server`, naming this node `hostname`.
    pub fn new(server: SocketAddr, hostname: &str) -> std::io::Result<Self> {
        let local: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal")
        } else {
            "[::]:0".parse().expect("literal")
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(server)?;
        socket.set_nonblocking(true)?;
        Ok(UdpSink {
            socket,
            hostname: hostname.to_string(),
            procid: std::process::id(),
        })
    }

    /// Send one message (never blocks: a full socket buffer loses it, counted by the caller).
    pub fn send(&self, msg: &Message, unix_ns: u64) -> std::io::Result<()> {
        let text = format(msg, unix_ns, &self.hostname, self.procid);
        let mut bytes = text.as_bytes();
        if bytes.len() > MAX_DATAGRAM_BYTES {
            bytes = &bytes[..MAX_DATAGRAM_BYTES];
        }
        self.socket.send(bytes).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000000Z");
        // 2026-11-24T13:05:09.123456Z
        assert_eq!(
            timestamp(1_795_525_509_123_456_789),
            "2026-11-24T13:05:09.123456Z"
        );
        // A leap day.
        assert_eq!(
            timestamp(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
    }

    #[test]
    fn header_fields_follow_rfc5424() {
        let m = Message {
            id: 302013,
            severity: 6,
            text: "Built outbound TCP connection 1".into(),
        };
        assert_eq!(
            format(&m, 0, "fw a", 42),
            "<166>1 1970-01-01T00:00:00.000000Z fwa rampart 42 302013 - %ASA-6-302013: Built outbound TCP connection 1"
        );
        assert_eq!(field("", 5), "-");
    }

    #[test]
    fn a_listener_receives_the_datagram() {
        let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
        listener
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let sink = UdpSink::new(listener.local_addr().unwrap(), "node-a").unwrap();
        let m = Message {
            id: 106015,
            severity: 6,
            text: "Deny TCP (no connection) from 198.18.0.1/1 to 198.18.1.1/2 flags ACK  on interface inside".into(),
        };
        sink.send(&m, 1_795_525_509_000_000_000).unwrap();
        let mut buf = [0u8; 4096];
        let n = listener.recv(&mut buf).unwrap();
        let got = std::str::from_utf8(&buf[..n]).unwrap();
        assert_eq!(
            got,
            format!(
                "<166>1 2026-11-24T13:05:09.000000Z node-a rampart {} 106015 - %ASA-6-106015: Deny TCP (no connection) from 198.18.0.1/1 to 198.18.1.1/2 flags ACK  on interface inside",
                std::process::id()
            )
        );
    }
}
