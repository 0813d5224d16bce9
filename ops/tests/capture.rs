//! `capture` over the admin API on loopback, backed by two engines fed
//! by hand: the admin token for every capture endpoint (reads too), the
//! commands and their refusals, `show capture` in the ASA's layout with
//! the two workers' frames merged by time, the decoder's lines (TCP,
//! UDP, ICMP, IPv6, asp-drop), and the pcap file read back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rampart_asa::{CaptureCommand, parse_capture};

use rampart_dataplane::capture::Spec;
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::policy::compile::{compile, disable_randomization};
use rampart_dataplane::policy::parse_config;
use rampart_dataplane::trace::{TcpModel, echo_frame, udp_frame, v4_pair, v6_pair};
use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant};
use rampart_ops::admin::Admin;
use rampart_ops::backend::Backend;
use rampart_ops::backend::OpsError;
use rampart_ops::capture::{CAPTURE_COPY_CHUNK_BYTES, CaptureQuery, render_view_text};
use rampart_ops::client::{Client, ClientError};
use rampart_ops::fixture;
use rampart_ops::metrics::Metrics;
use rampart_ops::pool::{EnginePool, LocalPool, PoolError, WorkerView};
use rampart_ops::server::{OpsConfig, OpsServer};

const TOKEN: &str = "4f1d0c2b9e8a7d6c";
const READ: &str = "read-only-7e1f";
const POLICY: &str = "access-list IN extended permit ip any any
access-group IN in interface inside
access-list CAP extended permit tcp host 198.18.0.10 any
";
/// 2026-12-07 14:23:45 UTC, in seconds since the Unix epoch: the node's
/// engine time is Unix time (docs/asa-behaviour.md §2.11).
const T0_SECS: u64 = 1_796_653_425;

fn at(micros: u64) -> Instant {
    Instant::from_nanos(T0_SECS * 1_000_000_000 + micros * 1_000)
}

fn engine() -> Engine {
    let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
    let mut cfg = parse_config(POLICY).unwrap().config;
    disable_randomization(&mut cfg);
    let p = compile(&cfg, &e.config().interfaces).unwrap();
    e.set_policy(Arc::new(p)).unwrap();
    e
}

fn start() -> (OpsServer, Arc<LocalPool>) {
    let pool = Arc::new(LocalPool::new(vec![engine(), engine()], || at(0)));
    let status = fixture::standalone_status();
    let admin = Admin::new(pool.clone(), Box::new(move || status.clone())).with_policy(POLICY);
    let backend: Arc<dyn Backend> = Arc::new(admin);
    let b = backend.clone();
    let metrics = Arc::new(Metrics::new(Arc::new(move || b.snapshot()), None));
    let cfg = OpsConfig {
        admin: Some("127.0.0.1:0".parse().unwrap()),
        token: Some(TOKEN.into()),
        read_token: Some(READ.into()),
        ..OpsConfig::default()
    };
    (OpsServer::start(&cfg, backend, metrics).unwrap(), pool)
}

fn feed(pool: &LocalPool, worker: usize, frame: &[u8], iface: IfaceId, t: Instant) {
    let mut f = frame.to_vec();
    pool.with(worker, |e, _| {
        e.process(&mut f, PacketMeta::default(), iface, t)
    })
    .unwrap();
}

fn refused(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Refused { status, error } => (status, error.error),
        other => panic!("expected a refusal, got {other}"),
    }
}

#[test]
fn captures_need_the_admin_token_for_reads_too() {
    let (srv, _pool) = start();
    let addr = srv.admin_addr.unwrap();
    for token in [None, Some(READ.to_string())] {
        let c = Client::new(addr, token);
        assert_eq!(refused(c.captures().unwrap_err()).0, 401);
        assert_eq!(
            refused(c.capture_command("capture c interface inside").unwrap_err()).0,
            401
        );
        let q = CaptureQuery {
            name: "c".into(),
            ..Default::default()
        };
        assert_eq!(refused(c.capture(&q).unwrap_err()).0, 401);
        assert_eq!(refused(c.capture_pcap("c").unwrap_err()).0, 401);
    }
    // The read token still reads what it did.
    Client::new(addr, Some(READ.into())).counters().unwrap();
}

#[test]
fn commands_and_their_refusals() {
    let (srv, _pool) = start();
    let c = Client::new(srv.admin_addr.unwrap(), Some(TOKEN.into()));
    let cmd = |l: &str| c.capture_command(l).map(|d| d.action);
    assert_eq!(cmd("capture c interface inside").unwrap(), "added");
    // Bad syntax: 400 with the column.
    let (s, e) = refused(cmd("capture d interface inside buffer 99999999").unwrap_err());
    assert_eq!(s, 400);
    assert!(e.contains("column 35: invalid buffer size"), "{e}");
    // An unknown access-list, interface; the same name with other options.
    let (s, e) = refused(cmd("capture d interface inside access-list NOPE").unwrap_err());
    assert_eq!(s, 400);
    assert!(
        e.ends_with("no access-list NOPE in the running configuration"),
        "{e}"
    );
    let (_, e) = refused(cmd("capture d interface dmz").unwrap_err());
    assert!(e.ends_with("no interface named 'dmz'"), "{e}");
    let (_, e) = refused(cmd("capture c interface outside").unwrap_err());
    assert!(e.contains("exists with other options"), "{e}");
    // Stop, restart by re-issuing, clear, remove; a missing one is 404.
    assert_eq!(cmd("capture c stop").unwrap(), "stopped");
    assert_eq!(cmd("capture c").unwrap(), "restarted");
    assert_eq!(cmd("capture c interface inside").unwrap(), "restarted");
    assert_eq!(cmd("clear capture c").unwrap(), "cleared");
    assert_eq!(cmd("no capture c").unwrap(), "removed");
    assert_eq!(refused(cmd("no capture c").unwrap_err()).0, 404);
    assert_eq!(refused(cmd("capture c").unwrap_err()).0, 404);
    // The node's bounds: 256 MiB of buffers, 32 captures.
    for i in 0..8 {
        cmd(&format!("capture big{i} interface inside buffer 33554432")).unwrap();
    }
    let (_, e) = refused(cmd("capture big8 interface inside buffer 1534").unwrap_err());
    assert!(e.contains("more than the node's 268435456"), "{e}");
    for i in 0..8 {
        cmd(&format!("no capture big{i}")).unwrap();
    }
    for i in 0..32 {
        cmd(&format!("capture n{i} type asp-drop buffer 1534")).unwrap();
    }
    let (_, e) = refused(cmd("capture n32 type asp-drop").unwrap_err());
    assert!(e.contains("at most 32 captures"), "{e}");
    assert_eq!(c.captures().unwrap().captures.len(), 32);
    // Too long a command.
    assert_eq!(refused(cmd(&"x".repeat(2000)).unwrap_err()).0, 400);
}

#[test]
fn show_capture_merges_the_workers_and_decodes_each_frame() {
    let (srv, pool) = start();
    let c = Client::new(srv.admin_addr.unwrap(), Some(TOKEN.into()));
    c.capture_command("capture cap1 interface inside match ip host 198.18.0.10 any")
        .unwrap();
    c.capture_command("capture drops type asp-drop").unwrap();
    c.capture_command(
        "capture acl interface inside access-list CAP packet-length 60 circular-buffer",
    )
    .unwrap();
    c.capture_command("capture v6 interface inside match tcp any6 any6 eq 80")
        .unwrap();
    // Worker 1's SYN is older than worker 0's datagram: shown first.
    let (cl, sv) = v4_pair(51_234, 80);
    let mut m = TcpModel::new(
        cl,
        sv,
        [2_839_219_290, 5],
        [29_200, 65_160],
        [Some(7), None],
    );
    let syn = {
        let s = m.syn();
        m.frame(&s)
    };
    feed(&pool, 1, &syn, IfaceId(0), at(10));
    let (uc, us) = v4_pair(40_000, 53);
    let udp = udp_frame(&uc, &us, &[0; 40]);
    let echo = echo_frame(&uc, &us, 7, 1, false);
    feed(&pool, 0, &udp, IfaceId(0), at(20));
    feed(&pool, 0, &echo, IfaceId(0), at(30));
    // Denied: a SYN from the outside (no access-group there, level 0).
    let mut back = TcpModel::new(sv, cl, [1_000, 2_000], [8_192, 8_192], [None, None]);
    let denied = {
        let s = back.syn();
        back.frame(&s)
    };
    feed(&pool, 0, &denied, IfaceId(1), at(40));
    let (c6, s6) = v6_pair(40_001, 80);
    let mut m6 = TcpModel::new(c6, s6, [77, 88], [1_000, 1_000], [None, None]);
    let syn6 = {
        let s = m6.syn();
        m6.frame(&s)
    };
    feed(&pool, 1, &syn6, IfaceId(0), at(50));

    let list = c.captures().unwrap();
    assert_eq!(
        list.text,
        "capture cap1 type raw-data interface inside [Capturing - 222 bytes]\n  \
         match ip host 198.18.0.10 any\n\
         capture drops type asp-drop all [Capturing - 62 bytes]\n\
         capture acl type raw-data interface inside [Capturing - 60 bytes]\n  \
         access-list CAP\n\
         capture v6 type raw-data interface inside [Capturing - 82 bytes]\n  \
         match tcp any6 any6 eq www\n"
    );
    let show = |name: &str| {
        let v = c
            .capture(&CaptureQuery {
                name: name.into(),
                ..Default::default()
            })
            .unwrap();
        render_view_text(&v)
    };
    assert_eq!(
        show("cap1"),
        "\n3 packets captured\n\n   \
         1: 14:23:45.000010       198.18.0.10.51234 > 198.18.1.10.80: S 2839219290:2839219290(0) \
         win 29200 <mss 1460,sackOK,wscale 7>\n   \
         2: 14:23:45.000020       198.18.0.10.40000 > 198.18.1.10.53:  udp 40\n   \
         3: 14:23:45.000030       198.18.0.10 > 198.18.1.10 icmp: echo request\n\
         3 packets shown\n"
    );
    assert_eq!(
        show("drops"),
        "\n1 packet captured\n\n   \
         1: 14:23:45.000040       198.18.1.10.80 > 198.18.0.10.51234: S 1000:1000(0) win 8192 \
         <mss 1460,sackOK> Drop-reason: (acl-drop) Flow is denied by configured rule\n\
         1 packet shown\n"
    );
    assert_eq!(
        show("v6"),
        "\n1 packet captured\n\n   \
         1: 14:23:45.000050       2001:db8::10.40001 > 2001:db8:1::10.80: S 77:77(0) win 1000 \
         <mss 1460,sackOK>\n\
         1 packet shown\n"
    );
    // An access-list captures its one direction; packet-length cuts.
    let acl = c
        .capture(&CaptureQuery {
            name: "acl".into(),
            detail: true,
            dump: true,
            count: Some(5),
        })
        .unwrap();
    assert_eq!(acl.packets.len(), 1);
    assert_eq!(acl.packets[0].interface, "inside");
    assert_eq!(acl.packets[0].seen, "ingress");
    assert_eq!(
        acl.packets[0].line,
        "0200.0000.0001 0200.0000.0002 0x0800 Length: 66\n      \
         198.18.0.10 > 198.18.1.10: [|tcp] (ttl 64, id 0)"
    );
    assert!(
        acl.packets[0]
            .dump
            .as_deref()
            .unwrap()
            .starts_with("0x0000\t 0200 0000 0002")
    );
    // count.
    let first = c
        .capture(&CaptureQuery {
            name: "cap1".into(),
            count: Some(1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!((first.packets_captured, first.packets.len()), (3, 1));
    // The node's first: worker 1's SYN, before worker 0's frames.
    assert!(
        first.packets[0].line.starts_with("198.18.0.10.51234 > "),
        "{first:?}"
    );
    assert_eq!(
        refused(
            c.capture(&CaptureQuery {
                name: "nope".into(),
                ..Default::default()
            })
            .unwrap_err()
        )
        .0,
        404
    );

    // The pcap file: the three frames, in order, with their times.
    let bytes = c.capture_pcap("cap1").unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
    assert_eq!(r.header().snaplen, 1518);
    assert_eq!(r.header().datalink, pcap_file::DataLink::ETHERNET);
    let mut got = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        got.push((p.timestamp.as_micros(), p.orig_len, p.data.to_vec()));
    }
    let t0 = u128::from(T0_SECS) * 1_000_000;
    assert_eq!(
        got,
        vec![
            (t0 + 10, syn.len() as u32, syn.clone()),
            (t0 + 20, udp.len() as u32, udp.clone()),
            (t0 + 30, echo.len() as u32, echo.clone()),
        ]
    );
}

/// The smallest buffer split over two workers still holds a full-size
/// frame on each: a share has room for one whole packet at least.
#[test]
fn a_small_buffer_over_two_workers_holds_a_full_frame() {
    let (srv, pool) = start();
    let c = Client::new(srv.admin_addr.unwrap(), Some(TOKEN.into()));
    c.capture_command("capture small interface inside buffer 1534")
        .unwrap();
    let (uc, us) = v4_pair(40_000, 53);
    let big = udp_frame(&uc, &us, &[7; 1472]);
    assert_eq!(big.len(), 1514);
    feed(&pool, 0, &big, IfaceId(0), at(1));
    feed(&pool, 1, &big, IfaceId(0), at(2));
    let list = c.captures().unwrap();
    assert_eq!(list.captures[0].packets, 2, "{list:?}");
    assert_eq!(list.captures[0].captured_bytes, 2 * 1514);
}

/// A pool of two workers whose worker 1 does not answer request number
/// `fail_on` (counted from 1): worker 0 runs it, the caller gets an error.
struct Worker1Late {
    inner: LocalPool,
    fail_on: AtomicUsize,
}

impl EnginePool for Worker1Late {
    fn workers(&self) -> usize {
        self.inner.workers()
    }

    fn each<R: Send + 'static>(
        &self,
        timeout: Duration,
        f: impl Fn(&mut WorkerView<'_>) -> R + Send + Sync + 'static,
    ) -> Result<Vec<R>, PoolError> {
        let n = self.inner.requests() + 1;
        if n != self.fail_on.load(Ordering::Relaxed) {
            return self.inner.each(timeout, f);
        }
        self.inner
            .each(timeout, move |w| (w.worker == 0).then(|| f(w)))?;
        Err(PoolError("worker 1 did not answer".into()))
    }
}

fn capture_names(pool: &Worker1Late, worker: usize) -> Vec<String> {
    pool.inner
        .with(worker, |e, _| {
            e.captures().map_or(Vec::new(), |c| {
                c.list().iter().map(|c| c.spec().name.clone()).collect()
            })
        })
        .unwrap()
}

/// A define that one worker does not answer is undone on every worker
/// (none keeps a part of it); and the node's bounds count the captures
/// of every worker, one left on worker 1 only too.
#[test]
fn a_define_a_worker_misses_is_undone_and_bounds_count_every_worker() {
    let pool = Arc::new(Worker1Late {
        inner: LocalPool::new(vec![engine(), engine()], || at(0)),
        fail_on: AtomicUsize::new(0),
    });
    let status = fixture::standalone_status();
    let admin = Admin::new(pool.clone(), Box::new(move || status.clone())).with_policy(POLICY);
    // Request 1 reads the captures in place, request 2 adds: worker 1
    // misses the add.
    pool.fail_on
        .store(pool.inner.requests() + 2, Ordering::Relaxed);
    let e = admin
        .capture_command("capture c interface inside")
        .unwrap_err();
    assert!(e.to_string().contains("did not answer"), "{e}");
    assert_eq!(capture_names(&pool, 0), Vec::<String>::new());
    assert_eq!(capture_names(&pool, 1), Vec::<String>::new());
    // Worker 1 alone holds 256 MiB of buffers (a removal that did not
    // reach it, say): the node has no room for more.
    pool.inner
        .with(1, |e, _| {
            for i in 0..8 {
                let line = format!("capture big{i} interface inside buffer 33554432");
                let Ok(CaptureCommand::Define(def)) = parse_capture(&line, &|_| false) else {
                    panic!("{line}")
                };
                let spec = Spec::from_def(&def, &e.config().interfaces, 1 << 20).unwrap();
                e.capture_add(spec).unwrap();
            }
        })
        .unwrap();
    let e = admin
        .capture_command("capture more interface inside buffer 1534")
        .unwrap_err();
    assert!(e.to_string().contains("more than the node's"), "{e}");
    assert_eq!(capture_names(&pool, 0), Vec::<String>::new());
    // The same name as worker 1's is that capture, not a new one.
    assert_eq!(
        admin
            .capture_command("capture big0 interface inside buffer 33554432")
            .unwrap()
            .action,
        "restarted"
    );
}

/// A pool that holds its next request until told to go on, saying when
/// it holds it.
struct Gate {
    inner: LocalPool,
    hold: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

impl EnginePool for Gate {
    fn workers(&self) -> usize {
        self.inner.workers()
    }

    fn each<R: Send + 'static>(
        &self,
        timeout: Duration,
        f: impl Fn(&mut WorkerView<'_>) -> R + Send + Sync + 'static,
    ) -> Result<Vec<R>, PoolError> {
        let held = self.hold.lock().unwrap().take();
        if let Some((entered, go)) = held {
            entered.send(()).unwrap();
            go.recv().unwrap();
        }
        self.inner.each(timeout, f)
    }
}

/// A pcap export copies each worker's frames a megabyte at a time, a job
/// each, and has them all; a second export while one is under way is
/// refused (429), a listing is not.
#[test]
fn an_export_copies_in_parts_one_export_at_a_time() {
    let pool = Arc::new(Gate {
        inner: LocalPool::new(vec![engine(), engine()], || at(0)),
        hold: Mutex::new(None),
    });
    let status = fixture::standalone_status();
    let admin =
        Arc::new(Admin::new(pool.clone(), Box::new(move || status.clone())).with_policy(POLICY));
    admin
        .capture_command("capture big interface inside buffer 33554432")
        .unwrap();
    let (uc, us) = v4_pair(40_000, 53);
    let frame = udp_frame(&uc, &us, &[7; 1472]);
    // Some 4.5 MB on worker 0, a few frames on worker 1.
    for i in 0..3_000 {
        pool.inner
            .with(0, |e, _| {
                let mut f = frame.clone();
                e.process(&mut f, PacketMeta::default(), IfaceId(0), at(i))
            })
            .unwrap();
    }
    for i in 0..3 {
        pool.inner
            .with(1, |e, _| {
                let mut f = frame.clone();
                e.process(&mut f, PacketMeta::default(), IfaceId(0), at(5_000 + i))
            })
            .unwrap();
    }
    let before = pool.inner.requests();
    let file = admin.capture_pcap("big").unwrap();
    let jobs = pool.inner.requests() - before;
    let per_job = CAPTURE_COPY_CHUNK_BYTES / (1514 + 64);
    assert!(jobs > 3_000 / per_job, "{jobs} jobs");
    assert_eq!(file.len(), 24 + 3_003 * (16 + 1514));
    // An export under way: the next one waits for it, refused.
    let (entered_tx, entered) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    *pool.hold.lock().unwrap() = Some((entered_tx, go_rx));
    let a = admin.clone();
    let first = std::thread::spawn(move || a.capture_pcap("big").map(|f| f.len()));
    entered.recv().unwrap();
    let e = admin.capture_pcap("big").unwrap_err();
    assert!(matches!(e, OpsError::Busy(_)), "{e}");
    let q = CaptureQuery {
        name: "big".into(),
        ..Default::default()
    };
    assert!(matches!(admin.capture_show(&q), Err(OpsError::Busy(_))));
    go.send(()).unwrap();
    assert_eq!(first.join().unwrap().unwrap(), file.len());
    assert_eq!(admin.capture_list().unwrap().captures.len(), 1);
    assert_eq!(admin.capture_show(&q).unwrap().packets_captured, 3_003);
}
