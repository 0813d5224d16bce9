//! `config check`'s warnings about a tcp-map and a class's limits that
//! Rampart cannot apply together (docs/asa-behaviour.md §2.3, §6.1).
//!
//! The ASA counts TCP normalization (a `tcp-map`) and the connection
//! limits, timeouts and randomization as two features, each taken by the
//! first matching class that offers it. Rampart takes both from one class:
//! the first matching class that offers either (`Policy::classify`, which
//! reads the ingress interface's policy, then the egress interface's, then
//! the global one). So wherever a class offering one of them comes before a
//! class offering the other that it lacks, a connection matching both loses
//! the later class's settings. Both directions are warned of, in a
//! policy-map and across the scopes in `classify`'s order.

use rampart_dataplane::policy::ast::{Config, ConnectionSettings, PolicyClass, ServiceScope};
use rampart_ops::echo::echo_message;

/// One class as `classify` sees it, with where it comes from.
struct Slot<'a> {
    policy_map: &'a str,
    scope: &'a ServiceScope,
    class: &'a PolicyClass,
}

impl Slot<'_> {
    /// It sets connection limits, timeouts or randomization (the compiled
    /// class's `limits`, bypass or not).
    fn sets_limits(&self) -> bool {
        ConnectionSettings {
            tcp_state_bypass: false,
            ..self.class.connection
        } != ConnectionSettings::default()
    }

    /// Its map applies (beside `tcp-state-bypass` a map has no effect).
    fn map(&self) -> Option<&str> {
        self.class
            .tcp_map
            .as_deref()
            .filter(|_| !self.class.connection.tcp_state_bypass)
    }

    /// It takes the limits-and-map slot of the connections it matches.
    fn takes_the_slot(&self) -> bool {
        self.sets_limits() || self.map().is_some()
    }
}

/// The warnings, in the configuration's order, each said once.
pub(super) fn warnings(file: &str, cfg: &Config) -> Vec<String> {
    let policy = |name: &str| cfg.policy_maps.iter().find(|p| p.name == name);
    // A class whose class-map has no match reaches nothing (warned of on
    // its own); the compiled policy leaves it out.
    let matches_something = |c: &PolicyClass| {
        !cfg.class_maps
            .iter()
            .any(|m| m.name == c.class && m.matcher.is_none())
    };
    let slots = |scope: &'_ ServiceScope| -> Vec<Slot<'_>> {
        cfg.service_policies
            .iter()
            .filter(|sp| &sp.scope == scope)
            .filter_map(|sp| Some((sp, policy(&sp.policy_map)?)))
            .flat_map(|(sp, pm)| {
                pm.classes
                    .iter()
                    .filter(|c| matches_something(c))
                    .map(move |class| Slot {
                        policy_map: &pm.name,
                        scope: &sp.scope,
                        class,
                    })
            })
            .filter(Slot::takes_the_slot)
            .collect()
    };
    let global = slots(&ServiceScope::Global);
    let ifaces: Vec<Vec<Slot>> = cfg
        .service_policies
        .iter()
        .filter(|sp| matches!(sp.scope, ServiceScope::Interface(_)))
        .map(|sp| slots(&sp.scope))
        .collect();
    // The orders `classify` reads: the global policy alone; an interface's,
    // then the global; an ingress interface's, then an egress one's, then
    // the global (either interface may be the ingress).
    let mut orders: Vec<Vec<&Slot>> = vec![global.iter().collect()];
    for (i, first) in ifaces.iter().enumerate() {
        orders.push(first.iter().chain(&global).collect());
        for (j, second) in ifaces.iter().enumerate() {
            if i != j {
                orders.push(first.iter().chain(second).chain(&global).collect());
            }
        }
    }
    // A policy-map read a second time (bound to both interfaces, say)
    // brings no later class: the first reading of each class decides.
    for order in &mut orders {
        let mut seen: Vec<&Slot> = Vec::new();
        order.retain(|s| {
            let new = !seen.iter().any(|e| same_class(e, s));
            seen.push(s);
            new
        });
    }
    let mut out: Vec<String> = Vec::new();
    for order in &orders {
        for (i, a) in order.iter().enumerate() {
            let later = &order[i + 1..];
            if !a.sets_limits()
                && let Some(b) = later.iter().find(|b| b.sets_limits())
            {
                push_once(&mut out, lost_limits(file, a, b));
            }
            // A bypass connection skips the normalizer (docs/asa-behaviour.md
            // §1.2): no map is lost on it.
            if a.map().is_none()
                && !a.class.connection.tcp_state_bypass
                && let Some(b) = later.iter().find(|b| b.map().is_some())
            {
                push_once(&mut out, lost_map(file, a, b));
            }
        }
    }
    out
}

/// The same class of the same policy-map (read once per scope it is bound
/// to).
fn same_class(a: &Slot, b: &Slot) -> bool {
    a.policy_map == b.policy_map && a.class.class == b.class.class
}

fn push_once(out: &mut Vec<String>, line: String) {
    if !out.contains(&line) {
        out.push(line);
    }
}

/// Which connections the two classes meet on, when they are in different
/// scopes (an interface's policy comes before the global one; the ingress
/// interface's before the egress one's).
fn meeting(a: &Slot, b: &Slot) -> String {
    match (a.scope, b.scope) {
        (ServiceScope::Interface(x), ServiceScope::Global) => format!(
            " (the global policy), for a connection through interface {} that both match",
            echo_message(x)
        ),
        (ServiceScope::Interface(x), ServiceScope::Interface(y)) if x != y => format!(
            " (interface {}'s policy), for a connection entering {} and leaving {} that both match",
            echo_message(y),
            echo_message(x),
            echo_message(y)
        ),
        _ => String::new(),
    }
}

/// `a` sets a map but no limits; `b`, later, sets limits.
fn lost_limits(file: &str, a: &Slot, b: &Slot) -> String {
    format!(
        "{file}: warning: policy-map {} class {} sets tcp-map {} but no connection limits, \
         timeouts or randomization: its connections take the defaults, not those of policy-map \
         {} class {}{} (Rampart applies a tcp-map and those settings of one class, the first \
         that matches; the ASA would apply both; docs/asa-behaviour.md §6.1); to have both, \
         set the same limits, timeouts and randomization in both classes",
        echo_message(a.policy_map),
        echo_message(&a.class.class),
        echo_message(a.map().unwrap_or_default()),
        echo_message(b.policy_map),
        echo_message(&b.class.class),
        meeting(a, b)
    )
}

/// `a` sets limits but no map (and no bypass); `b`, later, sets a map.
fn lost_map(file: &str, a: &Slot, b: &Slot) -> String {
    format!(
        "{file}: warning: policy-map {} class {} sets connection limits, timeouts or \
         randomization but no tcp-map: its connections take the default TCP normalizer, not \
         tcp-map {} of policy-map {} class {}{}, so none of that map's settings (its drops \
         among them) apply to them (Rampart applies a tcp-map and those settings of one \
         class, the first that matches; the ASA would apply both; docs/asa-behaviour.md \
         §6.1); to have both, set the same tcp-map in both classes",
        echo_message(a.policy_map),
        echo_message(&a.class.class),
        echo_message(b.map().unwrap_or_default()),
        echo_message(b.policy_map),
        echo_message(&b.class.class),
        meeting(a, b)
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The warnings `config check` gives of `text` (which must be valid).
    fn warned(text: &str) -> Vec<String> {
        let r = super::super::check(Path::new("x.cfg"), text);
        assert!(r.ok, "{}", r.text);
        r.text
            .lines()
            .filter(|l| l.contains("tcp-map") && l.contains("warning:"))
            .map(|l| l.trim().to_string())
            .collect()
    }

    const MAP: &str =
        "class-map WEB\n match port tcp eq 80\ntcp-map M\n tcp-options range 19 19 drop\n";
    const TWO_IFACES: &str = "interface G0\n nameif inside\ninterface G1\n nameif outside\n";

    /// A class with limits and no map before a class with a map, in one
    /// policy-map: a connection to port 80 gets the default normalizer, so
    /// M's drop of kind 19 does not apply to it
    /// (`a_limits_class_before_a_map_class_hides_the_maps_drop`,
    /// dataplane/src/engine/tests/tcp_map.rs).
    #[test]
    fn a_limits_class_before_a_map_class_is_warned_of() {
        let text = format!(
            "{MAP}policy-map P\n class WEB\n  set connection conn-max 1000\n class class-default\n  set connection advanced-options M\nservice-policy P global\n"
        );
        assert_eq!(
            warned(&text),
            [
                "x.cfg: warning: policy-map P class WEB sets connection limits, timeouts or \
              randomization but no tcp-map: its connections take the default TCP normalizer, \
              not tcp-map M of policy-map P class class-default, so none of that map's settings \
              (its drops among them) apply to them (Rampart applies a tcp-map and those \
              settings of one class, the first that matches; the ASA would apply both; \
              docs/asa-behaviour.md §6.1); to have both, set the same tcp-map in both classes"
            ]
        );
        // The later class sets limits too: still its map is lost.
        let text = format!(
            "{MAP}policy-map P\n class WEB\n  set connection conn-max 1000\n class class-default\n  set connection advanced-options M\n  set connection per-client-max 5\nservice-policy P global\n"
        );
        assert_eq!(warned(&text).len(), 1);
        assert!(warned(&text)[0].contains("class WEB sets connection limits"));
        // Fixed as the warning says: the same map in both classes.
        let text = format!(
            "{MAP}policy-map P\n class WEB\n  set connection conn-max 1000\n  set connection advanced-options M\n class class-default\n  set connection advanced-options M\nservice-policy P global\n"
        );
        assert_eq!(warned(&text), Vec::<String>::new());
        // A bypass class skips the normalizer: no map is lost on it.
        let text = format!(
            "{MAP}policy-map P\n class WEB\n  set connection conn-max 1000\n  set connection advanced-options tcp-state-bypass\n class class-default\n  set connection advanced-options M\nservice-policy P global\n"
        );
        assert_eq!(warned(&text), Vec::<String>::new());
        // A map beside bypass has no effect, so it is not lost either.
        let text = format!(
            "{MAP}policy-map P\n class WEB\n  set connection conn-max 1000\n class class-default\n  set connection advanced-options M\n  set connection advanced-options tcp-state-bypass\nservice-policy P global\n"
        );
        assert_eq!(warned(&text), Vec::<String>::new());
    }

    /// An interface's policy with limits before a global class's map: a
    /// connection through that interface takes the interface class's
    /// default normalizer.
    #[test]
    fn an_interface_policys_limits_before_a_global_map_are_warned_of() {
        let text = format!(
            "{TWO_IFACES}{MAP}policy-map P\n class class-default\n  set connection timeout idle 0:10:00\npolicy-map G\n class WEB\n  set connection advanced-options M\nservice-policy P interface inside\nservice-policy G global\n"
        );
        assert_eq!(
            warned(&text),
            [
                "x.cfg: warning: policy-map P class class-default sets connection limits, timeouts \
              or randomization but no tcp-map: its connections take the default TCP normalizer, \
              not tcp-map M of policy-map G class WEB (the global policy), for a connection \
              through interface inside that both match, so none of that map's settings (its \
              drops among them) apply to them (Rampart applies a tcp-map and those settings of \
              one class, the first that matches; the ASA would apply both; \
              docs/asa-behaviour.md §6.1); to have both, set the same tcp-map in both classes"
            ]
        );
        // The global policy's own order is not the interface's: a global
        // class with limits after the global map hides nothing.
        let text = format!(
            "{MAP}policy-map G\n class WEB\n  set connection advanced-options M\n  set connection conn-max 5\n class class-default\n  set connection conn-max 9\nservice-policy G global\n"
        );
        assert_eq!(warned(&text), Vec::<String>::new());
    }

    /// Two interfaces' policies: the ingress interface's comes first, and
    /// either interface may be the ingress, so each order is warned of.
    #[test]
    fn the_ingress_interfaces_policy_before_the_egress_ones_is_warned_of() {
        let text = format!(
            "{TWO_IFACES}{MAP}policy-map P\n class class-default\n  set connection advanced-options M\npolicy-map Q\n class class-default\n  set connection per-client-max 50\nservice-policy P interface inside\nservice-policy Q interface outside\n"
        );
        assert_eq!(
            warned(&text),
            [
                "x.cfg: warning: policy-map P class class-default sets tcp-map M but no \
                 connection limits, timeouts or randomization: its connections take the \
                 defaults, not those of policy-map Q class class-default (interface outside's \
                 policy), for a connection entering inside and leaving outside that both match \
                 (Rampart applies a tcp-map and those settings of one class, the first that \
                 matches; the ASA would apply both; docs/asa-behaviour.md §6.1); to have both, \
                 set the same limits, timeouts and randomization in both classes",
                "x.cfg: warning: policy-map Q class class-default sets connection limits, \
                 timeouts or randomization but no tcp-map: its connections take the default TCP \
                 normalizer, not tcp-map M of policy-map P class class-default (interface \
                 inside's policy), for a connection entering outside and leaving inside that \
                 both match, so none of that map's settings (its drops among them) apply to them \
                 (Rampart applies a tcp-map and those settings of one class, the first that \
                 matches; the ASA would apply both; docs/asa-behaviour.md §6.1); to have both, \
                 set the same tcp-map in both classes",
            ]
        );
        // One policy-map on both interfaces meets no other class.
        let text = format!(
            "{TWO_IFACES}{MAP}policy-map P\n class WEB\n  set connection advanced-options M\n  set connection conn-max 5\n class class-default\n  set connection conn-max 9\nservice-policy P interface inside\nservice-policy P interface outside\n"
        );
        assert_eq!(warned(&text), Vec::<String>::new());
    }
}
