//! The `policy_parse` target: ASA configuration text through the parser
//! (`rampart-asa`) and, when it parses, the compiler (`rampart-dataplane`),
//! twice: against the inside/outside pair a node starts with, and against
//! the config's own interface blocks as `rampart config check` builds them.
//!
//! Input: the text itself. Bytes that are not UTF-8 become U+FFFD, so every
//! input reaches the parser (a node reads its policy as UTF-8 and refuses
//! anything else before parsing; the replacement keeps the rest of the
//! line fuzzed). Neither stage may panic, and the fuzzer runs with
//! `-timeout=10` so that super-linear work on some input shows up as a
//! timeout.

use std::path::Path;

use rampart_asa::render;
use rampart_dataplane::EngineConfig;
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::policy::compile::{CompileError, compile};
use rampart_dataplane::policy::parse_config;

use crate::corpus::SeedFile;

/// Where the seeds live, relative to `fuzz/`.
pub const DIR: &str = "corpus/policy_parse";

/// What became of one input.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The parser refused it with this many errors.
    Refused(usize),
    /// It parsed; the compile against the inside/outside pair, and whether
    /// `rampart config check` (the config's own interfaces) accepts it.
    Parsed {
        /// Compiled against the inside/outside pair.
        compiled: Result<(), CompileError>,
        /// `rampart config check` accepted it.
        checked: bool,
    },
}

/// Parse and compile one input. The fuzz target's whole body.
pub fn run(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    let parsed = match parse_config(&text) {
        Ok(p) => p,
        Err(e) => return Outcome::Refused(e.0.len()),
    };
    let interfaces = EngineConfig::inside_outside(NodeId(1), [0; 4]).interfaces;
    let compiled = compile(&parsed.config, &interfaces).map(|policy| {
        std::hint::black_box(policy);
    });
    let checked = rampart_node::config_check::check(Path::new("fuzz.cfg"), &text).ok;
    Outcome::Parsed { compiled, checked }
}

/// The repository's example policies: (seed name, text).
const CONFIGS: &[(&str, &str)] = &[
    (
        "bgp-md5",
        include_str!("../../dataplane/tests/configs/bgp-md5.cfg"),
    ),
    (
        "dmz-web-farm",
        include_str!("../../dataplane/tests/configs/dmz-web-farm.cfg"),
    ),
    (
        "edits",
        include_str!("../../dataplane/tests/configs/edits.cfg"),
    ),
    (
        "fragments",
        include_str!("../../dataplane/tests/configs/fragments.cfg"),
    ),
    (
        "icmp-types",
        include_str!("../../dataplane/tests/configs/icmp-types.cfg"),
    ),
    (
        "ipv6",
        include_str!("../../dataplane/tests/configs/ipv6.cfg"),
    ),
    (
        "seed-as-published",
        include_str!("../../dataplane/tests/configs/seed-as-published.cfg"),
    ),
    (
        "seed",
        include_str!("../../dataplane/tests/configs/seed.cfg"),
    ),
    (
        "small-office",
        include_str!("../../dataplane/tests/configs/small-office.cfg"),
    ),
    (
        "time-ranges",
        include_str!("../../dataplane/tests/configs/time-ranges.cfg"),
    ),
    (
        "names",
        include_str!("../../dataplane/tests/configs/names.cfg"),
    ),
    (
        "access-groups",
        include_str!("../../dataplane/tests/configs/access-groups.cfg"),
    ),
    (
        "database-dcd",
        include_str!("../../dataplane/tests/configs/database-dcd.cfg"),
    ),
    (
        "packaging",
        include_str!("../../packaging/examples/policy.cfg"),
    ),
];

/// The seeds: each example policy as written (edits, comments, ignored
/// lines and, for `seed-as-published`, errors included) and, when it
/// parses, as the renderer prints it back (`show running-config`).
pub fn seeds() -> Vec<SeedFile> {
    let mut out = Vec::new();
    for (name, text) in CONFIGS {
        out.push(SeedFile::new(format!("seed-{name}"), text.as_bytes()));
        if let Ok(parsed) = parse_config(text) {
            out.push(SeedFile::new(
                format!("seed-{name}-rendered"),
                render(&parsed.config).as_bytes(),
            ));
        }
    }
    out
}
