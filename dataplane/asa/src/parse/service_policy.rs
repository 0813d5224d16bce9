//! `service-policy NAME global|interface IF`: one global policy-map and
//! one per interface.

use crate::ast::*;

use super::Parser;
use super::cursor::{Cur, R, Tok};
use super::refs::{Owner, RefKind};

impl Parser {
    pub(super) fn service_policy(&mut self, c: &mut Cur<'_>) -> R<()> {
        let (sp, name, scope_tok) = self.service_policy_args(c)?;
        if let Some(old) = self
            .cfg
            .service_policies
            .iter()
            .find(|x| x.scope == sp.scope)
        {
            // Exactly one global policy, one per interface (`docs/asa-behaviour.md` §2.1).
            let message = match &sp.scope {
                ServiceScope::Global => format!(
                    "only one global service-policy is allowed; '{}' is already global",
                    old.policy_map
                ),
                ServiceScope::Interface(i) => format!(
                    "interface '{i}' already has service-policy '{}'",
                    old.policy_map
                ),
            };
            return Err(c.err_at(scope_tok.col, message));
        }
        let at = self.refs.len();
        self.reference(c, RefKind::PolicyMap, name);
        if let ServiceScope::Interface(_) = sp.scope {
            self.reference(c, RefKind::Interface, scope_tok);
        }
        self.own(at, &Owner::ServicePolicy(sp.clone()));
        self.cfg.service_policies.push(sp);
        Ok(())
    }

    /// `NAME global` or `NAME interface IF`: the policy, the name word and
    /// the scope word (`global` or the interface name).
    pub(super) fn service_policy_args<'a>(
        &self,
        c: &mut Cur<'a>,
    ) -> R<(ServicePolicy, Tok<'a>, Tok<'a>)> {
        let name = c.word("policy-map name")?;
        let (scope, tok) = match c.next() {
            Some(t) if t.text == "global" => (ServiceScope::Global, t),
            Some(t) if t.text == "interface" => {
                let i = c.word("interface name")?;
                (ServiceScope::Interface(i.text.to_string()), i)
            }
            Some(_) => {
                c.back();
                return Err(c.expected("'global' or 'interface'"));
            }
            None => return Err(c.expected("'global' or 'interface'")),
        };
        c.done()?;
        Ok((
            ServicePolicy {
                policy_map: name.text.to_string(),
                scope,
            },
            name,
            tok,
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parse::test_support::*;

    #[test]
    fn service_policies() {
        let c = cfg(
            "policy-map G\npolicy-map I\nservice-policy G global\nservice-policy I interface outside\nservice-policy G interface inside",
        );
        assert_eq!(
            c.service_policies,
            vec![
                ServicePolicy {
                    policy_map: "G".into(),
                    scope: ServiceScope::Global
                },
                ServicePolicy {
                    policy_map: "I".into(),
                    scope: ServiceScope::Interface("outside".into())
                },
                ServicePolicy {
                    policy_map: "G".into(),
                    scope: ServiceScope::Interface("inside".into())
                },
            ]
        );
        let c = cfg(
            "policy-map G\nservice-policy G global\nno service-policy G global\nservice-policy G global",
        );
        assert_eq!(c.service_policies.len(), 1);
        check_errors(&[
            ("service-policy", 1, 15, "expected policy-map name"),
            (
                "policy-map G\nservice-policy G",
                2,
                17,
                "expected 'global' or 'interface'",
            ),
            (
                "policy-map G\nservice-policy G everywhere",
                2,
                18,
                "expected 'global' or 'interface', found 'everywhere'",
            ),
            (
                "policy-map G\nservice-policy G interface",
                2,
                27,
                "expected interface name",
            ),
            (
                "policy-map G\nservice-policy G global x",
                2,
                25,
                "unexpected 'x' after end of command",
            ),
            (
                "service-policy NOPE global",
                1,
                16,
                "policy-map 'NOPE' is not defined",
            ),
            (
                "policy-map G\npolicy-map H\nservice-policy G global\nservice-policy H global",
                4,
                18,
                "only one global service-policy is allowed; 'G' is already global",
            ),
            (
                "policy-map G\nservice-policy G interface outside\nservice-policy G interface outside",
                3,
                28,
                "interface 'outside' already has service-policy 'G'",
            ),
            (
                "interface G0\n nameif inside\npolicy-map G\nservice-policy G interface outside",
                4,
                28,
                "no interface has nameif 'outside'",
            ),
            (
                "policy-map G\nno service-policy G global",
                2,
                19,
                "no such service-policy 'G'",
            ),
            (
                "policy-map G\nservice-policy G global\nno policy-map G",
                2,
                16,
                "policy-map 'G' is not defined",
            ),
        ]);
    }
}
