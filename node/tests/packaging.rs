//! `packaging/`: the systemd unit passes `systemd-analyze verify`, the node
//! runs with only the capabilities the unit leaves it, the example node
//! files and policy are valid, and the Debian package built by `cargo deb`
//! holds what it should.
//!
//! The tools come from the test command's install step (`scripts/deps.sh
//! test`: systemd, cargo-deb); a test whose tool is missing fails and says
//! how to install it rather than passing unchecked.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const RAMPART: &str = env!("CARGO_BIN_EXE_rampart");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

fn unit_text() -> String {
    std::fs::read_to_string(root().join("packaging/rampart.service")).unwrap()
}

/// The values of `key=` in the unit, in order.
fn unit_values(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_string)
        .collect()
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("rampart-pkg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn tool(name: &str, version_arg: &str) {
    let ok = Command::new(name)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{name} is missing: run `scripts/deps.sh test` (the test command's install step)"
    );
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    tool("systemd-analyze", "--version");
    let unit = unit_text();
    assert_eq!(
        unit_values(&unit, "ExecStart"),
        ["/usr/bin/rampart run --config /etc/rampart/node.toml"]
    );
    // verify checks that ExecStart's program exists and is executable:
    // this machine has the binary cargo built, not /usr/bin/rampart, so a
    // copy of the unit points there (nothing else changes).
    let dir = Scratch::new("unit");
    let copy = dir.0.join("rampart.service");
    std::fs::write(&copy, unit.replace("/usr/bin/rampart", RAMPART)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !text(&out).contains("rampart.service"),
        "warnings about the unit:\n{}",
        text(&out)
    );
    // The sandbox as systemd rates it: exposure 0.0 (locked down) to 10.0
    // (none); the threshold counts tenths. This unit rates 3.8, "OK".
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=40"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success(), "exposure above 4.0:\n{}", text(&out));
}

#[test]
fn the_unit_keeps_two_capabilities_and_its_own_directories() {
    let unit = unit_text();
    let caps: Vec<String> = unit_values(&unit, "CapabilityBoundingSet");
    assert_eq!(caps, ["CAP_NET_RAW CAP_NET_ADMIN"]);
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("StateDirectory", "rampart"),
        ("RuntimeDirectory", "rampart"),
        ("ConfigurationDirectory", "rampart"),
        ("KillSignal", "SIGTERM"),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(unit_values(&unit, key), [value], "{key}");
    }
    // No ReadWritePaths: the node writes only in its state directory.
    assert!(unit_values(&unit, "ReadWritePaths").is_empty());
}

/// The packaged node files resolve every path into the unit's
/// directories, and they and the example policy pass the node's checks.
#[test]
fn the_example_node_files_and_policy_are_valid_for_the_unit() {
    let examples = root().join("packaging/examples");
    for name in ["fw-a.toml", "fw-b.toml"] {
        let file = examples.join(name);
        let out = Command::new(RAMPART)
            .args(["config", "check-node"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", text(&out));
        let t = std::fs::read_to_string(&file).unwrap();
        assert!(
            t.contains("\ndata_dir = \"/var/lib/rampart\"\n"),
            "{name}: data_dir"
        );
        assert!(t.contains("\npolicy = \"policy.cfg\"\n"), "{name}: policy");
        // TLS files default into data_dir: none named elsewhere.
        for key in ["ca", "cert", "key", "token_file"] {
            assert!(
                !t.contains(&format!("\n{key} =")),
                "{name}: {key} outside data_dir"
            );
        }
    }
    let a = std::fs::read_to_string(examples.join("fw-a.toml")).unwrap();
    let b = std::fs::read_to_string(examples.join("fw-b.toml")).unwrap();
    assert!(a.contains("\nbootstrap = true\n") && !b.contains("\nbootstrap = true"));
    let out = Command::new(RAMPART)
        .args(["config", "check"])
        .arg(examples.join("policy.cfg"))
        .output()
        .unwrap();
    assert!(out.status.success(), "policy.cfg: {}", text(&out));
}

/// The profile directory cargo built this test's binary in (`debug` is
/// the `dev` profile).
fn profile() -> String {
    let dir = Path::new(RAMPART)
        .parent()
        .and_then(Path::file_name)
        .map(|d| d.to_string_lossy().to_string())
        .unwrap_or_default();
    if dir == "debug" { "dev".into() } else { dir }
}

/// `cargo deb` packages the binary this test run built (`--no-build`, the
/// test's own profile), so the test costs no second build of the node;
/// the package's layout, which is what is checked, does not depend on the
/// profile. A release package is `cargo deb -p rampart-node`.
#[test]
fn the_debian_package_holds_binary_unit_examples_rules_and_dashboard() {
    tool("cargo-deb", "--version");
    let dir = Scratch::new("deb");
    let out = Command::new("cargo")
        .args([
            "deb",
            "-p",
            "rampart-node",
            "--no-build",
            "--fast",
            "--offline",
        ])
        .args(["--profile", &profile(), "--output"])
        .arg(&dir.0)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo deb: {}", text(&out));
    let deb = std::fs::read_dir(&dir.0)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb");
    let listing = Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .unwrap();
    assert!(listing.status.success(), "{}", text(&listing));
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    let paths: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let expected = [
        ("./usr/bin/rampart", None),
        (
            "./usr/lib/systemd/system/rampart.service",
            Some("packaging/rampart.service"),
        ),
        (
            "./usr/share/rampart/examples/fw-a.toml",
            Some("packaging/examples/fw-a.toml"),
        ),
        (
            "./usr/share/rampart/examples/fw-b.toml",
            Some("packaging/examples/fw-b.toml"),
        ),
        (
            "./usr/share/rampart/examples/policy.cfg",
            Some("packaging/examples/policy.cfg"),
        ),
        (
            "./usr/share/rampart/prometheus/rampart.rules.yml",
            Some("ops/alerts/rampart.rules.yml"),
        ),
        (
            "./usr/share/rampart/grafana/rampart.json",
            Some("ops/dashboards/rampart.json"),
        ),
        ("./usr/share/doc/rampart/README.md", Some("README.md")),
        ("./usr/share/doc/rampart/copyright", None),
    ];
    for (path, _) in &expected {
        assert!(paths.contains(path), "{path} missing from:\n{listing}");
    }
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with(" ./usr/bin/rampart")),
        "rampart is not mode 755:\n{listing}"
    );
    // The files are the repository's, and the binary runs.
    let tree = dir.0.join("tree");
    let x = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&tree)
        .output()
        .unwrap();
    assert!(x.status.success(), "{}", text(&x));
    for (path, source) in &expected {
        if let Some(source) = source {
            assert_eq!(
                std::fs::read(tree.join(path)).unwrap(),
                std::fs::read(root().join(source)).unwrap(),
                "{path} differs from {source}"
            );
        }
    }
    let v = Command::new(tree.join("usr/bin/rampart"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        v.status.success() && text(&v).contains(env!("CARGO_PKG_VERSION")),
        "{}",
        text(&v)
    );
    let info = Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .args(["Package", "Depends"])
        .output()
        .unwrap();
    let info = text(&info);
    assert!(info.contains("Package: rampart\n"), "{info}");
    assert!(info.contains("libc6"), "{info}");
}

/// A namespace with two veth pairs for a node, removed on drop, and the
/// node process (if any) stopped by its PID.
struct CapLab {
    ns: String,
    child: Option<std::process::Child>,
}

impl Drop for CapLab {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {args:?}: {}", text(&out));
}

/// Start `rampart run` in a fresh namespace under `setpriv` with only
/// `caps` in its bounding set (as the unit's CapabilityBoundingSet leaves
/// it) and no new privileges; return whether it opened its interfaces
/// and served its admin API (the token file appears), and its output.
fn run_with_caps(tag: &str, caps: &str) -> (bool, String) {
    let mut lab = CapLab {
        ns: format!("rp-cap{tag}{}", std::process::id()),
        child: None,
    };
    let ns = lab.ns.clone();
    ip(&["netns", "add", &ns]);
    for (dev, peer) in [("pa0", "pa1"), ("pb0", "pb1")] {
        ip(&[
            "-n", &ns, "link", "add", dev, "type", "veth", "peer", "name", peer,
        ]);
        ip(&["-n", &ns, "link", "set", dev, "up"]);
        ip(&["-n", &ns, "link", "set", peer, "up"]);
    }
    ip(&["-n", &ns, "link", "set", "lo", "up"]);
    let dir = Scratch::new(&format!("cap{tag}"));
    let file = dir.0.join("node.toml");
    std::fs::write(
        &file,
        "[node]\nid = 1\nname = \"fw-cap\"\ndata_dir = \"state\"\n\n\
         [[interface]]\nname = \"pa0\"\nnameif = \"inside\"\nsecurity_level = 100\n\n\
         [[interface]]\nname = \"pb0\"\nnameif = \"outside\"\nsecurity_level = 0\n\n\
         [ops]\nadmin = \"127.0.0.1:9461\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.0.join("state")).unwrap();
    let log = dir.0.join("stderr");
    let child = Command::new("ip")
        .args(["netns", "exec", &ns, "setpriv", "--no-new-privs"])
        .arg(format!("--bounding-set=-all,{caps}"))
        .args([RAMPART, "run", "--config"])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    lab.child = Some(child);
    let token = dir.0.join("state/admin.token");
    let t0 = Instant::now();
    let mut up = false;
    while t0.elapsed() < Duration::from_secs(20) {
        if token.exists() {
            up = true;
            break;
        }
        if let Some(c) = &mut lab.child
            && matches!(c.try_wait(), Ok(Some(_)))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if up {
        // It stops on SIGTERM, as systemd stops it, and exits 0.
        let pid = lab.child.as_ref().map(|c| c.id()).unwrap_or(0);
        let pid = libc::pid_t::try_from(pid).unwrap();
        // SAFETY: a PID of the child this test started and has not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let t0 = Instant::now();
        let mut status = None;
        while t0.elapsed() < Duration::from_secs(10) && status.is_none() {
            status = lab.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            status.is_some_and(|s| s.success()),
            "not stopped cleanly by SIGTERM ({status:?}):\n{log}"
        );
    }
    (up, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn the_node_runs_with_cap_net_raw_and_cap_net_admin_alone() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root (network namespaces, AF_PACKET sockets)");
        return;
    }
    tool("setpriv", "--version");
    let (up, log) = run_with_caps("ok", "+net_raw,+net_admin");
    assert!(
        up,
        "did not start with CAP_NET_RAW and CAP_NET_ADMIN:\n{log}"
    );
    // Each of the two is needed.
    let (up, log) = run_with_caps("nr", "+net_admin");
    assert!(!up, "started without CAP_NET_RAW:\n{log}");
    assert!(log.contains("CAP_NET_RAW"), "{log}");
    let (up, log) = run_with_caps("na", "+net_raw");
    assert!(!up, "started without CAP_NET_ADMIN:\n{log}");
    assert!(log.contains("SO_RCVBUFFORCE"), "{log}");
}
