//! `show fragment [IF]`: each interface's limits of virtual reassembly
//! (its `fragment` lines, docs/asa-behaviour.md §2.8) and its counters,
//! summed over the workers, in the ASA's layout:
//!
//! ```text
//! Interface: inside
//!     Configuration: Size: 200, Chain: 24, Timeout: 5, Reassembly: virtual
//!     Run-time stats: Queue: 0, Full assembly: 0
//!                     Fail: 0, Overflow: 0
//! ```

use rampart_dataplane::{Engine, IfaceId};

use crate::model::{FragmentIface, Fragments};

/// The one reassembly mode Rampart has (`fragment reassembly full` is
/// refused when the configuration is parsed).
const REASSEMBLY: &str = "virtual";

/// One worker's view: every interface of its engine, with the limits of
/// the policy it runs and its own counters.
pub fn worker_fragments(engine: &Engine) -> Vec<FragmentIface> {
    let stats = engine.fragment_stats();
    let policy = engine.policy();
    engine
        .config()
        .interfaces
        .iter()
        .enumerate()
        .map_while(|(i, iface)| {
            let limits = policy.fragment_limits(IfaceId(u8::try_from(i).ok()?));
            let s = stats.get(i).copied().unwrap_or_default();
            Some(FragmentIface {
                interface: iface.nameif.clone(),
                size: limits.size,
                chain: limits.chain,
                timeout_s: limits.timeout.as_secs(),
                reassembly: REASSEMBLY.to_string(),
                queued: s.queued,
                assembled: s.assembled,
                // The ASA's `Fail` counts every datagram reassembly gave
                // up on: those given up for newer ones too.
                failed: s.failed.saturating_add(s.evicted),
                overflow: s.overflow,
            })
        })
        .collect()
}

/// The node's view: the workers' counters summed per interface (every
/// worker has the node's interfaces, in the node's order); the limits
/// are the first worker's (all run the node's policy).
pub fn merge(parts: Vec<Vec<FragmentIface>>) -> Fragments {
    let mut parts = parts.into_iter();
    let mut interfaces = parts.next().unwrap_or_default();
    for part in parts {
        for (into, more) in interfaces.iter_mut().zip(part) {
            into.queued = into.queued.saturating_add(more.queued);
            into.assembled = into.assembled.saturating_add(more.assembled);
            into.failed = into.failed.saturating_add(more.failed);
            into.overflow = into.overflow.saturating_add(more.overflow);
        }
    }
    Fragments { interfaces }
}

/// `show fragment IF`: that interface alone, or why not.
pub fn only(mut f: Fragments, nameif: &str) -> Result<Fragments, String> {
    f.interfaces.retain(|i| i.interface == nameif);
    if f.interfaces.is_empty() {
        return Err(format!(
            "show fragment: this node has no interface named '{}'",
            nameif.escape_debug()
        ));
    }
    Ok(f)
}

/// The ASA text.
pub fn render_fragments(f: &Fragments) -> String {
    let mut out = String::new();
    for i in &f.interfaces {
        out.push_str(&format!("Interface: {}\n", i.interface));
        out.push_str(&format!(
            "    Configuration: Size: {}, Chain: {}, Timeout: {}, Reassembly: {}\n",
            i.size, i.chain, i.timeout_s, i.reassembly
        ));
        out.push_str(&format!(
            "    Run-time stats: Queue: {}, Full assembly: {}\n",
            i.queued, i.assembled
        ));
        out.push_str(&format!(
            "                    Fail: {}, Overflow: {}\n",
            i.failed, i.overflow
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use rampart_dataplane::EngineConfig;
    use rampart_dataplane::conntrack::NodeId;
    use rampart_dataplane::policy::compile::compile;
    use rampart_dataplane::policy::parse_config;

    use super::*;

    fn iface(name: &str, queued: u64) -> FragmentIface {
        FragmentIface {
            interface: name.into(),
            size: 200,
            chain: 24,
            timeout_s: 5,
            reassembly: "virtual".into(),
            queued,
            assembled: 2 * queued,
            failed: 3 * queued,
            overflow: u64::MAX - 1,
        }
    }

    #[test]
    fn prints_each_interface_as_the_asa_does() {
        let f = Fragments {
            interfaces: vec![
                iface("inside", 0),
                FragmentIface {
                    size: 2000,
                    chain: 1,
                    timeout_s: 30,
                    overflow: 0,
                    ..iface("outside", 7)
                },
            ],
        };
        assert_eq!(
            render_fragments(&f),
            "Interface: inside
    Configuration: Size: 200, Chain: 24, Timeout: 5, Reassembly: virtual
    Run-time stats: Queue: 0, Full assembly: 0
                    Fail: 0, Overflow: 18446744073709551614
Interface: outside
    Configuration: Size: 2000, Chain: 1, Timeout: 30, Reassembly: virtual
    Run-time stats: Queue: 7, Full assembly: 14
                    Fail: 21, Overflow: 0
"
        );
        assert_eq!(render_fragments(&Fragments { interfaces: vec![] }), "");
    }

    #[test]
    fn the_workers_counters_are_summed_and_saturate() {
        let f = merge(vec![
            vec![iface("inside", 1), iface("outside", 2)],
            vec![iface("inside", 10), iface("outside", 20)],
        ]);
        assert_eq!(
            f.interfaces
                .iter()
                .map(|i| (i.queued, i.assembled, i.failed, i.overflow))
                .collect::<Vec<_>>(),
            [(11, 22, 33, u64::MAX), (22, 44, 66, u64::MAX)]
        );
        assert_eq!(merge(Vec::new()), Fragments { interfaces: vec![] });
    }

    #[test]
    fn one_interface_or_why_not() {
        let f = Fragments {
            interfaces: vec![iface("inside", 0), iface("outside", 0)],
        };
        assert_eq!(
            only(f.clone(), "outside").unwrap().interfaces,
            [iface("outside", 0)]
        );
        assert_eq!(
            only(f, "dmz").unwrap_err(),
            "show fragment: this node has no interface named 'dmz'"
        );
    }

    /// The limits are the policy's, interface by interface: the
    /// interface's own `fragment` lines, else the global ones.
    #[test]
    fn a_workers_view_has_its_policys_limits() {
        let mut engine = Engine::new(EngineConfig::inside_outside(NodeId(1), [0; 4])).unwrap();
        let text = "fragment chain 1\nfragment size 1000 outside\nfragment timeout 30 inside";
        let cfg = parse_config(text).unwrap().config;
        let policy = compile(&cfg, &engine.config().interfaces).unwrap();
        engine.set_policy(std::sync::Arc::new(policy)).unwrap();
        let view = worker_fragments(&engine);
        assert_eq!(
            view.iter()
                .map(|i| (i.interface.as_str(), i.size, i.chain, i.timeout_s))
                .collect::<Vec<_>>(),
            [("inside", 200, 1, 30), ("outside", 1000, 1, 5)]
        );
        assert!(
            view.iter()
                .all(|i| i.queued == 0 && i.reassembly == "virtual")
        );
    }
}
