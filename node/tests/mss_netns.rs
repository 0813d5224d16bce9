//! `sysopt connection tcpmss` on real hosts (docs/asa-behaviour.md §6.3):
//! the client's and the server's kernels announce 1460 (MTU 1500), and
//! through a node with the ASA's default each learns 1380 from the other;
//! with `sysopt connection tcpmss 0` they learn 1460. Each side reads the
//! MSS it sends by (`TCP_MAXSEG`), with TCP timestamps off in both hosts'
//! namespaces so that it is the announced value exactly. Needs root, as CI
//! has.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use rampart_node::lab::netns::sysctl;
use rampart_node::lab::{Lab, Role, is_root};

/// One connection from the client to the server through the node: the
/// MSS each side sends by, client's first, once 64 KiB crossed intact.
fn connect(lab: &Lab, port: u16) -> [u32; 2] {
    let server = lab
        .spawn(Role::Server, move || {
            let l = TcpListener::bind(("198.18.0.20", port)).expect("listen");
            let (mut conn, _) = l.accept().expect("accept");
            let mss = socket2::SockRef::from(&conn).tcp_mss().expect("TCP_MAXSEG");
            let data: Vec<u8> = (0..65_536u32).map(|i| (i % 251) as u8).collect();
            conn.write_all(&data).expect("send");
            mss
        })
        .expect("namespace thread");
    std::thread::sleep(Duration::from_millis(100));
    let client = lab
        .spawn(Role::Client, move || {
            let addr: SocketAddr = ([198, 18, 0, 20], port).into();
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .expect("connect through rampart");
            let mss = socket2::SockRef::from(&s).tcp_mss().expect("TCP_MAXSEG");
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).expect("receive");
            let intact = got.len() == 65_536
                && got
                    .iter()
                    .enumerate()
                    .all(|(i, &b)| b == (i as u32 % 251) as u8);
            assert!(intact, "{} bytes, not the server's", got.len());
            mss
        })
        .expect("namespace thread")
        .join()
        .unwrap();
    [client, server.join().unwrap()]
}

#[test]
fn real_hosts_behind_the_node_learn_the_clamped_mss() {
    if !is_root() {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    let lab = Lab::new(&format!("rmss{}", std::process::id())).unwrap();
    for role in [Role::Client, Role::Server] {
        sysctl(&lab.ns(role), "net.ipv4.tcp_timestamps=0").expect("sysctl");
    }
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rampart"));
    let dir = std::env::temp_dir().join(format!("rampart-mss-{}", std::process::id()));
    for (policy, want, port) in [
        ("hostname fw-a\n", 1380, 5101),
        ("hostname fw-a\nsysopt connection tcpmss 0\n", 1460, 5102),
        ("hostname fw-a\nsysopt connection tcpmss 1200\n", 1200, 5103),
    ] {
        let node = lab.start_node(exe, &dir, policy, 1).expect("node starts");
        let got = connect(&lab, port);
        node.stop().expect("node stops");
        assert_eq!(got, [want, want], "{policy:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
