//! `fragment` lines into each interface's [`FragmentLimits`]
//! (docs/asa-behaviour.md §2.8).

use super::*;
use crate::policy::locate::locate;
use crate::policy::parse::parse_config;

const INSIDE: IfaceId = IfaceId(0);
const OUTSIDE: IfaceId = IfaceId(1);

fn policy(text: &str) -> Policy {
    let cfg = parse_config(text).unwrap_or_else(|e| panic!("{text}\n{e}"));
    compile(&cfg.config, &InterfaceConfig::inside_outside()).unwrap()
}

fn limits(size: u32, chain: u32, timeout_secs: u64) -> FragmentLimits {
    FragmentLimits {
        size,
        chain,
        timeout: Duration::from_secs(timeout_secs),
    }
}

#[test]
fn without_fragment_lines_every_interface_has_the_asa_defaults() {
    let p = policy("access-list A permit ip any any\naccess-group A in interface inside");
    for iface in [INSIDE, OUTSIDE] {
        assert_eq!(p.fragment_limits(iface), limits(200, 24, 5));
    }
    assert_eq!(FragmentLimits::default(), limits(200, 24, 5));
    // An interface the policy does not know gets the defaults too.
    assert_eq!(p.fragment_limits(IfaceId(9)), limits(200, 24, 5));
    let levels = Policy::security_levels_only(&InterfaceConfig::inside_outside());
    assert_eq!(levels.fragment_limits(OUTSIDE), limits(200, 24, 5));
}

#[test]
fn a_line_without_an_interface_sets_every_interface() {
    let p = policy("fragment size 1000\nfragment chain 1\nfragment timeout 30");
    for iface in [INSIDE, OUTSIDE] {
        assert_eq!(p.fragment_limits(iface), limits(1000, 1, 30));
    }
}

/// An interface's own line wins over the global one, written before or
/// after it, limit by limit.
#[test]
fn an_interfaces_own_line_overrides_the_global_one() {
    for text in [
        "fragment chain 1\nfragment chain 45 inside\nfragment timeout 9",
        "fragment chain 45 inside\nfragment timeout 9\nfragment chain 1",
    ] {
        let p = policy(text);
        assert_eq!(p.fragment_limits(INSIDE), limits(200, 45, 9), "{text}");
        assert_eq!(p.fragment_limits(OUTSIDE), limits(200, 1, 9), "{text}");
    }
}

#[test]
fn no_fragment_restores_the_default() {
    let set = "fragment size 1000\nfragment chain 1 outside\nfragment timeout 20 outside\n";
    let p = policy(&format!(
        "{set}no fragment size\nno fragment chain 1 outside\nno fragment timeout outside"
    ));
    for iface in [INSIDE, OUTSIDE] {
        assert_eq!(p.fragment_limits(iface), limits(200, 24, 5));
    }
    // The interface's line removed, the global line applies to it again.
    let p = policy(&format!("{set}fragment chain 3\nno fragment chain outside"));
    assert_eq!(p.fragment_limits(OUTSIDE), limits(1000, 3, 20));
}

/// A line naming an interface the node lacks is refused at its nameif, as
/// an access-group's is (the parser checks it only against the config's
/// own interface blocks); one naming a management interface, which is
/// none of the node's, concerns nothing.
#[test]
fn a_line_for_an_interface_the_node_lacks_is_refused_where_it_names_it() {
    let text = "fragment chain 1\nfragment chain 10 dmz\n";
    let cfg = parse_config(text).unwrap().config;
    let e = compile(&cfg, &InterfaceConfig::inside_outside()).unwrap_err();
    assert_eq!(e, CompileError::UnknownInterface("dmz".into()));
    assert_eq!(locate(text, &e), Some((2, 19)));
    let p = policy(
        "interface G0\n nameif inside\ninterface G1\n nameif outside\n\
         interface Management0/0\n nameif management\n management-only\n\
         fragment chain 1 management",
    );
    assert_eq!(p.fragment_limits(INSIDE), limits(200, 24, 5));
}
