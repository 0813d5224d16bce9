//! The elements of an entry over objects or object-groups, for `show
//! access-list` to list under it (docs/asa-behaviour.md §2.9): expanded
//! again when they are shown, from the policy's own copy of its objects
//! and groups, by the same code and in the same order as the compiler
//! numbered them, so that the `n`th element listed is the `n`th counted.
//! Nothing of them is kept per element but a key: a policy of 2 million
//! elements would otherwise keep 2 million texts, or atoms.

use std::sync::Arc;

use super::{Compiler, Policy};
use crate::policy::ast::{AclLine, Config};
use crate::policy::classifier::Atom;
use crate::policy::listing::{LineContent, ListedLine, expands};

/// The objects and groups of `config`, when an entry of its access-lists
/// names one (else nothing needs them).
pub(super) fn groups_of(config: &Config) -> Option<Arc<Config>> {
    let any = config
        .access_lists
        .iter()
        .flat_map(|l| &l.lines)
        .any(|l| matches!(l, AclLine::Ace(a) if expands(a)));
    any.then(|| {
        Arc::new(Config {
            objects: config.objects.clone(),
            object_groups: config.object_groups.clone(),
            ..Config::default()
        })
    })
}

/// Expands entries of one policy, each group once for them all.
pub struct Expander<'a> {
    compiler: Option<Compiler<'a>>,
}

impl std::fmt::Debug for Expander<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expander").finish_non_exhaustive()
    }
}

impl Expander<'_> {
    /// The first `limit` elements of `line`, in the order they count
    /// ([`ListedEntry::at`](crate::policy::listing::ListedEntry::at) on):
    /// none for a remark, an inactive entry, or one naming no object or
    /// group (which is not listed).
    pub fn elements(&mut self, line: &ListedLine, limit: usize) -> Vec<Atom> {
        let (Some(c), LineContent::Extended(AclLine::Ace(ace))) =
            (&mut self.compiler, &line.content)
        else {
            return Vec::new();
        };
        if ace.inactive || !expands(ace) {
            return Vec::new();
        }
        // The policy compiled with these groups: they expand again.
        match c.factors(ace) {
            Ok(f) => f.atoms().take(limit).collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Policy {
    /// An [`Expander`] of this policy's entries.
    pub fn expander(&self) -> Expander<'_> {
        Expander {
            compiler: self.groups.as_deref().map(Compiler::new),
        }
    }
}
