//! The `rampart` CLI against a real admin API on loopback, served over the
//! fixed engine state of `rampart_ops::fixture`: every `show` command's
//! output matches the golden files of the ops crate, abbreviations expand
//! as on the ASA, and changes need the token.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rampart_ops::backend::Backend;
use rampart_ops::fixture;
use rampart_ops::metrics::Metrics;
use rampart_ops::model::{ConnList, NodeStatus};
use rampart_ops::server::{OpsConfig, OpsServer};

const TOKEN: &str = "cli-test-token-0123456789";

struct Node {
    server: OpsServer,
    dir: PathBuf,
}

impl Node {
    fn start(status: NodeStatus, tag: &str) -> Node {
        Node::start_with(status, tag, None)
    }

    fn start_with(status: NodeStatus, tag: &str, read_token: Option<&str>) -> Node {
        let backend: Arc<dyn Backend> = Arc::new(fixture::admin(status));
        let b = backend.clone();
        let metrics = Arc::new(Metrics::new(Arc::new(move || b.snapshot()), None));
        let server = OpsServer::start(
            &OpsConfig {
                metrics: None,
                admin: Some("127.0.0.1:0".parse().unwrap()),
                token: Some(TOKEN.into()),
                read_token: read_token.map(String::from),
                ..OpsConfig::default()
            },
            backend,
            metrics,
        )
        .unwrap();
        let dir = std::env::temp_dir().join(format!("rampart-cli-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
        Node { server, dir }
    }

    fn admin(&self) -> String {
        self.server.admin_addr.unwrap().to_string()
    }

    /// Run `rampart ARGS --admin ADDR`: (exit code, stdout, stderr).
    fn run(&self, args: &str) -> (i32, String, String) {
        let mut all: Vec<String> = args.split_whitespace().map(String::from).collect();
        all.push("--admin".into());
        all.push(self.admin());
        run(&all)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(args: &[String]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .env_remove("RAMPART_ADMIN")
        .env_remove("RAMPART_ADMIN_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn golden(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ops/tests/golden")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn ok(r: (i32, String, String)) -> String {
    assert_eq!(r.0, 0, "stderr: {}", r.2);
    r.1
}

#[test]
fn every_show_command_prints_the_asa_format() {
    let n = Node::start(fixture::standalone_status(), "show");
    assert_eq!(ok(n.run("show conn")), golden("show_conn.txt"));
    assert_eq!(ok(n.run("sh conn")), golden("show_conn.txt"));
    assert_eq!(ok(n.run("sh conn det")), golden("show_conn_detail.txt"));
    assert_eq!(ok(n.run("sh conn count")), "4 in use, 4 most used\n");
    assert_eq!(
        ok(n.run("sh conn po 445")),
        golden("show_conn_port_445.txt")
    );
    assert_eq!(ok(n.run("show conn long")), golden("show_conn_long.txt"));
    assert_eq!(
        ok(n.run("sh conn all prot tcp po 1-https l")),
        golden("show_conn_tcp_ports_long.txt")
    );
    assert_eq!(
        ok(n.run("sh conn st tcp_embryonic int inside addr 198.18.0.0 net 255.255.255.0")),
        golden("show_conn_state_tcp_embryonic.txt")
    );
    let (code, _, err) = n.run("sh conn int dmz");
    assert_eq!(code, 1);
    assert!(err.contains("no interface named 'dmz'"), "{err}");
    let (code, _, err) = n.run("sh conn state sip");
    assert_eq!(code, 1);
    assert!(err.contains("state sip is not supported"), "{err}");
    assert_eq!(ok(n.run("show local-host")), golden("show_local_host.txt"));
    assert_eq!(
        ok(n.run("sh loc all det")),
        golden("show_local_host_detail.txt")
    );
    assert_eq!(ok(n.run("sh loc b")), golden("show_local_host_brief.txt"));
    assert_eq!(
        ok(n.run("sh local-host conn emb 1")),
        golden("show_local_host_embryonic.txt")
    );
    let one = ok(n.run("show local-host 198.18.1.10 brief"));
    assert!(
        one.starts_with(
            "Interface inside: 0 active\nInterface outside: 1 active\nlocal host: <198.18.1.10>,\n"
        ),
        "{one}"
    );
    let (code, _, err) = n.run("sh loc conn tcp 9-1");
    assert_eq!(code, 1);
    assert!(err.contains("runs backwards"), "{err}");
    assert_eq!(
        ok(n.run("show service-policy")),
        golden("show_service_policy.txt")
    );
    assert_eq!(ok(n.run("sh ser")), golden("show_service_policy.txt"));
    // A running node adds its ops listeners to the engines' counters
    // (the golden file is rendered without a server).
    let listeners = "\nOps listeners:\n  admin    up; answers held 0 bytes, reserved slots \
                     in use 0, requests waiting for a handler 0\n";
    assert_eq!(
        ok(n.run("sh cou")),
        format!("{}{listeners}", golden("show_counters.txt"))
    );
    // The ASA's words for the same: `show asp drop`, abbreviated too.
    for asa in ["show asp drop", "sh asp dr"] {
        assert_eq!(
            ok(n.run(asa)),
            format!("{}{listeners}", golden("show_counters.txt")),
            "{asa}"
        );
    }
    let (code, _, err) = n.run("sh asp table");
    assert_eq!(code, 1);
    assert!(err.contains("show asp: `table` is not `drop`"), "{err}");
    assert_eq!(ok(n.run("sh clu")), golden("show_cluster_standalone.txt"));
    assert_eq!(
        ok(n.run("sh run")),
        format!(
            ": Saved\n: version 1\n:\n{}",
            golden("show_running_config.txt")
        )
    );
    assert_eq!(ok(n.run("show fragment")), golden("show_fragment.txt"));
    let outside = golden("show_fragment.txt")
        .split_inclusive('\n')
        .skip(4)
        .collect::<String>();
    assert_eq!(ok(n.run("sh frag outside")), outside);
    let (code, _, err) = n.run("sh frag dmz");
    assert_eq!(code, 1);
    assert!(
        err.contains("show fragment: this node has no interface named 'dmz'"),
        "{err}"
    );
    assert_eq!(
        ok(n.run("show access-list")),
        golden("show_access_list.txt")
    );
    let byp = golden("show_access_list.txt")
        .split_inclusive('\n')
        .skip(4)
        .collect::<String>();
    assert_eq!(ok(n.run("sh acc byp")), byp);
    let (code, _, err) = n.run("sh access-list dmz");
    assert_eq!(code, 1);
    assert!(
        err.contains("the policy in force has no access-list named 'dmz'"),
        "{err}"
    );
    let c = Node::start(fixture::cluster_status(), "cluster");
    assert_eq!(ok(c.run("show cluster")), golden("show_cluster.txt"));
}

#[test]
fn json_is_the_api_answer() {
    let n = Node::start(fixture::standalone_status(), "json");
    let list: ConnList = serde_json::from_str(&ok(n.run("sh conn --json"))).unwrap();
    let want = fixture::admin(fixture::standalone_status())
        .conns(&Default::default())
        .unwrap();
    assert_eq!(list, want);
    let hosts: rampart_ops::show_local_host::LocalHosts =
        serde_json::from_str(&ok(n.run("sh loc --json"))).unwrap();
    let want = fixture::admin(fixture::standalone_status())
        .local_hosts(&Default::default())
        .unwrap();
    assert_eq!(hosts, want);
    let v: serde_json::Value = serde_json::from_str(&ok(n.run("show --json counters"))).unwrap();
    assert!(v["drops"].as_array().unwrap().len() > 20);
}

#[test]
fn ambiguous_and_invalid_input_is_refused() {
    let n = Node::start(fixture::standalone_status(), "refuse");
    let (code, out, err) = n.run("sh c");
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(
        err,
        "% Ambiguous command: \"sh c\" could be conn, cluster, counters or capture\n"
    );
    let (code, _, err) = n.run("sh conn addr nowhere");
    assert_eq!(code, 1);
    assert!(err.contains("% Invalid address: \"nowhere\""), "{err}");
    let (code, _, err) = run(&["sh".into(), "conn".into()]);
    assert_eq!(code, 1);
    assert!(err.contains("which node?"), "{err}");
}

/// Node ids 64 apart share a bit of a flow's holder set (docs/ops.md §5):
/// `cluster join` and `cluster cert` refuse an id outside 1-64 before
/// anything is asked or written.
#[test]
fn a_node_id_outside_1_to_64_is_refused_by_the_cli() {
    let n = Node::start(fixture::standalone_status(), "node-id");
    for id in ["65", "0", "1000"] {
        let (code, out, err) = n.run(&format!("cluster join --id {id}"));
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty());
        assert!(
            err.contains(&format!(
                "invalid value '{id}' for '--id <ID>': node ids are 1-64"
            )),
            "{err}"
        );
    }
    let dir = n.dir.to_string_lossy().into_owned();
    let args = [
        "cluster", "cert", "--dir", &dir, "--node", "65", "--name", "fw-x",
    ];
    let (code, _, err) = run(&args.map(String::from));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("node ids are 1-64"), "{err}");
    assert!(!n.dir.join("node-65.pem").exists());
}

#[test]
fn changes_need_the_token() {
    let n = Node::start(fixture::standalone_status(), "change");
    let (code, _, err) = n.run("cle conn addr 198.18.0.10 port 53");
    assert_eq!(code, 1);
    assert!(err.contains("needs the node's admin token"), "{err}");
    let wrong = n.dir.join("wrong");
    std::fs::write(&wrong, "nope\n").unwrap();
    let (code, _, err) = n.run(&format!(
        "cle conn addr 198.18.0.10 port 53 --token-file {}",
        wrong.display()
    ));
    assert_eq!(code, 1);
    assert!(err.contains("refused by the node"), "{err}");
    assert_eq!(ok(n.run("sh conn count")), "4 in use, 4 most used\n");
    let token = n.dir.join("token");
    assert_eq!(
        ok(n.run(&format!(
            "clear conn address 198.18.0.10 port 53 --token-file {}",
            token.display()
        ))),
        "1 connection(s) deleted.\n"
    );
    assert_eq!(ok(n.run("sh conn count")), "3 in use, 4 most used\n");
}

/// `clear access-list [NAME] counters`, in the ASA's words (abbreviated
/// too), needs the token and answers nothing, as the ASA does.
#[test]
fn clear_access_list_counters() {
    let n = Node::start(fixture::standalone_status(), "clear-acl");
    let token = n.dir.join("token");
    let hitcnt = |n: &Node, name: &str| -> Vec<Option<u64>> {
        let v: serde_json::Value =
            serde_json::from_str(&ok(n.run(&format!("show access-list {name} --json")))).unwrap();
        v["lists"][0]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["hitcnt"].as_u64())
            .collect()
    };
    assert_eq!(hitcnt(&n, "byp"), [Some(1)]);
    let (code, _, err) = n.run("clear access-list byp counters");
    assert_eq!(code, 1);
    assert!(err.contains("needs the node's admin token"), "{err}");
    for bad in ["clear access-list byp", "clear access-list byp counts x"] {
        let (code, _, err) = n.run(&format!("{bad} --token-file {}", token.display()));
        assert_eq!(code, 1, "{bad}");
        assert!(
            err.contains("clear access-list [NAME] counters"),
            "{bad}: {err}"
        );
    }
    assert_eq!(
        ok(n.run(&format!("cle acc byp cou --token-file {}", token.display()))),
        ""
    );
    assert_eq!(hitcnt(&n, "byp"), [Some(0)]);
    assert_eq!(hitcnt(&n, "OUT_IN"), [Some(0), None, Some(1)]);
    let (code, _, err) = n.run(&format!(
        "clear access-list dmz counters --token-file {}",
        token.display()
    ));
    assert_eq!(code, 1);
    assert!(err.contains("no access-list named 'dmz'"), "{err}");
    assert_eq!(
        ok(n.run(&format!(
            "clear access-list counters --token-file {}",
            token.display()
        ))),
        ""
    );
    assert_eq!(hitcnt(&n, "OUT_IN"), [Some(0), None, Some(0)]);
}

#[test]
fn configure_prints_errors_with_line_and_column_or_the_new_version() {
    let n = Node::start(fixture::standalone_status(), "configure");
    let bad = n.dir.join("bad.cfg");
    std::fs::write(
        &bad,
        "class-map c1\n match any\npolicy-map p\n class c1\n  set connection conn-max many\n",
    )
    .unwrap();
    let token = n.dir.join("token");
    let (code, out, err) = n.run(&format!(
        "configure {} --token-file {}",
        bad.display(),
        token.display()
    ));
    assert_eq!(code, 1, "{out}{err}");
    let prefix = format!("{}:5:", bad.display());
    assert!(err.lines().next().unwrap().starts_with(&prefix), "{err}");
    assert!(
        err.contains("configuration refused; nothing changed"),
        "{err}"
    );
    assert!(ok(n.run("sh run")).contains(": version 1\n"));
    let good = n.dir.join("good.cfg");
    std::fs::write(
        &good,
        "class-map c1\n match any\npolicy-map p\n class c1\n  set connection conn-max 7\nservice-policy p global\n",
    )
    .unwrap();
    assert_eq!(
        ok(n.run(&format!(
            "configure {} --token-file {}",
            good.display(),
            token.display()
        ))),
        "Configuration applied: version 2\n"
    );
    assert!(ok(n.run("sh run")).contains("set connection conn-max 7"));
}

#[test]
fn a_node_config_names_the_address_and_the_token_file() {
    let n = Node::start(fixture::standalone_status(), "config");
    let toml = n.dir.join("node.toml");
    std::fs::write(
        &toml,
        format!(
            "[node]\nid = 1\nname = \"fw-a\"\ndata_dir = \".\"\n\n\
             [[interface]]\nname = \"a-in\"\nnameif = \"inside\"\nsecurity_level = 100\n\n\
             [[interface]]\nname = \"a-out\"\nnameif = \"outside\"\nsecurity_level = 0\n\n\
             [ops]\nadmin = \"{}\"\ntoken_file = \"token\"\n",
            n.admin()
        ),
    )
    .unwrap();
    let cfg = toml.display().to_string();
    assert_eq!(
        ok(run(&[
            "sh".into(),
            "conn".into(),
            "count".into(),
            "--config".into(),
            cfg.clone()
        ])),
        "4 in use, 4 most used\n"
    );
    assert_eq!(
        ok(run(&["cle".into(), "conn".into(), "--config".into(), cfg])),
        "4 connection(s) deleted.\n"
    );
}

#[test]
fn with_a_read_token_the_cli_reads_with_the_node_file_s_token() {
    const READ: &str = "cli-read-token-9876";
    let n = Node::start_with(fixture::standalone_status(), "read", Some(READ));
    std::fs::write(n.dir.join("read.token"), format!("{READ}\n")).unwrap();
    let toml = n.dir.join("node.toml");
    std::fs::write(
        &toml,
        format!(
            "[node]\nid = 1\nname = \"fw-a\"\ndata_dir = \".\"\n\n\
             [[interface]]\nname = \"a-in\"\nnameif = \"inside\"\nsecurity_level = 100\n\n\
             [[interface]]\nname = \"a-out\"\nnameif = \"outside\"\nsecurity_level = 0\n\n\
             [ops]\nadmin = \"{}\"\ntoken_file = \"token\"\nread_token_file = \"read.token\"\n",
            n.admin()
        ),
    )
    .unwrap();
    let cfg = toml.display().to_string();
    let args = |a: &str| {
        let mut v: Vec<String> = a.split_whitespace().map(String::from).collect();
        v.extend(["--config".to_string(), cfg.clone()]);
        v
    };
    assert_eq!(ok(run(&args("sh conn count"))), "4 in use, 4 most used\n");
    // `packet-tracer` is a read: the read token suffices.
    assert_eq!(
        ok(run(&args(
            "packet-tracer input outside tcp 198.18.1.10 40000 198.18.0.10 ssh"
        ))),
        golden("packet_tracer_permit.txt")
    );
    let (code, _, err) = n.run("sh conn count");
    assert_eq!(code, 1);
    assert!(err.contains("reads need a token"), "{err}");
    // The admin token reads too.
    let token = n.dir.join("token");
    assert_eq!(
        ok(n.run(&format!("sh conn count --token-file {}", token.display()))),
        "4 in use, 4 most used\n"
    );
    assert_eq!(ok(run(&args("cle conn"))), "4 connection(s) deleted.\n");
}

/// `packet-tracer` prints the ASA's phases, abbreviated or not, as XML
/// with `xml`, the API's answer with `--json`; a wrong word or an
/// interface the node lacks is refused with why (exit 1), and the trace
/// leaves the table as it was.
#[test]
fn packet_tracer_prints_the_asa_phases() {
    let n = Node::start(fixture::standalone_status(), "tracer");
    let permit = "input outside tcp 198.18.1.10 40000 198.18.0.10 ssh";
    assert_eq!(
        ok(n.run(&format!("packet-tracer {permit}"))),
        golden("packet_tracer_permit.txt")
    );
    assert_eq!(
        ok(n.run("pack in outside t 198.18.1.10 40000 198.18.0.10 22 x")),
        golden("packet_tracer_permit.xml")
    );
    assert_eq!(
        ok(n.run("packet-tracer input inside tcp 198.18.0.10 40100 198.18.1.10 445 det")),
        golden("packet_tracer_bypass_detailed.txt")
    );
    let json: rampart_ops::model::PacketTrace =
        serde_json::from_str(&ok(n.run(&format!("packet-tracer {permit} --json")))).unwrap();
    let words: Vec<String> = permit.split_whitespace().map(String::from).collect();
    let q = rampart_ops::packet_tracer::parse_words(&words)
        .unwrap()
        .query;
    assert_eq!(
        json,
        fixture::admin(fixture::standalone_status())
            .packet_tracer(&q)
            .unwrap()
    );
    for (line, says) in [
        (
            "packet-tracer input outside tcp 198.18.1.10 70000 198.18.0.10 22",
            "% Invalid port: \"70000\"",
        ),
        (
            "packet-tracer input outside tcp 198.18.1.10 1 2001:db8::1 22",
            "must both be IPv4 or both IPv6",
        ),
        (
            "packet-tracer input dmz tcp 198.18.1.10 1 198.18.0.10 22",
            "no interface named 'dmz'",
        ),
    ] {
        let (code, out, err) = n.run(line);
        assert_eq!((code, out.as_str()), (1, ""), "{line}: {err}");
        assert!(err.contains(says), "{line}: {err}");
    }
    assert_eq!(ok(n.run("sh conn count")), "4 in use, 4 most used\n");
}

#[test]
fn completions_are_generated() {
    let (code, out, _) = run(&["completions".into(), "bash".into()]);
    assert_eq!(code, 0);
    assert!(out.contains("_rampart()"));
    assert!(out.contains("service-policy"));
    let (code, out, _) = run(&["completions".into(), "zsh".into()]);
    assert_eq!(code, 0);
    assert!(out.starts_with("#compdef rampart"));
}

/// Something other than the node answering on the admin port (a squatter
/// while the node restarts): every request gets `answer`.
fn squatter(answer: &'static [u8]) -> String {
    use std::io::{Read as _, Write as _};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut head = Vec::new();
            let mut b = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&b[..n]),
                }
            }
            let _ = s.write_all(answer);
        }
    });
    addr
}

/// Escape sequences in what answers on the admin port never reach the
/// operator's terminal: not in a `show` answer's text, its JSON, nor an
/// error quoting a malformed status line. Before, the running config's
/// text and the status line were printed raw.
#[test]
fn escape_sequences_from_the_admin_port_are_printed_escaped() {
    let run_at = |addr: &str, args: &str| {
        let mut all: Vec<String> = args.split_whitespace().map(String::from).collect();
        all.extend(["--admin".to_string(), addr.to_string()]);
        run(&all)
    };
    let evil = "\x1b]0;owned\x07\x1b[2J\u{9b}1m\u{202e}";
    let raw = |t: &str| {
        t.chars()
            .any(|c| ['\x1b', '\x07', '\u{9b}', '\u{202e}'].contains(&c))
    };
    let rc = squatter(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n\
          {\"version\":1,\"text\":\"\\u001b]0;owned\\u0007\\u001b[2J\\u009b1m\\u202e\\naccess-list A\\n\"}",
    );
    let (code, out, err) = run_at(&rc, "show running-config");
    assert_eq!(code, 0, "{err}");
    assert!(!raw(&out), "{out:?}");
    assert!(out.contains("\\u{1b}]0;owned\\u{7}\\u{1b}[2J"), "{out:?}");
    assert!(out.ends_with("\naccess-list A\n"), "{out:?}");
    let (code, out, err) = run_at(&rc, "show running-config --json");
    assert_eq!(code, 0, "{err}");
    assert!(!raw(&out), "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["text"].as_str().unwrap().starts_with(evil), "{v}");

    let status = squatter(b"HTTP/1.1 \x1b[2J\x1b]0;owned\x07\r\n\r\n");
    let (code, out, err) = run_at(&status, "show running-config");
    assert_ne!(code, 0, "{out}");
    assert!(!raw(&err), "{err:?}");
    assert!(err.contains("\\u{1b}[2J"), "{err:?}");
}

/// `capture`, `show capture`, `clear capture`, `no capture` and
/// `copy-capture` in the ASA's words: the admin token for all of them,
/// reads too; the ASA answers a change with nothing.
#[test]
fn capture_commands_in_the_asa_s_words() {
    let n = Node::start(fixture::standalone_status(), "capture");
    let t = format!("--token-file {}", n.dir.join("token").display());
    let (code, _, err) = n.run("show capture");
    assert_eq!(code, 1);
    assert!(err.contains("admin token"), "{err}");
    assert_eq!(
        ok(n.run(&format!(
            "capture c1 interface inside match tcp any any eq 80 {t}"
        ))),
        ""
    );
    assert_eq!(
        ok(n.run(&format!("capture d type asp-drop acl-drop {t}"))),
        ""
    );
    assert_eq!(
        ok(n.run(&format!("sh cap {t}"))),
        "capture c1 type raw-data interface inside [Capturing - 0 bytes]\n  \
         match tcp any any eq www\n\
         capture d type asp-drop acl-drop [Capturing - 0 bytes]\n"
    );
    assert_eq!(
        ok(n.run(&format!("show capture c1 det cou 5 {t}"))),
        "\n0 packets captured\n\n0 packets shown\n"
    );
    let (code, _, err) = n.run(&format!("capture c2 interface inside buffer 1 {t}"));
    assert_eq!(code, 1);
    assert!(err.contains("column 36: invalid buffer size '1'"), "{err}");
    let file = n.dir.join("c1.pcap");
    ok(n.run(&format!("copy-capture c1 {} {t}", file.display())));
    assert_eq!(
        std::fs::read(&file).unwrap().len(),
        24,
        "a header, no frame"
    );
    assert_eq!(ok(n.run(&format!("capture c1 stop {t}"))), "");
    assert!(
        ok(n.run(&format!("show capture {t}"))).contains("[Capturing stopped - 0 bytes]"),
        "stopped"
    );
    assert_eq!(ok(n.run(&format!("clear capture c1 {t}"))), "");
    assert_eq!(ok(n.run(&format!("no capture c1 {t}"))), "");
    assert_eq!(
        ok(n.run(&format!("show capture {t}"))),
        "capture d type asp-drop acl-drop [Capturing - 0 bytes]\n"
    );
    let (code, _, err) = n.run(&format!("no capture c1 {t}"));
    assert_eq!(code, 1);
    assert!(err.contains("no capture c1"), "{err}");
}
