//! `udpblast`: a small-packet UDP generator and counter for the lab
//! benchmarks, fast enough not to be the bottleneck (iperf3's UDP mode
//! tops out near 150k packets/s here; this sends batches of datagrams
//! with one `sendmmsg` call and counts them with `recvmmsg`).
//!
//! ```text
//! udpblast send --to 198.18.0.20:9000 [--ports 1] [--hosts 1] [--size 18]
//!               [--count N] [--seconds S] [--rate PPS] [--batch 64]
//! udpblast recv --bind 198.18.0.20:9000 [--ports 1] [--seconds S]
//!               [--idle-ms 500] [--expect N]
//! ```
//!
//! `send` cycles its datagrams over `hosts` × `ports` destinations (each a
//! distinct 5-tuple, so `--hosts 1024 --ports 1000` makes a million flows
//! for a connection table) and stops at `count` datagrams or after
//! `seconds`, whichever comes first; `--rate` paces it (0: as fast as the
//! kernel takes them). `recv` binds `ports` consecutive ports and stops
//! after `seconds`, after `idle-ms` without a datagram once one arrived,
//! or at `expect` datagrams. Each prints one JSON object on stdout; `recv`
//! writes `listening` on stderr once its sockets are bound.
//!
//! A datagram's payload starts with a magic word and its sequence number;
//! the receiver counts only datagrams that carry the magic word.
// A load generator reads the clock by definition.
#![allow(clippy::disallowed_methods)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

/// The first 8 bytes of every payload.
const MAGIC: u64 = 0x5241_4d50_4152_5431; // "RAMPART1"
/// The smallest payload: magic word and sequence number.
const MIN_PAYLOAD_BYTES: usize = 16;
/// The largest payload we send (one unfragmented datagram on a 1500 MTU).
const MAX_PAYLOAD_BYTES: usize = 1472;
/// The most datagrams in one `sendmmsg`/`recvmmsg` call.
const MAX_BATCH: usize = 1024;
/// Destinations (`hosts` × `ports`) we precompute addresses for.
const MAX_FLOWS: usize = 1 << 24;
/// Sockets the receiver binds at most.
const MAX_RECV_PORTS: usize = 1024;
/// Socket buffers asked for (SO_*BUFFORCE as root, else the capped size).
const SOCKET_BUFFER_BYTES: libc::c_int = 16 << 20;
/// The longest run either side accepts.
const MAX_SECONDS: f64 = 600.0;

#[derive(Parser, Debug)]
#[command(about = "Small-packet UDP sender and counter for the lab benchmarks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Send datagrams (bounded by --count and --seconds).
    Send(SendArgs),
    /// Count datagrams that arrive.
    Recv(RecvArgs),
}

#[derive(clap::Args, Debug)]
struct SendArgs {
    /// First destination address and port.
    #[arg(long)]
    to: SocketAddrV4,
    /// Local address to send from (default: chosen by the route).
    #[arg(long)]
    from: Option<Ipv4Addr>,
    /// Consecutive destination ports, starting at --to's port.
    #[arg(long, default_value_t = 1)]
    ports: u16,
    /// Consecutive destination addresses, starting at --to's address.
    #[arg(long, default_value_t = 1)]
    hosts: u32,
    /// UDP payload bytes (18 makes a 64-byte Ethernet frame with its FCS).
    #[arg(long, default_value_t = 18)]
    size: usize,
    /// Stop after this many datagrams.
    #[arg(long, default_value_t = 10_000_000)]
    count: u64,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Datagrams per second (0: unpaced).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Datagrams per sendmmsg call.
    #[arg(long, default_value_t = 64)]
    batch: usize,
}

#[derive(clap::Args, Debug)]
struct RecvArgs {
    /// Address and first port to bind.
    #[arg(long)]
    bind: SocketAddrV4,
    /// Consecutive ports to bind, starting at --bind's port.
    #[arg(long, default_value_t = 1)]
    ports: u16,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Stop this long after the last datagram (once one arrived).
    #[arg(long, default_value_t = 500)]
    idle_ms: u64,
    /// Stop once this many datagrams arrived (0: no such stop).
    #[arg(long, default_value_t = 0)]
    expect: u64,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Send(a) => send(&a),
        Cmd::Recv(a) => recv(&a),
    };
    match result {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("udpblast: {e}");
            std::process::exit(1);
        }
    }
}

fn check_seconds(s: f64) -> Result<Duration, String> {
    if !(s > 0.0 && s <= MAX_SECONDS) {
        return Err(format!("--seconds must be in (0, {MAX_SECONDS}], not {s}"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// A UDP socket with large buffers.
fn udp_socket() -> Result<OwnedFd, String> {
    // SAFETY: plain socket(2); the fd is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(os_err("socket"));
    }
    // SAFETY: fd is a fresh socket we own.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    for (force, plain) in [
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
    ] {
        if setsockopt_int(&fd, libc::SOL_SOCKET, force, SOCKET_BUFFER_BYTES).is_err() {
            // Not root: the capped size is still better than the default.
            let _ = setsockopt_int(&fd, libc::SOL_SOCKET, plain, SOCKET_BUFFER_BYTES);
        }
    }
    Ok(fd)
}

fn setsockopt_int(fd: &OwnedFd, level: i32, name: i32, value: libc::c_int) -> Result<(), String> {
    // SAFETY: value outlives the call; the length matches its type.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(os_err("setsockopt"));
    }
    Ok(())
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn bind(fd: &OwnedFd, a: SocketAddrV4) -> Result<(), String> {
    let sa = sockaddr(a);
    // SAFETY: sa lives across the call and the length is its size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(os_err(&format!("bind {a}")));
    }
    Ok(())
}

/// The destinations of `send`: `hosts` addresses × `ports` ports.
fn destinations(a: &SendArgs) -> Result<Vec<libc::sockaddr_in>, String> {
    let base_ip = u32::from(*a.to.ip());
    let flows = (a.hosts as usize).saturating_mul(a.ports as usize);
    if a.ports == 0 || a.hosts == 0 || flows > MAX_FLOWS {
        return Err(format!(
            "--hosts × --ports must be 1..={MAX_FLOWS}, not {} × {}",
            a.hosts, a.ports
        ));
    }
    if u32::from(a.to.port()) + u32::from(a.ports) > 65_536 {
        return Err("--to port + --ports runs past port 65535".into());
    }
    if base_ip.checked_add(a.hosts - 1).is_none() {
        return Err("--to address + --hosts runs past 255.255.255.255".into());
    }
    let mut out = Vec::with_capacity(flows);
    // Port-major within each host so consecutive datagrams differ in port.
    for h in 0..a.hosts {
        for p in 0..a.ports {
            out.push(sockaddr(SocketAddrV4::new(
                Ipv4Addr::from(base_ip + h),
                a.to.port() + p,
            )));
        }
    }
    Ok(out)
}

fn send(a: &SendArgs) -> Result<String, String> {
    let limit = check_seconds(a.seconds)?;
    if !(MIN_PAYLOAD_BYTES..=MAX_PAYLOAD_BYTES).contains(&a.size) {
        return Err(format!(
            "--size must be {MIN_PAYLOAD_BYTES}..={MAX_PAYLOAD_BYTES}, not {}",
            a.size
        ));
    }
    if a.batch == 0 || a.batch > MAX_BATCH {
        return Err(format!("--batch must be 1..={MAX_BATCH}"));
    }
    let mut dests = destinations(a)?;
    let fd = udp_socket()?;
    if let Some(from) = a.from {
        bind(&fd, SocketAddrV4::new(from, 0))?;
    }
    // One destination: connect, so the kernel routes once, not per datagram.
    let connected = dests.len() == 1;
    if connected {
        // SAFETY: the address lives across the call; the length is its size.
        let r = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&dests[0] as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(os_err(&format!("connect {}", a.to)));
        }
    }
    let mut payloads = vec![[0u8; MAX_PAYLOAD_BYTES]; a.batch];
    for p in &mut payloads {
        p[..8].copy_from_slice(&MAGIC.to_be_bytes());
    }
    let mut iovs: Vec<libc::iovec> = Vec::with_capacity(a.batch);
    for p in &mut payloads {
        iovs.push(libc::iovec {
            iov_base: p.as_mut_ptr().cast(),
            iov_len: a.size,
        });
    }
    // SAFETY: mmsghdr is plain data; all-zero is a valid empty header.
    let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; a.batch];
    for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
        m.msg_hdr.msg_iov = iov;
        m.msg_hdr.msg_iovlen = 1;
    }

    let start = Instant::now();
    let mut sent = 0u64;
    let mut errors = 0u64;
    let mut next_flow = 0usize;
    while sent < a.count {
        let elapsed = start.elapsed();
        if elapsed >= limit {
            break;
        }
        if a.rate > 0 {
            // Pace: the next batch is due when `sent` datagrams' time is up.
            let due = Duration::from_secs_f64(sent as f64 / a.rate as f64);
            if due > elapsed {
                let wait = due - elapsed;
                if wait > Duration::from_micros(50) {
                    std::thread::sleep(wait.min(limit.saturating_sub(elapsed)));
                }
                continue;
            }
        }
        let n = (a.count - sent).min(a.batch as u64) as usize;
        for (i, m) in msgs.iter_mut().take(n).enumerate() {
            let seq = sent + i as u64;
            payloads[i][8..16].copy_from_slice(&seq.to_be_bytes());
            if !connected {
                m.msg_hdr.msg_name = (&raw mut dests[next_flow]).cast();
                m.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
                next_flow = (next_flow + 1) % dests.len();
            }
        }
        // SAFETY: msgs[..n] point at live iovecs, payloads and addresses.
        let r = unsafe { libc::sendmmsg(fd.as_raw_fd(), msgs.as_mut_ptr(), n as u32, 0) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                // A full queue or a transient refusal: count it, go on.
                Some(libc::ENOBUFS | libc::EAGAIN | libc::ECONNREFUSED | libc::EINTR) => {
                    errors += 1;
                    continue;
                }
                _ => return Err(format!("sendmmsg: {e}")),
            }
        }
        sent += r as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(format!(
        "{{\"sent\":{sent},\"seconds\":{secs:.6},\"pps\":{:.0},\"errors\":{errors},\"flows\":{},\"payload_bytes\":{}}}",
        sent as f64 / secs,
        dests.len(),
        a.size
    ))
}

fn recv(a: &RecvArgs) -> Result<String, String> {
    let limit = check_seconds(a.seconds)?;
    if a.ports == 0 || a.ports as usize > MAX_RECV_PORTS {
        return Err(format!("--ports must be 1..={MAX_RECV_PORTS}"));
    }
    if u32::from(a.bind.port()) + u32::from(a.ports) > 65_536 {
        return Err("--bind port + --ports runs past port 65535".into());
    }
    let mut socks = Vec::with_capacity(a.ports as usize);
    for p in 0..a.ports {
        let fd = udp_socket()?;
        bind(&fd, SocketAddrV4::new(*a.bind.ip(), a.bind.port() + p))?;
        socks.push(fd);
    }
    eprintln!("listening");
    let mut fds: Vec<libc::pollfd> = socks
        .iter()
        .map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    const BATCH: usize = 256;
    let mut bufs = vec![[0u8; 2048]; BATCH];
    let mut iovs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: mmsghdr is plain data; all-zero is a valid empty header.
    let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
        m.msg_hdr.msg_iov = iov;
        m.msg_hdr.msg_iovlen = 1;
    }
    let start = Instant::now();
    let idle = Duration::from_millis(a.idle_ms);
    let (mut received, mut foreign) = (0u64, 0u64);
    let mut first: Option<Instant> = None;
    let mut last = start;
    loop {
        let now = Instant::now();
        if now - start >= limit
            || (first.is_some() && now - last >= idle)
            || (a.expect > 0 && received >= a.expect)
        {
            break;
        }
        // SAFETY: fds is a live array of fds.len() pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 20) };
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(os_err("poll"));
        }
        for p in fds.iter_mut().filter(|p| p.revents & libc::POLLIN != 0) {
            // SAFETY: msgs point at live iovecs of live buffers.
            let n = unsafe {
                libc::recvmmsg(
                    p.fd,
                    msgs.as_mut_ptr(),
                    BATCH as u32,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n <= 0 {
                continue;
            }
            let t = Instant::now();
            first.get_or_insert(t);
            last = t;
            for (m, b) in msgs.iter().zip(bufs.iter()).take(n as usize) {
                let len = m.msg_len as usize;
                if len >= 8 && b[..8] == MAGIC.to_be_bytes() {
                    received += 1;
                } else {
                    foreign += 1;
                }
            }
        }
    }
    let span = first.map(|f| (last - f).as_secs_f64()).unwrap_or(0.0);
    let pps = if span > 0.0 {
        received as f64 / span
    } else {
        0.0
    };
    Ok(format!(
        "{{\"received\":{received},\"foreign\":{foreign},\"first_to_last_seconds\":{span:.6},\"pps\":{pps:.0}}}"
    ))
}
