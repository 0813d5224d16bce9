//! Which line of the configuration decided: the access-list entry, the
//! security levels, the class. `packet-tracer` names them
//! (docs/asa-behaviour.md §2.4); they are read from the same compiled
//! policy, with the same first-match lookups, that the engine judges
//! packets with, so what the trace names is what decides.

use std::sync::Arc;

use super::{AclBinding, ClassMatcher, CompiledAcl, Policy};
use crate::policy::ast::Config;
use crate::policy::classifier::Probe;
use crate::verdict::IfaceId;

/// The entry of an access-list that matched a packet first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclHit {
    /// The classifier's rule (the entry's index among the list's entries,
    /// remarks not counted).
    pub rule: u32,
    /// The entry's number as `show access-list` numbers its lines, from 1,
    /// remarks counted ([`super::Place::AclEntry`]).
    pub entry: usize,
    /// Whether the entry permits.
    pub permit: bool,
}

impl CompiledAcl {
    /// The entry that decides `probe`, or `None` when no entry matches
    /// (the implicit deny at the end): the lookup [`decide`](Self::decide)
    /// makes, with the entry it found.
    pub fn explain(&self, probe: &Probe) -> Option<AclHit> {
        self.classifier.first_match(probe).map(|rule| AclHit {
            rule,
            entry: self.entries[rule as usize],
            permit: self.permit[rule as usize],
        })
    }
}

/// What decided whether a new connection may open, as
/// [`Policy::permits`] decides it (docs/asa-behaviour.md §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// An interface the policy does not know: nothing opens.
    UnknownInterface,
    /// Both interfaces have security level `level`, and the policy has no
    /// `same-security-traffic permit inter-interface`: nothing opens,
    /// whatever the access-group says.
    SameSecurity {
        /// The level of both.
        level: u8,
    },
    /// An access-group (access-list `acl`, an index into
    /// [`Policy::acls`]) decided: by the entry `hit`, or by its implicit
    /// deny at the end (`None`). On the way in, the ingress interface's
    /// list ([`AclBinding::In`]) or, for what it does not match or without
    /// one, the global list ([`AclBinding::Global`]); on the way out, the
    /// egress interface's ([`AclBinding::Out`],
    /// [`Policy::explain_egress`]).
    AccessGroup {
        /// The access-list.
        acl: usize,
        /// How it is bound.
        binding: AclBinding,
        /// The entry that matched.
        hit: Option<AclHit>,
        /// For the global list: the ingress interface's own list, which
        /// matched nothing before it.
        passed_over: Option<usize>,
    },
    /// No access-group on the ingress interface: the security levels
    /// decided (from a higher level to a lower one; between equal levels
    /// only with `same-security-traffic`, which the policy then has).
    SecurityLevels {
        /// The ingress interface's level.
        ingress: u8,
        /// The egress interface's level.
        egress: u8,
    },
}

impl Admission {
    /// Whether the connection may open.
    pub fn permits(&self) -> bool {
        match *self {
            Admission::UnknownInterface | Admission::SameSecurity { .. } => false,
            Admission::AccessGroup { hit, .. } => hit.is_some_and(|h| h.permit),
            // Equal levels come here only with `same-security-traffic`.
            Admission::SecurityLevels { ingress, egress } => ingress >= egress,
        }
    }
}

impl Policy {
    /// Keep `source`, the configuration this policy was compiled from, for
    /// `packet-tracer` to print the lines that decide ([`source`](Self::source)).
    pub fn with_source(mut self, source: Arc<Config>) -> Policy {
        self.source = Some(source);
        self
    }

    /// The configuration the policy was compiled from, where the node
    /// kept it ([`with_source`](Self::with_source)).
    pub fn source(&self) -> Option<&Config> {
        self.source.as_deref()
    }

    /// [`source`](Self::source), shared: what the node compiles again
    /// when the set of active time-ranges changes.
    pub fn shared_source(&self) -> Option<&Arc<Config>> {
        self.source.as_ref()
    }

    /// The security level of `iface` in this policy (its interface block's,
    /// else the node's).
    pub fn security_level(&self, iface: IfaceId) -> Option<u8> {
        self.interfaces
            .get(usize::from(iface.0))
            .map(|i| i.security_level)
    }

    /// What decides [`permits`](Self::permits) for `probe` from `ingress`
    /// toward `egress`: the same steps, naming the one that decided.
    pub fn explain_admission(&self, ingress: IfaceId, egress: IfaceId, probe: &Probe) -> Admission {
        let (Some(i), Some(e)) = (
            self.interfaces.get(usize::from(ingress.0)),
            self.interfaces.get(usize::from(egress.0)),
        ) else {
            return Admission::UnknownInterface;
        };
        if i.security_level == e.security_level && !self.same_security {
            return Admission::SameSecurity {
                level: i.security_level,
            };
        }
        let own = i
            .access_group
            .map(|acl| (acl, self.acls[acl].explain(probe)));
        match (own, self.global_acl) {
            (Some((acl, hit)), None) | (Some((acl, hit @ Some(_))), Some(_)) => {
                Admission::AccessGroup {
                    acl,
                    binding: AclBinding::In,
                    hit,
                    passed_over: None,
                }
            }
            (own, Some(acl)) => Admission::AccessGroup {
                acl,
                binding: AclBinding::Global,
                hit: self.acls[acl].explain(probe),
                passed_over: own.map(|(acl, _)| acl),
            },
            (None, None) => Admission::SecurityLevels {
                ingress: i.security_level,
                egress: e.security_level,
            },
        }
    }

    /// What the egress interface's `out` access-group says of `probe`,
    /// if it has one: asked only of what the way in lets through
    /// ([`explain_admission`](Self::explain_admission)), as
    /// [`permits`](Self::permits) asks it.
    pub fn explain_egress(&self, egress: IfaceId, probe: &Probe) -> Option<Admission> {
        let acl = self
            .interfaces
            .get(usize::from(egress.0))?
            .access_group_out?;
        Some(Admission::AccessGroup {
            acl,
            binding: AclBinding::Out,
            hit: self.acls[acl].explain(probe),
            passed_over: None,
        })
    }

    /// For class `class` (an index into [`classes`](Self::classes)) that
    /// matches by `match access-list`: the access-list and the entry of it
    /// that matched `probe` (a permit puts the packet in the class; a deny
    /// or no match leaves it out). `None` for a class that matches another
    /// way.
    pub fn class_acl_hit(&self, class: usize, probe: &Probe) -> Option<(usize, Option<AclHit>)> {
        match self.classes.get(class)?.matcher {
            ClassMatcher::Acl(acl) => Some((acl, self.acls[acl].explain(probe))),
            ClassMatcher::Any | ClassMatcher::Ports(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Addr;
    use crate::iface::InterfaceConfig;
    use crate::policy::compile::compile;
    use crate::policy::parse_config;

    fn policy(text: &str, ifaces: &[InterfaceConfig]) -> Policy {
        compile(&parse_config(text).unwrap().config, ifaces).unwrap()
    }

    fn tcp(src: [u8; 4], dst: [u8; 4], dport: u16) -> Probe {
        Probe {
            v6: false,
            proto: 6,
            src: Addr::v4(src),
            dst: Addr::v4(dst),
            sport: 40_000,
            dport,
        }
    }

    const IN: IfaceId = IfaceId(0);
    const OUT: IfaceId = IfaceId(1);

    /// The entry named is the line `show access-list` numbers: remarks
    /// count, inactive entries too; the implicit deny has none.
    #[test]
    fn the_entry_that_matched_is_numbered_as_show_access_list_numbers_it() {
        let p = policy(
            "access-list A remark web first
access-list A extended deny tcp any host 198.19.0.9 eq www
access-list A extended permit tcp any host 198.19.0.10 eq www inactive
access-list A remark then the rest
access-list A extended permit tcp any any eq www
access-list A extended permit udp any any eq domain
access-group A in interface inside
",
            &InterfaceConfig::inside_outside(),
        );
        let acl = &p.acls()[0];
        let hit = |dst, port| acl.explain(&tcp([198, 18, 0, 1], dst, port));
        assert_eq!(
            hit([198, 19, 0, 9], 80),
            Some(AclHit {
                rule: 0,
                entry: 2,
                permit: false
            })
        );
        assert_eq!(
            hit([198, 19, 0, 10], 80),
            Some(AclHit {
                rule: 2,
                entry: 5,
                permit: true
            })
        );
        assert_eq!(hit([198, 19, 0, 10], 443), None);
        assert_eq!(
            p.explain_admission(IN, OUT, &tcp([198, 18, 0, 1], [198, 19, 0, 10], 443)),
            Admission::AccessGroup {
                acl: 0,
                binding: AclBinding::In,
                hit: None,
                passed_over: None,
            }
        );
    }

    /// Whatever the levels, the access-group and `same-security-traffic`,
    /// the explanation permits exactly what `permits` permits.
    #[test]
    fn the_explanation_agrees_with_permits() {
        let levels = |a: u8, b: u8| {
            let mut i = InterfaceConfig::inside_outside();
            i[0].security_level = a;
            i[1].security_level = b;
            i
        };
        let acl = "access-list A extended deny tcp any any eq 23\n\
                   access-list A extended permit tcp 198.18.0.0 255.255.0.0 any\n\
                   access-group A in interface inside\n";
        let probes = [
            tcp([198, 18, 0, 1], [198, 19, 0, 1], 23),
            tcp([198, 18, 0, 1], [198, 19, 0, 1], 80),
            tcp([198, 19, 0, 1], [198, 18, 0, 1], 80),
        ];
        let mut seen = [false; 2];
        for (a, b) in [(100, 0), (0, 100), (50, 50)] {
            for same in [false, true] {
                for group in [false, true] {
                    let text = format!(
                        "{}{}",
                        if same {
                            "same-security-traffic permit inter-interface\n"
                        } else {
                            ""
                        },
                        if group { acl } else { "" }
                    );
                    let p = policy(&text, &levels(a, b));
                    for probe in &probes {
                        for (from, to) in [(IN, OUT), (OUT, IN)] {
                            let permits = p.permits(from, to, probe);
                            seen[usize::from(permits)] = true;
                            assert_eq!(
                                p.explain_admission(from, to, probe).permits(),
                                permits,
                                "{text} levels {a}/{b} {probe:?} {from:?}"
                            );
                        }
                    }
                }
            }
        }
        assert_eq!(seen, [true, true], "both answers were tried");
        let p = policy("", &levels(50, 50));
        assert_eq!(
            p.explain_admission(IN, OUT, &probes[0]),
            Admission::SameSecurity { level: 50 }
        );
        assert_eq!(
            p.explain_admission(IN, IfaceId(9), &probes[0]),
            Admission::UnknownInterface
        );
    }

    /// A class that matches by access-list names the list and the entry
    /// that put the packet in it; `class-default` names none.
    #[test]
    fn a_class_names_the_entry_of_its_access_list() {
        let p = policy(
            "access-list WEB extended deny tcp any host 198.19.0.9 eq www
access-list WEB extended permit tcp any any eq www
class-map web
 match access-list WEB
policy-map global_policy
 class web
  set connection conn-max 10
 class class-default
  set connection per-client-max 5
service-policy global_policy global
",
            &InterfaceConfig::inside_outside(),
        );
        let web = p
            .classes()
            .iter()
            .position(|c| c.name == "global_policy/web")
            .unwrap();
        let default = p
            .classes()
            .iter()
            .position(|c| c.name == "global_policy/class-default")
            .unwrap();
        let probe = tcp([198, 18, 0, 1], [198, 19, 0, 10], 80);
        assert_eq!(
            p.class_acl_hit(web, &probe),
            Some((
                0,
                Some(AclHit {
                    rule: 1,
                    entry: 2,
                    permit: true
                })
            ))
        );
        assert_eq!(p.classify(IN, OUT, &probe).class, Some(web));
        assert_eq!(p.class_acl_hit(default, &probe), None);
        assert_eq!(p.class_acl_hit(99, &probe), None);
    }
}
