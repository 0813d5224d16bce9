//! `rampart lab`: the asymmetric topology of DESIGN.md in network
//! namespaces, two real `rampart run` node processes, real TCP and UDP
//! traffic of four kinds, and a summary of what happened. Everything is
//! torn down at the end, also on Ctrl-C and on error.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use rampart_chaos_tests::netns::{
    ASYM_CLIENT, ASYM_SERVER, AsymLab, Netns, SYM_CLIENT, SYM_SERVER, fnv,
};
use rampart_chaos_tests::node::{NodeProc, NodeSpec, asym_node, value, write_config};
use socket2::{Domain, Socket, Type};

/// Connections (or UDP exchanges) per traffic kind.
const PER_KIND: usize = 10;
/// Bytes each TCP connection carries.
const TCP_BYTES: usize = 64 * 1024;

/// The lab's policy: the seed's bypass class for server port 5002 (both
/// directions), inspected traffic on every other port.
const POLICY: &str = "\
access-list tcp_bypass extended permit tcp any any eq 5002
access-list tcp_bypass extended permit tcp any eq 5002 any
access-list OUTSIDE_IN extended permit tcp any eq 5002 any
access-group OUTSIDE_IN in interface outside
class-map tcp_bypass
 description TCP traffic test network
 match access-list tcp_bypass
policy-map global_policy
 class tcp_bypass
  set connection per-client-max 10000
  set connection timeout idle 0:00:15
  set connection advanced-options tcp-state-bypass
service-policy global_policy global
";

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// One traffic kind's outcome.
struct Kind {
    name: &'static str,
    attempted: usize,
    succeeded: usize,
    bytes_verified: usize,
}

const NODES: [NodeSpec; 2] = [asym_node(0, 2), asym_node(1, 2)];

fn start(ns: &Netns, dir: &Path, me: &NodeSpec) -> anyhow::Result<NodeProc> {
    let file = write_config(dir, me, &NODES, "").map_err(anyhow::Error::msg)?;
    let exe = std::env::current_exe().context("finding the rampart binary")?;
    NodeProc::start(ns, &exe, &file, me.name).map_err(anyhow::Error::msg)
}

/// TCP connections of one kind; each sends `TCP_BYTES` and checks the
/// server's digest of what arrived.
fn tcp_kind(
    lab: &AsymLab,
    name: &'static str,
    src: &'static str,
    dst: &'static str,
    port: u16,
) -> Kind {
    let server = lab.server.spawn(move || {
        let l = TcpListener::bind((dst, port)).expect("listen");
        l.set_nonblocking(true).expect("non-blocking");
        // Bounded in time: failed connections never arrive.
        for _ in 0..(PER_KIND * 300) {
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
            if INTERRUPTED.load(Ordering::Relaxed) {
                break;
            }
        }
    });
    let (succeeded, bytes) = lab
        .client
        .spawn(move || {
            let payload: Vec<u8> = (0..TCP_BYTES as u32).map(|i| (i % 251) as u8).collect();
            let (mut ok, mut bytes) = (0, 0);
            for _ in 0..PER_KIND {
                if INTERRUPTED.load(Ordering::Relaxed) {
                    break;
                }
                if one_tcp(src, dst, port, &payload) {
                    ok += 1;
                    bytes += payload.len();
                }
            }
            (ok, bytes)
        })
        .join()
        .unwrap_or((0, 0));
    drop(server); // the listener thread ends by itself within its bound
    Kind {
        name,
        attempted: PER_KIND,
        succeeded,
        bytes_verified: bytes,
    }
}

fn one_tcp(src: &str, dst: &str, port: u16, payload: &[u8]) -> bool {
    let (Ok(src), Ok(dst)) = (src.parse::<Ipv4Addr>(), dst.parse::<Ipv4Addr>()) else {
        return false;
    };
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
    let mut reply = [0u8; 8];
    s.write_all(payload).is_ok()
        && s.shutdown(std::net::Shutdown::Write).is_ok()
        && s.read_exact(&mut reply).is_ok()
        && u64::from_be_bytes(reply) == fnv(payload)
}

/// UDP request/response on the asymmetric path.
fn udp_kind(lab: &AsymLab) -> Kind {
    let server = lab.server.spawn(|| {
        let s = UdpSocket::bind((ASYM_SERVER, 5003)).expect("udp bind");
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 2048];
        for _ in 0..PER_KIND * 3 {
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                let _ = s.send_to(&buf[..n], from);
            }
        }
    });
    let (ok, bytes) = lab
        .client
        .spawn(|| {
            let s = UdpSocket::bind((ASYM_CLIENT, 0)).expect("udp bind");
            let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
            let (mut ok, mut bytes) = (0, 0);
            for i in 0..PER_KIND {
                let msg = format!("rampart lab datagram {i}");
                let _ = s.send_to(msg.as_bytes(), (ASYM_SERVER, 5003));
                let mut buf = [0u8; 2048];
                if let Ok(n) = s.recv(&mut buf)
                    && &buf[..n] == msg.as_bytes()
                {
                    ok += 1;
                    bytes += n;
                }
            }
            (ok, bytes)
        })
        .join()
        .unwrap_or((0, 0));
    let _ = server.join();
    Kind {
        name: "udp_asymmetric",
        attempted: PER_KIND,
        succeeded: ok,
        bytes_verified: bytes,
    }
}

/// Run the lab; returns the report (text, or JSON with `json`).
pub fn run(json: bool) -> anyhow::Result<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("rampart lab needs root (network namespaces and AF_PACKET)");
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_interrupt as *const () as libc::sighandler_t,
        )
    };
    let lab = AsymLab::new(&format!("rp-lab{}", std::process::id()));
    let dir = std::env::temp_dir().join(format!("rampart-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("policy.cfg"), POLICY)?;
    let outcome = run_in(&lab, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    drop(lab);
    let (kinds, nodes) = outcome?;
    Ok(report(json, &kinds, &nodes))
}

/// A node's name, exit lines and `show conn detail` taken before it stopped.
type NodeLines = (&'static str, Vec<String>, String);

fn run_in(lab: &AsymLab, dir: &Path) -> anyhow::Result<([Kind; 4], [NodeLines; 2])> {
    rampart_cluster::pki::init_ca(dir).context("creating the lab's cluster CA")?;
    let mut a = start(&lab.node_a, dir, &NODES[0])?;
    let mut b = match start(&lab.node_b, dir, &NODES[1]) {
        Ok(b) => b,
        Err(e) => {
            let _ = a.stop();
            return Err(e);
        }
    };
    let ready = a
        .wait_ready(Duration::from_secs(15))
        .and_then(|_| b.wait_ready(Duration::from_secs(15)));
    if let Err(e) = ready {
        let _ = a.stop();
        let _ = b.stop();
        bail!(e);
    }
    let lab = &lab;

    let kinds = [
        tcp_kind(lab, "tcp_symmetric_inspected", SYM_CLIENT, SYM_SERVER, 5001),
        tcp_kind(
            lab,
            "tcp_asymmetric_inspected",
            ASYM_CLIENT,
            ASYM_SERVER,
            5001,
        ),
        tcp_kind(lab, "tcp_asymmetric_bypass", ASYM_CLIENT, ASYM_SERVER, 5002),
        udp_kind(lab),
    ];
    let table = |n: &NodeProc| n.dump().map(|(t, _)| t).unwrap_or_default();
    let (ta, tb) = (table(&a), table(&b));
    let nodes = [("fw-a", a.stop(), ta), ("fw-b", b.stop(), tb)];
    if INTERRUPTED.load(Ordering::Relaxed) {
        bail!("interrupted; the lab was torn down");
    }
    Ok((kinds, nodes))
}

/// The head of a `show conn detail` dump and one entry of each kind
/// (bypass, inspected TCP, UDP), with a count of the rest.
fn show_conn_sample(table: &str) -> String {
    let mut parts = table.split("\nTCP ").collect::<Vec<_>>();
    if parts.is_empty() {
        return "(no table)\n".into();
    }
    let head = parts.remove(0);
    let head_lines: Vec<&str> = head.lines().take(1).collect();
    let mut entries: Vec<String> = Vec::new();
    for p in parts {
        let text = format!("TCP {p}");
        // UDP entries follow TCP ones within the same chunk.
        for (i, e) in text.split("\nUDP ").enumerate() {
            entries.push(if i == 0 {
                e.to_string()
            } else {
                format!("UDP {e}")
            });
        }
    }
    let mut shown: Vec<String> = Vec::new();
    for want in ["flags b", "198.18.20.20/5001", "UDP "] {
        if let Some(e) = entries.iter().find(|e| {
            e.contains(want) && !shown.contains(e) && (want == "flags b" || !e.contains("flags b"))
        }) {
            shown.push(e.clone());
        }
    }
    let mut out = head_lines.join("\n");
    out.push('\n');
    for e in &shown {
        out.push_str(e.trim_end());
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "... and {} more",
        entries.len().saturating_sub(shown.len())
    );
    out
}

fn report(json: bool, kinds: &[Kind], nodes: &[NodeLines]) -> String {
    let mut out = String::new();
    if json {
        out.push_str("{\"kinds\":[");
        for (i, k) in kinds.iter().enumerate() {
            let _ = write!(
                out,
                "{}{{\"kind\":\"{}\",\"attempted\":{},\"succeeded\":{},\"failed\":{},\"bytes_verified\":{}}}",
                if i > 0 { "," } else { "" },
                k.name,
                k.attempted,
                k.succeeded,
                k.attempted - k.succeeded,
                k.bytes_verified
            );
        }
        out.push_str("],\"nodes\":[");
        for (i, (name, lines, _)) in nodes.iter().enumerate() {
            let all = lines.join(" ");
            let drops: Vec<String> = lines
                .iter()
                .filter(|l| l.starts_with("stopped;"))
                .flat_map(|l| {
                    l.split('[')
                        .nth(1)
                        .unwrap_or("")
                        .trim_end_matches(']')
                        .split_whitespace()
                })
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            let _ = write!(
                out,
                "{}{{\"node\":\"{name}\",\"drops\":{{{}}},\"sync_events_sent\":{},\"sync_events_received\":{},\"held\":{},\"held_released\":{},\"held_expired\":{},\"exit\":\"{}\"}}",
                if i > 0 { "," } else { "" },
                drops.join(","),
                value(&all, "events_out"),
                value(&all, "events_in"),
                value(&all, "held"),
                value(&all, "released"),
                value(&all, "expired"),
                lines.join(" | ").replace('"', "'")
            );
        }
        out.push_str("]}\n");
    } else {
        out.push_str(
            "Rampart lab: client and server with one path through fw-a and one through fw-b\n",
        );
        out.push_str("(client->server via fw-a, server->client via fw-b for asymmetric flows)\n\n");
        let _ = writeln!(
            out,
            "{:<28} {:>9} {:>9} {:>7} {:>14}",
            "traffic", "attempted", "succeeded", "failed", "bytes verified"
        );
        for k in kinds {
            let _ = writeln!(
                out,
                "{:<28} {:>9} {:>9} {:>7} {:>14}",
                k.name,
                k.attempted,
                k.succeeded,
                k.attempted - k.succeeded,
                k.bytes_verified
            );
        }
        out.push('\n');
        for (name, lines, _) in nodes {
            for line in lines {
                let _ = writeln!(out, "{name}: {line}");
            }
        }
        for (name, _, table) in nodes {
            let _ = writeln!(
                out,
                "\n{name}# show conn detail   (first entries of each kind)"
            );
            out.push_str(&show_conn_sample(table));
        }
        out.push_str(
            "\nfw-a and fw-b share connection state over QUIC (mutual TLS, lab CA): fw-b forwards the\n\
             replies of flows whose SYN only fw-a saw, strictly tracked (a reply that arrives before\n\
             the state is held until it does). Bypass flows pass without producing any sync event.\n",
        );
    }
    out
}

// === lab up / lab down ===

/// Where a lab kept running by `lab up` keeps its files and its state.
pub const UP_DIR: &str = "/run/rampart-lab";
/// The namespace prefix of a kept lab (short, so people can type it).
pub const UP_PREFIX: &str = "rp-lab";
/// How long `lab down` waits for a node to stop on SIGTERM.
const DOWN_WAIT: Duration = Duration::from_secs(5);

/// `rampart lab up`: build the topology, start both nodes, and leave them
/// running for a person to explore; `rampart lab down` removes it all.
pub fn up(prefix: &str, dir: &Path) -> anyhow::Result<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("rampart lab up needs root (network namespaces and AF_PACKET)");
    }
    if dir.join("state").exists() {
        bail!(
            "a lab is already up (see {}/state); run `rampart lab down` first",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("policy.cfg"), POLICY)?;
    if !dir.join(rampart_cluster::pki::CA_CERT).exists() {
        rampart_cluster::pki::init_ca(dir).context("creating the lab's cluster CA")?;
    }
    let lab = AsymLab::new(prefix);
    let mut state: Vec<String> = lab.names().iter().map(|n| format!("ns {n}")).collect();
    let save = |state: &[String]| std::fs::write(dir.join("state"), state.join("\n") + "\n");
    // Namespaces first: a failure below leaves a state that `down` clears.
    save(&state)?;
    let started = (|| -> anyhow::Result<()> {
        let exe = std::env::current_exe().context("finding the rampart binary")?;
        for (me, ns) in NODES.iter().zip([&lab.node_a, &lab.node_b]) {
            let file = write_config(dir, me, &NODES, "").map_err(anyhow::Error::msg)?;
            let log = dir.join(format!("{}.log", me.name));
            let pid =
                NodeProc::start_detached(ns, &exe, &file, me.name, &log, Duration::from_secs(15))
                    .map_err(anyhow::Error::msg)?;
            state.push(format!("pid {pid}"));
            save(&state)?;
        }
        Ok(())
    })();
    lab.keep();
    if let Err(e) = started {
        // Undo what was made: the nodes started so far, the namespaces.
        let _ = down(dir);
        return Err(e);
    }
    Ok(format!(
        "The lab is up: client {c} and server {s}, nodes fw-a ({a}) and fw-b ({b}).\n\
         Asymmetric flows: {ASYM_CLIENT} -> {ASYM_SERVER} (out via fw-a, back via fw-b);\n\
         symmetric flows: {SYM_CLIENT} -> {SYM_SERVER} (both ways via fw-a).\n\
         Port 5002 is in a tcp-state-bypass class; everything else is inspected.\n\n\
         Try:\n  ip netns exec {s} iperf3 -s -B {ASYM_SERVER} &\n  \
         ip netns exec {c} iperf3 -c {ASYM_SERVER} -B {ASYM_CLIENT} -t 5\n  \
         ip netns exec {c} ping -c 3 -I {ASYM_CLIENT} {ASYM_SERVER}\n\n\
         Node files, certificates and logs are in {d}; `kill -USR1` a node to write\n\
         its `show conn detail` to {d}/<name>.conn. Remove it all with `rampart lab down`.\n",
        c = ns_name(prefix, "c"),
        s = ns_name(prefix, "s"),
        a = ns_name(prefix, "a"),
        b = ns_name(prefix, "b"),
        d = dir.display(),
    ))
}

/// The kept lab's namespace of `role`.
fn ns_name(prefix: &str, role: &str) -> String {
    format!("{prefix}-{role}")
}

/// `rampart lab down`: stop the nodes `lab up` started (by PID, checked
/// to still be ours) and remove its namespaces and files.
pub fn down(dir: &Path) -> anyhow::Result<String> {
    let state = match std::fs::read_to_string(dir.join("state")) {
        Ok(s) => s,
        Err(_) => return Ok("no lab is up\n".into()),
    };
    let mut out = String::new();
    for pid in state.lines().filter_map(|l| l.strip_prefix("pid ")) {
        let Ok(pid) = pid.trim().parse::<libc::pid_t>() else {
            continue;
        };
        // Only a process that is still one of the lab's nodes: a PID may
        // have been reused since `lab up`.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !cmdline.contains(" run --config ") || !cmdline.contains(&*dir.to_string_lossy()) {
            continue;
        }
        // SAFETY: signalling a PID we started, checked above.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let t0 = std::time::Instant::now();
        while Path::new(&format!("/proc/{pid}")).exists() && t0.elapsed() < DOWN_WAIT {
            std::thread::sleep(Duration::from_millis(20));
        }
        if Path::new(&format!("/proc/{pid}")).exists() {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = writeln!(out, "stopped node process {pid}");
    }
    for ns in state.lines().filter_map(|l| l.strip_prefix("ns ")) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", ns.trim()])
            .status();
        let _ = writeln!(out, "removed namespace {}", ns.trim());
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    out.push_str("the lab is down\n");
    Ok(out)
}
