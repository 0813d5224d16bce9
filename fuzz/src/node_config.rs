//! The `node_config` target: TOML text through the node configuration
//! loader (`NodeConfig::parse`, with all its range and consistency checks),
//! and for a configuration it accepts, everything a node derives from it
//! before it touches the system: the summary `rampart config check-node`
//! prints, the resolved paths, and the engine `rampart run` builds.
//!
//! Input: the text itself (bytes that are not UTF-8 become U+FFFD, as in
//! `policy_parse`). Nothing may panic, and a configuration the loader
//! accepts must give an engine that `Engine::new` accepts: the loader is
//! the only check between the file and the engine.

use std::path::Path;

use rampart_dataplane::Engine;
use rampart_node::config::NodeConfig;

use crate::corpus::SeedFile;

/// Where the seeds live, relative to `fuzz/`.
pub const DIR: &str = "corpus/node_config";

/// Where the fuzzed file pretends to be (relative paths resolve from it).
const CONFIG_PATH: &str = "/etc/rampart/node.toml";

/// Load one input; `true` when the loader accepts it. The fuzz target's
/// whole body.
pub fn run(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let Ok(cfg) = NodeConfig::parse("node.toml", &text) else {
        return false;
    };
    let path = Path::new(CONFIG_PATH);
    std::hint::black_box(cfg.summary(path));
    std::hint::black_box((cfg.data_path(path), cfg.token_path(path)));
    std::hint::black_box(cfg.tls_paths(path));
    // The engine as `rampart run` builds it from the file (fixed secrets).
    let engine = rampart_node::run::engine_config(&cfg, [1, 2, 3, 4, 5, 6]);
    if let Err(e) = Engine::new(engine) {
        panic!("the loader accepted a configuration the engine refuses: {e}");
    }
    true
}

/// A minimal valid file: the keys that have no default.
const MINIMAL: &str = r#"[node]
id = 1
name = "fw-a"
data_dir = "state"

[[interface]]
name = "eth1"
nameif = "inside"
security_level = 100

[[interface]]
name = "eth2"
nameif = "outside"
security_level = 0
"#;

/// The seeds: the repository's example node files, a minimal one, every
/// optional key spelled out, and files the loader refuses for a range, a
/// consistency rule and a syntax error (so each refusal path has a seed).
pub fn seeds() -> Vec<SeedFile> {
    let full = format!(
        "{MINIMAL}\n[cluster]\nlisten = \"[2001:db8::1]:7400\"\n\
         peers = [{{ id = 2, name = \"fw-b\", address = \"198.19.255.2:7400\" }}, \
         {{ id = 3, name = \"fw-c\", address = \"[2001:db8::3]:7400\" }}]\n\
         ca = \"ca.pem\"\ncert = \"/abs/node.pem\"\nkey = \"node.key\"\n\
         hold_ms = 10000\nhold_max_packets = 1000000\nhold_max_per_flow = 1000000\n\
         defer_ms = 0\njoin_timeout_ms = 100\nidle_timeout_ms = 60000\nbootstrap = true\n\
         \n[ops]\nmetrics = \"0.0.0.0:9460\"\nadmin = \"[::1]:9461\"\ntoken_file = \"t\"\n\
         conn_log = false\nsyslog_max_per_sec = 0\nsyslog = \"192.0.2.1:514\"\n"
    );
    let full = full.replacen(
        "data_dir = \"state\"",
        "data_dir = \"state\"\npolicy = \"policy.cfg\"\nworkers = 64\noffload = false",
        1,
    );
    vec![
        SeedFile::new(
            "seed-example-node-a",
            include_str!("../../examples/node-a.toml"),
        ),
        SeedFile::new(
            "seed-packaging-fw-a",
            include_str!("../../packaging/examples/fw-a.toml"),
        ),
        SeedFile::new(
            "seed-packaging-fw-b",
            include_str!("../../packaging/examples/fw-b.toml"),
        ),
        SeedFile::new("seed-minimal", MINIMAL),
        SeedFile::new("seed-every-key", &full),
        SeedFile::new(
            "seed-refused-level",
            MINIMAL.replacen("security_level = 100", "security_level = 101", 1),
        ),
        SeedFile::new(
            "seed-refused-same-nameif",
            MINIMAL.replacen("nameif = \"outside\"", "nameif = \"inside\"", 1),
        ),
        SeedFile::new(
            "seed-refused-peer-twice",
            format!(
                "{MINIMAL}[cluster]\nlisten = \"0.0.0.0:7400\"\npeers = [\
                 {{ id = 2, name = \"b\", address = \"192.0.2.2:7400\" }}, \
                 {{ id = 2, name = \"c\", address = \"192.0.2.3:7400\" }}]\n"
            ),
        ),
        SeedFile::new(
            "seed-refused-syntax",
            MINIMAL.replacen("id = 1", "id = 1\nbogus = [", 1),
        ),
    ]
}
