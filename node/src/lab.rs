//! `rampart lab`: the asymmetric topology of DESIGN.md in network
//! namespaces, two real `rampart run` node processes, real TCP and UDP
//! traffic of four kinds, and a summary of what happened. Everything is
//! torn down at the end, also on Ctrl-C and on error.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use rampart_chaos_tests::netns::{
    ASYM_CLIENT, ASYM_SERVER, AsymLab, Netns, SYM_CLIENT, SYM_SERVER, SYNC_A, SYNC_B, fnv,
};
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

/// A lab node: its id, name, data interfaces and cluster address.
struct NodeSpec {
    id: u16,
    name: &'static str,
    inside: &'static str,
    outside: &'static str,
    sync: &'static str,
}

const NODES: [NodeSpec; 2] = [
    NodeSpec {
        id: 1,
        name: "fw-a",
        inside: "ca1",
        outside: "as1",
        sync: SYNC_A,
    },
    NodeSpec {
        id: 2,
        name: "fw-b",
        inside: "cb1",
        outside: "bs1",
        sync: SYNC_B,
    },
];

/// The port of the cluster endpoints.
const SYNC_PORT: u16 = 7400;

/// Write a node's configuration (cluster with every other lab node) and
/// issue its certificate from the lab's CA in `dir`.
fn node_file(dir: &Path, me: &NodeSpec, all: &[NodeSpec]) -> anyhow::Result<std::path::PathBuf> {
    rampart_cluster::pki::issue_node_cert(dir, me.id, me.name, dir)
        .with_context(|| format!("issuing the certificate of {}", me.name))?;
    let peers: Vec<String> = all
        .iter()
        .filter(|p| p.id != me.id)
        .map(|p| {
            format!(
                "{{ id = {}, name = \"{}\", address = \"{}:{SYNC_PORT}\" }}",
                p.id, p.name, p.sync
            )
        })
        .collect();
    let file = dir.join(format!("{}.toml", me.name));
    std::fs::write(
        &file,
        format!(
            "[node]\nid = {id}\nname = \"{name}\"\ndata_dir = \".\"\npolicy = \"policy.cfg\"\n\n\
             [[interface]]\nname = \"{inside}\"\nnameif = \"inside\"\nsecurity_level = 100\n\n\
             [[interface]]\nname = \"{outside}\"\nnameif = \"outside\"\nsecurity_level = 0\n\n\
             [cluster]\nlisten = \"{sync}:{SYNC_PORT}\"\npeers = [{peers}]\n\
             ca = \"ca.pem\"\ncert = \"node-{id}.pem\"\nkey = \"node-{id}.key\"\n",
            id = me.id,
            name = me.name,
            inside = me.inside,
            outside = me.outside,
            sync = me.sync,
            peers = peers.join(", "),
        ),
    )?;
    Ok(file)
}

/// A running node process and the lines it has written to stderr.
struct NodeProc {
    child: Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn start_node(ns: &Netns, file: &Path) -> anyhow::Result<NodeProc> {
    let exe = std::env::current_exe().context("finding the rampart binary")?;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(exe)
        .args(["run", "--config"])
        .arg(file)
        .stderr(Stdio::piped())
        .spawn()
        .context("starting a node")?;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    if let Some(err) = child.stderr.take() {
        let sink = lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                if let Ok(mut v) = sink.lock() {
                    v.push(line);
                }
            }
        });
    }
    Ok(NodeProc { child, lines })
}

impl NodeProc {
    fn has_line(&self, needle: &str) -> bool {
        self.lines
            .lock()
            .is_ok_and(|v| v.iter().any(|l| l.contains(needle)))
    }

    /// Wait until the node says it is ready to forward.
    fn wait_ready(&mut self, name: &str, limit: Duration) -> anyhow::Result<()> {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < limit {
            if self.has_line("ready") {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let lines = self.lines.lock().map(|v| v.join("\n")).unwrap_or_default();
                bail!("{name} exited ({status}) before it was ready:\n{lines}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("{name} not ready after {limit:?}")
    }

    /// SIGTERM by PID, then the node's exit lines.
    fn stop(mut self) -> Vec<String> {
        // SAFETY: the PID is our own child's (`ip netns exec` execs rampart).
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        for _ in 0..250 {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The reader thread sees EOF once the process is gone.
        std::thread::sleep(Duration::from_millis(50));
        let lines = self.lines.lock().map(|v| v.clone()).unwrap_or_default();
        let exit: Vec<String> = lines
            .iter()
            .filter(|l| l.contains("stopped;") || l.contains("sync;") || l.contains("cluster;"))
            .map(|l| l.trim_start_matches("rampart: ").to_string())
            .collect();
        if exit.is_empty() {
            vec!["(no exit line)".to_string()]
        } else {
            exit
        }
    }
}

/// `key=value` from a node's exit lines.
fn exit_value(lines: &[String], key: &str) -> u64 {
    let pat = format!("{key}=");
    lines
        .iter()
        .flat_map(|l| l.split_whitespace())
        .find_map(|w| w.strip_prefix(&pat))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
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

type NodeLines = (&'static str, Vec<String>);

fn run_in(lab: &AsymLab, dir: &Path) -> anyhow::Result<([Kind; 4], [NodeLines; 2])> {
    rampart_cluster::pki::init_ca(dir).context("creating the lab's cluster CA")?;
    let mut a = start_node(&lab.node_a, &node_file(dir, &NODES[0], &NODES)?)?;
    let mut b = start_node(&lab.node_b, &node_file(dir, &NODES[1], &NODES)?)?;
    let ready = a
        .wait_ready("fw-a", Duration::from_secs(15))
        .and_then(|()| b.wait_ready("fw-b", Duration::from_secs(15)));
    if let Err(e) = ready {
        let _ = a.stop();
        let _ = b.stop();
        return Err(e);
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
    let nodes = [("fw-a", a.stop()), ("fw-b", b.stop())];
    if INTERRUPTED.load(Ordering::Relaxed) {
        bail!("interrupted; the lab was torn down");
    }
    Ok((kinds, nodes))
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
        for (i, (name, lines)) in nodes.iter().enumerate() {
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
                exit_value(lines, "events_out"),
                exit_value(lines, "events_in"),
                exit_value(lines, "held"),
                exit_value(lines, "released"),
                exit_value(lines, "expired"),
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
        for (name, lines) in nodes {
            for line in lines {
                let _ = writeln!(out, "{name}: {line}");
            }
        }
        out.push_str(
            "\nfw-a and fw-b share connection state over QUIC (mutual TLS, lab CA): fw-b forwards the\n\
             replies of flows whose SYN only fw-a saw, strictly tracked (a reply that arrives before\n\
             the state is held until it does). Bypass flows pass without producing any sync event.\n",
        );
    }
    out
}
