//! `rampart config check FILE`: validate an ASA configuration offline, as
//! `nginx -t` or `nft -c` do. Errors name the file, line and column (exit 1);
//! a valid file gets a summary of what it defines and which lines Rampart
//! ignores (exit 0). Text of the file that the output quotes is escaped and
//! bounded (docs/ops.md §5).

use std::fmt::Write as _;
use std::path::Path;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::policy::ast::{AclLine, Config, ServiceScope};
use rampart_dataplane::policy::classifier::{MAX_RANGE_CHECKS, MAX_SUBTABLES};
use rampart_dataplane::policy::compile::compile;
use rampart_dataplane::policy::parse::parse_config;
use rampart_dataplane::policy::time;
use rampart_dataplane::{EngineConfig, IfaceId, InterfaceConfig};
use rampart_ops::echo::echo_message;

mod tcp_map_order;

/// The outcome: what to print and whether the config is valid.
#[derive(Debug)]
pub struct Report {
    /// Text for stdout (valid) or stderr (invalid).
    pub text: String,
    /// Whether the configuration is valid.
    pub ok: bool,
}

/// The interfaces to compile against: the config's own interface blocks if
/// it has any (paired in order, as a bridge; a `management-only` one is no
/// bridged interface, docs/asa-behaviour.md §2.7), else the default
/// inside (100) / outside (0) pair a node starts with.
fn interfaces(cfg: &Config) -> Vec<InterfaceConfig> {
    let named: Vec<InterfaceConfig> = cfg
        .interfaces
        .iter()
        .filter(|i| !i.management_only)
        .filter_map(|i| {
            Some(InterfaceConfig {
                nameif: i.nameif.clone()?,
                security_level: i.security_level.unwrap_or(0),
                peer: IfaceId(0),
            })
        })
        .collect();
    if named.len() < 2 {
        return EngineConfig::inside_outside(NodeId(0), [0; 4]).interfaces;
    }
    let n = named.len();
    named
        .into_iter()
        .enumerate()
        .map(|(i, mut iface)| {
            iface.peer = IfaceId(((i ^ 1).min(n - 1)) as u8);
            iface
        })
        .collect()
}

/// Check the configuration text of `path`; its time-ranges by this
/// machine's clock.
pub fn check(path: &Path, text: &str) -> Report {
    check_at(path, text, crate::time_ranges::now_unix())
}

/// [`check`], its time-ranges evaluated at `now_unix` (seconds since the
/// Unix epoch).
pub fn check_at(path: &Path, text: &str, now_unix: i64) -> Report {
    let file = path.display();
    let parsed = match parse_config(text) {
        Ok(p) => p,
        Err(errors) => {
            let mut out = String::new();
            for e in &errors.0 {
                // The parser's messages quote the text they refuse.
                let _ = writeln!(
                    out,
                    "{file}:{}:{}: error: {}",
                    e.line,
                    e.column,
                    echo_message(&e.message)
                );
            }
            let _ = writeln!(
                out,
                "{file}: {} error(s); configuration refused",
                errors.0.len()
            );
            return Report {
                text: out,
                ok: false,
            };
        }
    };
    let cfg = &parsed.config;
    let policy = match compile(cfg, &interfaces(cfg)) {
        Ok(policy) => policy,
        Err(e) => {
            let at = rampart_dataplane::policy::locate::locate(text, &e)
                .map_or(String::new(), |(line, column)| format!("{line}:{column}:"));
            return Report {
                text: format!(
                    "{file}:{at} error: {}\n{file}: configuration refused\n",
                    echo_message(&e.to_string())
                ),
                ok: false,
            };
        }
    };
    let aces: usize = cfg
        .access_lists
        .iter()
        .map(|a| {
            a.lines
                .iter()
                .filter(|l| matches!(l, AclLine::Ace(_)))
                .count()
        })
        .sum();
    let bypass: Vec<String> = cfg
        .policy_maps
        .iter()
        .flat_map(|p| {
            p.classes
                .iter()
                .filter(|c| c.connection.tcp_state_bypass)
                .map(move |c| format!("{}/{}", p.name, c.class))
        })
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "{file}: configuration is valid");
    let _ = writeln!(out, "  interfaces:       {}", cfg.interfaces.len());
    let _ = writeln!(
        out,
        "  objects:          {} ({} object-groups)",
        cfg.objects.len(),
        cfg.object_groups.len()
    );
    let _ = writeln!(
        out,
        "  access-lists:     {} with {aces} entries; {} access-group(s)",
        cfg.access_lists.len(),
        cfg.access_groups.len()
            + cfg.access_groups_out.len()
            + usize::from(cfg.global_access_group.is_some())
    );
    // A miss probes every subtable of an access-list and makes its range
    // checks: the operator sees how close each is to the bounds before a
    // policy is refused for them.
    for acl in policy.acls() {
        let _ = writeln!(
            out,
            "    {}: {} subtable(s) of at most {MAX_SUBTABLES}, {} range check(s) of at most {MAX_RANGE_CHECKS}",
            echo_message(&acl.name),
            acl.subtables(),
            acl.range_checks()
        );
    }
    if !cfg.ethertype_lists.is_empty() {
        // What Rampart takes of them: an explicit `deny any` closes the
        // interface to IP and ARP (docs/asa-behaviour.md §2.7).
        let closed: Vec<&str> = cfg
            .ethertype_groups
            .iter()
            .filter(|g| {
                cfg.ethertype_lists
                    .iter()
                    .any(|l| l.name == g.acl && l.denies_ip())
            })
            .map(|g| g.interface.as_str())
            .collect();
        let _ = writeln!(
            out,
            "  ethertype lists:  {}; {} ethertype access-group(s){}",
            cfg.ethertype_lists.len(),
            cfg.ethertype_groups.len(),
            if closed.is_empty() {
                String::new()
            } else {
                format!(
                    "; 'deny any' drops IP and ARP entering {}",
                    echo_message(&closed.join(", "))
                )
            }
        );
    }
    let _ = writeln!(out, "  class-maps:       {}", cfg.class_maps.len());
    let _ = writeln!(out, "  policy-maps:      {}", cfg.policy_maps.len());
    for sp in &cfg.service_policies {
        let scope = match &sp.scope {
            ServiceScope::Global => "global".to_string(),
            ServiceScope::Interface(i) => format!("interface {i}"),
        };
        let _ = writeln!(out, "  service-policy:   {} {scope}", sp.policy_map);
    }
    if !bypass.is_empty() {
        let _ = writeln!(
            out,
            "  tcp-state-bypass: {} (never synced between nodes)",
            bypass.join(", ")
        );
    }
    let mut warnings = warnings(&file.to_string(), &parsed, &policy);
    if !cfg.time_ranges.is_empty() {
        // Which the node would compile as active now, and which never
        // will be again (docs/asa-behaviour.md §2.10).
        let active = time::active_ranges(cfg, now_unix);
        let names: Vec<&str> = active.iter().map(String::as_str).collect();
        let _ = writeln!(
            out,
            "  time-ranges:      {}; active now by this machine's clock: {}",
            cfg.time_ranges.len(),
            if names.is_empty() {
                "none".to_string()
            } else {
                echo_message(&names.join(", "))
            }
        );
        for r in &cfg.time_ranges {
            if !active.contains(&r.name) && time::next_transition(r, &cfg.clock, now_unix).is_none()
            {
                warnings.push(format!(
                    "{file}: warning: time-range '{}' is never active again: the entries naming it match nothing",
                    echo_message(&r.name)
                ));
            }
        }
    }
    if warnings.is_empty() {
        let _ = writeln!(out, "  warnings:         none");
    } else {
        let _ = writeln!(out, "  warnings:         {}", warnings.len());
        for w in &warnings {
            let _ = writeln!(out, "    {w}");
        }
    }
    if parsed.ignored.is_empty() {
        let _ = writeln!(out, "  ignored lines:    none");
    } else {
        let _ = writeln!(out, "  ignored lines:    {}", parsed.ignored.len());
        for i in &parsed.ignored {
            let _ = writeln!(
                out,
                "    {file}:{}: {} ({})",
                i.line,
                echo_message(i.text.trim()),
                i.reason
            );
        }
    }
    Report {
        text: out,
        ok: true,
    }
}

/// What a valid configuration says that matches nothing: an access-list
/// entry whose object-group is empty (a deny that denies nothing lets
/// through what it names) and a policy-map class whose class-map has no
/// `match` (its limits, timeouts and bypass reach no connection).
fn warnings(
    file: &str,
    parsed: &rampart_dataplane::policy::parse::Parsed,
    policy: &rampart_dataplane::policy::compile::Policy,
) -> Vec<String> {
    let mut out = Vec::new();
    for acl in policy.acls() {
        for &entry in acl.entries_matching_nothing() {
            let at = parsed
                .entries
                .place(&acl.name, entry)
                .map_or(String::new(), |(line, column)| format!("{line}:{column}:"));
            out.push(format!(
                "{file}:{at} warning: access-list {} line {entry} matches no packet \
                 (an empty object-group, or an interface address, in its protocol, \
                 addresses or ports)",
                echo_message(&acl.name)
            ));
        }
    }
    let cfg = &parsed.config;
    for pm in &cfg.policy_maps {
        for class in &pm.classes {
            if cfg
                .class_maps
                .iter()
                .any(|c| c.name == class.class && c.matcher.is_none())
            {
                out.push(format!(
                    "{file}: warning: policy-map {} class {}: the class-map has no match, \
                     so the class matches no connection",
                    echo_message(&pm.name),
                    echo_message(&class.class)
                ));
            }
            // A bypass connection has no handshake to count or intercept
            // (docs/asa-behaviour.md §1.2, §2.2).
            let c = &class.connection;
            let half_open = [c.embryonic_conn_max, c.per_client_embryonic_max]
                .iter()
                .any(|l| l.is_some_and(|n| n > 0));
            if half_open && c.tcp_state_bypass {
                out.push(format!(
                    "{file}: warning: policy-map {} class {}: embryonic-conn-max and \
                     per-client-embryonic-max have no effect with tcp-state-bypass (a bypass \
                     connection is never half-open, and TCP Intercept answers no SYN of it)",
                    echo_message(&pm.name),
                    echo_message(&class.class)
                ));
            }
            // A bypass connection keeps no sequence state to probe with
            // (docs/asa-behaviour.md §1.2, §2.2).
            if class.connection.dcd.is_some() && class.connection.tcp_state_bypass {
                out.push(format!(
                    "{file}: warning: policy-map {} class {}: timeout dcd has no effect \
                     with tcp-state-bypass (a bypass connection keeps no state to probe \
                     its ends with)",
                    echo_message(&pm.name),
                    echo_message(&class.class)
                ));
            }
        }
    }
    out.extend(tcp_map_order::warnings(file, cfg));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> (std::path::PathBuf, String) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../dataplane/tests/configs")
            .join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        (Path::new(name).to_path_buf(), text)
    }

    /// Wednesday 2026-07-01 at noon in the branch office (10:00 UTC,
    /// CEST): office hours; the project's range ended on June 30.
    #[test]
    fn time_ranges_are_reported_as_the_node_would_compile_them() {
        let (p, t) = fixture("time-ranges.cfg");
        let r = check_at(&p, &t, 1_782_900_000);
        assert!(r.ok, "{}", r.text);
        assert!(
            r.text.contains(
                "  time-ranges:      4; active now by this machine's clock: OFFICE-HOURS\n"
            ),
            "{}",
            r.text
        );
        assert!(
            r.text.contains(
                "time-ranges.cfg: warning: time-range 'PROJECT-X' is never active again: the entries naming it match nothing"
            ),
            "{}",
            r.text
        );
        let r = check_at(&p, &t, 1_782_900_000 - 200 * 86_400);
        assert!(!r.text.contains("never active again"), "{}", r.text);
    }

    #[test]
    fn seed_is_valid_and_names_its_bypass_class() {
        let (p, t) = fixture("seed.cfg");
        let r = check(&p, &t);
        assert!(r.ok);
        assert!(
            r.text.contains(
                "tcp-state-bypass: global_policy/tcp_bypass (never synced between nodes)"
            ),
            "{}",
            r.text
        );
    }

    #[test]
    fn published_seed_is_refused_with_file_line_and_column() {
        let (p, t) = fixture("seed-as-published.cfg");
        let r = check(&p, &t);
        assert!(!r.ok);
        assert_eq!(
            r.text,
            "seed-as-published.cfg:1:37: error: expected destination address\n\
             seed-as-published.cfg:2:37: error: expected destination address\n\
             seed-as-published.cfg: 2 error(s); configuration refused\n"
        );
    }

    #[test]
    fn each_access_list_shows_its_subtables() {
        let r = check(
            Path::new("x.cfg"),
            "access-list A permit tcp any host 198.18.0.1 eq 80\n\
             access-list A permit tcp any 198.18.0.0 255.255.255.0 gt 1023\n\
             access-list B permit ip any any\n",
        );
        assert!(r.ok, "{}", r.text);
        // /32 with one port, and /24 with any port and the range 1024-65535
        // checked once the /24 matched (a check, and reaching its list).
        assert!(
            r.text.contains(
                "  access-lists:     2 with 3 entries; 0 access-group(s)\n\
                 \x20   A: 2 subtable(s) of at most 512, 2 range check(s) of at most 1024\n\
                 \x20   B: 1 subtable(s) of at most 512, 0 range check(s) of at most 1024\n"
            ),
            "{}",
            r.text
        );
    }

    /// A management interface is not one of the bridged interfaces the
    /// check compiles against; an EtherType `deny any` is said.
    #[test]
    fn management_interfaces_and_ethertype_lists() {
        let r = check(
            Path::new("x.cfg"),
            "interface G0\n nameif inside\n security-level 100\n\
             interface G1\n nameif outside\n security-level 0\n\
             interface Management0/0\n nameif management\n security-level 100\n management-only\n\
             access-list L2 ethertype permit bpdu\n\
             access-list L2 ethertype deny any\n\
             access-group L2 in interface outside\n",
        );
        assert!(r.ok, "{}", r.text);
        assert!(
            r.text.contains(
                "  ethertype lists:  1; 1 ethertype access-group(s); 'deny any' drops IP and ARP entering outside\n"
            ),
            "{}",
            r.text
        );
        let r = check(
            Path::new("x.cfg"),
            "interface G0\n nameif inside\n bridge-group 1\n management-only\n",
        );
        assert!(!r.ok);
        assert!(
            r.text
                .starts_with("x.cfg:4:2: error: interface G0 is a bridge-group member (line 3)"),
            "{}",
            r.text
        );
    }

    #[test]
    fn compile_errors_are_refused_too() {
        let r = check(
            Path::new("x.cfg"),
            "access-list A permit ip any any\naccess-group A in interface dmz\n",
        );
        assert!(!r.ok);
        assert_eq!(
            r.text,
            "x.cfg:2:29: error: interface 'dmz' is not one of this node's interfaces\nx.cfg: configuration refused\n"
        );
    }

    #[test]
    fn errors_and_ignored_lines_show_user_text_escaped_and_bounded() {
        let huge = "A".repeat(1 << 20);
        let r = check(Path::new("x.cfg"), &format!("\x1b[2J{huge}\n"));
        assert!(!r.ok);
        assert!(r.text.len() < 2048, "{} bytes", r.text.len());
        assert!(!r.text.contains('\x1b'), "{}", &r.text[..200]);
        // The parser refuses the line at its control character.
        assert!(
            r.text
                .starts_with("x.cfg:1:1: error: control character U+001B is not allowed"),
            "{}",
            &r.text[..200]
        );
        let r = check(Path::new("x.cfg"), &format!("{huge}\n"));
        assert!(!r.ok);
        assert!(r.text.len() < 2048, "{} bytes", r.text.len());
        let r = check(Path::new("x.cfg"), "hostname fw\x1b]0;pwned\x07\n");
        assert!(!r.ok, "{}", r.text);
        assert!(
            !r.text.contains('\x1b') && !r.text.contains('\x07'),
            "{}",
            r.text
        );
    }

    /// A deny whose object-group is empty denies nothing, and a class
    /// whose class-map has no match reaches no connection: both are valid
    /// (the running config could hold them), and both are said.
    /// A class with only a tcp-map before a class with limits: warned of,
    /// in one policy-map and from an interface's policy to the global one;
    /// not when the map's class sets limits too, nor beside bypass.
    #[test]
    fn a_map_only_class_before_a_limits_class_is_warned_of() {
        let base =
            "class-map BGP\n match port tcp eq 179\ntcp-map M\n tcp-options range 19 19 allow\n";
        let warned = |text: &str| {
            let r = check(Path::new("x.cfg"), &format!("{base}{text}"));
            assert!(r.ok, "{}", r.text);
            r.text.contains(
                "x.cfg: warning: policy-map P class BGP sets tcp-map M but no connection limits, \
                 timeouts or randomization: its connections take the defaults, not those of \
                 policy-map",
            )
        };
        let later = "policy-map P\n class BGP\n  set connection advanced-options M\n class class-default\n  set connection per-client-max 50\nservice-policy P global\n";
        assert!(warned(later));
        let both = "policy-map P\n class BGP\n  set connection advanced-options M\n  set connection conn-max 9\n class class-default\n  set connection per-client-max 50\nservice-policy P global\n";
        assert!(!warned(both));
        let bypass = "policy-map P\n class BGP\n  set connection advanced-options M\n  set connection advanced-options tcp-state-bypass\n class class-default\n  set connection per-client-max 50\nservice-policy P global\n";
        assert!(!warned(bypass));
        let alone = "policy-map P\n class BGP\n  set connection advanced-options M\nservice-policy P global\n";
        assert!(!warned(alone));
        let iface = "interface G0\n nameif inside\ninterface G1\n nameif outside\npolicy-map P\n class BGP\n  set connection advanced-options M\npolicy-map G\n class class-default\n  set connection timeout idle 0:10:00\nservice-policy P interface inside\nservice-policy G global\n";
        assert!(warned(iface));
    }

    #[test]
    fn what_matches_nothing_is_warned_of() {
        let text = "object-group network EMPTY\n\
                    access-list IN extended deny ip object-group EMPTY any\n\
                    access-list IN extended permit ip any any\n\
                    access-group IN in interface inside\n\
                    class-map nomatch\n\
                    policy-map p\n class nomatch\n  set connection conn-max 5\n\
                    service-policy p global\n";
        let r = check(Path::new("x.cfg"), text);
        assert!(r.ok, "{}", r.text);
        assert!(r.text.contains("warnings:         2"), "{}", r.text);
        assert!(
            r.text.contains(
                "x.cfg:2:16: warning: access-list IN line 1 matches no packet \
                 (an empty object-group, or an interface address, in its protocol, \
                 addresses or ports)"
            ),
            "{}",
            r.text
        );
        assert!(
            r.text
                .contains("policy-map p class nomatch: the class-map has no match"),
            "{}",
            r.text
        );
        let (p, t) = fixture("seed.cfg");
        assert!(check(&p, &t).text.contains("warnings:         none"));
    }

    /// `timeout dcd` beside `tcp-state-bypass` probes nothing: said so;
    /// alone it is no warning.
    #[test]
    fn dcd_in_a_bypass_class_is_warned_of() {
        let bypass = "class-map c
 match any
policy-map p
 class c
  set connection timeout dcd
  set connection advanced-options tcp-state-bypass
service-policy p global
";
        let r = check(Path::new("x.cfg"), bypass);
        assert!(r.ok, "{}", r.text);
        assert!(
            r.text
                .contains("policy-map p class c: timeout dcd has no effect with tcp-state-bypass"),
            "{}",
            r.text
        );
        let plain = bypass.replace("  set connection advanced-options tcp-state-bypass\n", "");
        let r = check(Path::new("x.cfg"), &plain);
        assert!(r.text.contains("warnings:         none"), "{}", r.text);
    }

    /// Half-open limits beside `tcp-state-bypass` intercept nothing: said
    /// so; alone, or at 0 (unlimited), they are no warning.
    #[test]
    fn half_open_limits_in_a_bypass_class_are_warned_of() {
        let text = |limit: &str, bypass: bool| {
            format!(
                "class-map c\n match any\npolicy-map p\n class c\n  set connection {limit}\n{}service-policy p global\n",
                if bypass {
                    "  set connection advanced-options tcp-state-bypass\n"
                } else {
                    ""
                }
            )
        };
        for limit in ["embryonic-conn-max 10", "per-client-embryonic-max 2"] {
            let r = check(Path::new("x.cfg"), &text(limit, true));
            assert!(r.ok, "{}", r.text);
            assert!(
                r.text.contains(
                    "policy-map p class c: embryonic-conn-max and per-client-embryonic-max \
                     have no effect with tcp-state-bypass"
                ),
                "{}",
                r.text
            );
            let r = check(Path::new("x.cfg"), &text(limit, false));
            assert!(r.text.contains("warnings:         none"), "{}", r.text);
        }
        let r = check(Path::new("x.cfg"), &text("embryonic-conn-max 0", true));
        assert!(r.text.contains("warnings:         none"), "{}", r.text);
    }
}
