//! `show access-list [NAME]`: every access-list of the policy in force,
//! each entry with its hit count summed over the workers, in the ASA's
//! layout (docs/asa-behaviour.md §2.9), and `clear access-list [NAME]
//! counters`, with the body of `POST /v1/clear-access-list` that carries
//! it (docs/ops.md §1):
//!
//! ```text
//! access-list OUT_IN; 2 elements; name hash: 0x7c5b0b4e
//! access-list OUT_IN line 1 remark ssh from anywhere
//! access-list OUT_IN line 2 extended permit tcp any any eq ssh (hitcnt=3) 0x0f2e6c1a
//! access-list OUT_IN line 3 extended deny tcp any any eq telnet (hitcnt=1) 0x5a1c2d3e
//! access-list OUT_IN line 4 extended permit tcp any object-group WEB eq www (hitcnt=7) 0x3c0b1e2f
//!   access-list OUT_IN line 4 extended permit tcp any host 198.18.0.10 eq www (hitcnt=7) 0x4d1a0b3c
//!   access-list OUT_IN line 4 extended permit tcp any host 198.18.0.11 eq www (hitcnt=0) 0x9e2f3a4b
//! ```
//!
//! An entry over objects or object-groups is followed by its elements,
//! indented, each with its own count (the entry's is their sum). They are
//! expanded again when shown (the policy keeps a key per element, not its
//! text), at most [`MAX_ELEMENTS_LISTED`] of an entry and
//! [`MAX_ELEMENTS_ANSWERED`] of an answer: the rest are counted in the
//! entry's total and said to be left out.
//!
//! The hashes are Rampart's (FNV-1a of the list's name, and of the name
//! and the entry's text), the same on every node and after every reload;
//! not the ASA's values.

use std::collections::HashMap;
use std::sync::Arc;

use rampart_dataplane::Engine;
use rampart_dataplane::policy::ast::AclLine;
use rampart_dataplane::policy::compile::{Expander, Policy};
use rampart_dataplane::policy::listing::{AclListing, LineContent, ListKind, element_text};

use crate::admin::Admin;
use crate::backend::OpsError;
use crate::echo::echo;
use crate::model::{AccessListView, AccessLists, AclClearResult, AclElementView, AclLineView};
use crate::pool::EnginePool;

/// Most elements listed under one entry; its others are counted in its
/// total and said to be left out. The ASA lists every one (its
/// `object-group-search access-control` lists none, only the entries);
/// an entry crossing two groups of a few hundred members each has tens
/// of thousands, which no one reads, and a listing of them costs the
/// admin thread rendering and memory at every ask.
pub const MAX_ELEMENTS_LISTED: usize = 10_000;

/// Most elements listed in one answer, over all its entries: a policy may
/// have 2 million elements (its budget), 200 MB of text; 100,000 lines
/// render in about a tenth of a second.
pub const MAX_ELEMENTS_ANSWERED: usize = 100_000;

// === impl Admin ===

impl<P: EnginePool> Admin<P> {
    /// `show access-list [NAME]` of the node's workers (its
    /// [`Backend::access_lists`](crate::backend::Backend::access_lists)).
    pub(crate) fn access_list_view(&self, name: Option<&str>) -> Result<AccessLists, OpsError> {
        let n = name.map(str::to_string);
        let parts = self.each(move |w| worker_hits_of(w.engine, n.as_deref()))?;
        only(merge_only(parts, name), name)
    }

    /// `clear access-list [NAME] counters` on the node's workers.
    pub(crate) fn clear_access_list_counts(
        &self,
        name: Option<&str>,
    ) -> Result<AclClearResult, OpsError> {
        let n = name.map(str::to_string);
        let parts = self.each(move |w| worker_clear(w.engine, n.as_deref()))?;
        cleared(parts, name)
    }
}

// === the workers' parts ===

/// One worker's part: the policy it runs and the elements it counted
/// hits on (their places among the policy's, and counts), copied between
/// two of its batches (the view is built off the worker: a list of 20,000
/// entries is 20,000 strings, which the worker does not wait for). Only
/// the elements hit: a policy may have 2 million, most never hit.
#[derive(Debug, Clone)]
pub struct WorkerHits {
    policy: Arc<Policy>,
    hits: Vec<(u32, u64)>,
}

/// What a worker hands over for `show access-list`.
pub fn worker_hits(engine: &Engine) -> WorkerHits {
    worker_hits_of(engine, None)
}

/// [`worker_hits`] of the list named `name` alone (`None`: all): a
/// worker reads only that list's counters, not a whole policy's.
pub fn worker_hits_of(engine: &Engine, name: Option<&str>) -> WorkerHits {
    let policy = engine.policy().clone();
    let mut hits = Vec::new();
    for l in policy
        .listings()
        .iter()
        .filter(|l| name.is_none_or(|n| l.name == n))
    {
        let of = engine.acl_hits().of(l);
        for (i, &n) in (l.first..).zip(of) {
            if n > 0 {
                // The policy's budget numbers its elements in `u32`.
                hits.push((u32::try_from(i).unwrap_or(u32::MAX), n));
            }
        }
    }
    WorkerHits { policy, hits }
}

/// The node's view: the first worker's lists, each element's count summed
/// over the workers. A worker that runs another policy (one answered
/// before a new policy reached it, the other after) adds its counts by
/// list name, entry and element, as a new policy carries them over.
pub fn merge(parts: Vec<WorkerHits>) -> AccessLists {
    merge_only(parts, None)
}

/// [`merge`] of the list named `name` alone (`None`: all), whose entries
/// the answer's bound on elements listed is for.
pub fn merge_only(parts: Vec<WorkerHits>, name: Option<&str>) -> AccessLists {
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return AccessLists { lists: Vec::new() };
    };
    let policy = first.policy;
    let total = policy
        .listings()
        .iter()
        .map(AclListing::element_count)
        .sum();
    let mut counts = vec![0u64; total];
    add(&mut counts, &first.hits);
    for part in parts {
        if Arc::ptr_eq(&part.policy, &policy) || part.policy.listings() == policy.listings() {
            add(&mut counts, &part.hits);
            continue;
        }
        // By each element's keys (its list's name and entry, its own).
        let mut by_key: HashMap<(u128, u64), u64> = HashMap::new();
        let hit: HashMap<u32, u64> = part.hits.iter().copied().collect();
        for l in part.policy.listings() {
            for e in l.entries().filter_map(|x| x.entry) {
                for at in e.range() {
                    let i = u32::try_from(l.first + at).unwrap_or(u32::MAX);
                    if let Some(&n) = hit.get(&i) {
                        by_key.insert((e.key, l.element_keys[at]), n);
                    }
                }
            }
        }
        for l in policy.listings() {
            for e in l.entries().filter_map(|x| x.entry) {
                for at in e.range() {
                    let more = by_key.remove(&(e.key, l.element_keys[at]));
                    if let Some(c) = counts.get_mut(l.first + at) {
                        *c = c.saturating_add(more.unwrap_or(0));
                    }
                }
            }
        }
    }
    let mut expander = policy.expander();
    let mut budget = MAX_ELEMENTS_ANSWERED;
    AccessLists {
        lists: policy
            .listings()
            .iter()
            .filter(|l| name.is_none_or(|n| l.name == n))
            .map(|l| {
                let of = counts.get(l.first..).unwrap_or(&[]);
                view(l, of, &mut expander, &mut budget)
            })
            .collect(),
    }
}

/// Add a worker's hits of the same policy to `counts`.
fn add(counts: &mut [u64], hits: &[(u32, u64)]) {
    for &(i, n) in hits {
        if let Some(c) = counts.get_mut(i as usize) {
            *c = c.saturating_add(n);
        }
    }
}

/// One list with its elements' counts (`counts` from its first element
/// on); `budget`: how many more elements the answer may list.
fn view(
    l: &AclListing,
    counts: &[u64],
    expander: &mut Expander<'_>,
    budget: &mut usize,
) -> AccessListView {
    let lines: Vec<AclLineView> = l
        .lines
        .iter()
        .map(|line| match line.entry {
            None => AclLineView {
                line: line.line,
                text: line.text(),
                remark: true,
                hitcnt: None,
                inactive: false,
                elements: 0,
                hash: None,
                children: Vec::new(),
                children_omitted: 0,
            },
            Some(e) => {
                let text = line.text();
                let of = counts.get(e.range()).unwrap_or(&[]);
                let total = of.iter().fold(0u64, |a, &n| a.saturating_add(n));
                let mut children = Vec::new();
                let mut children_omitted = 0;
                // An entry inactive for its time-range lists its
                // elements (with the counts they keep); one written
                // `inactive` has none.
                if e.expands
                    && let LineContent::Extended(AclLine::Ace(ace)) = &line.content
                {
                    let limit = MAX_ELEMENTS_LISTED.min(*budget);
                    children = expander
                        .elements(line, limit)
                        .iter()
                        .zip(of)
                        .map(|(atom, &n)| {
                            let text = element_text(ace, atom);
                            AclElementView {
                                hash: hash_of(&[&l.name, " ", &text]),
                                text,
                                hitcnt: n,
                            }
                        })
                        .collect();
                    *budget -= children.len();
                    children_omitted = (of.len() - children.len()) as u64;
                }
                AclLineView {
                    line: line.line,
                    hash: Some(hash_of(&[&l.name, " ", &text])),
                    text,
                    remark: false,
                    hitcnt: Some(total),
                    inactive: e.inactive,
                    elements: e.elements,
                    children,
                    children_omitted,
                }
            }
        })
        .collect();
    AccessListView {
        name: l.name.clone(),
        kind: match l.kind {
            ListKind::Extended => "extended",
            ListKind::Ethertype => "ethertype",
        }
        .to_string(),
        elements: lines.iter().map(|x| u64::from(x.elements)).sum(),
        name_hash: hash_of(&[&l.name]),
        lines,
    }
}

/// FNV-1a (32 bits) of the parts, one after the other, as `0x` and 8 hex
/// digits: stable across nodes, versions of the text's source and reloads.
fn hash_of(parts: &[&str]) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in parts.iter().flat_map(|p| p.bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("0x{h:08x}")
}

/// `show access-list NAME`: that list alone (`None`: all), or why not
/// (the caller's fault: no such list in the policy in force).
pub fn only(mut lists: AccessLists, name: Option<&str>) -> Result<AccessLists, OpsError> {
    let Some(name) = name else {
        return Ok(lists);
    };
    lists.lists.retain(|l| l.name == name);
    if lists.lists.is_empty() {
        return Err(no_such_list(name));
    }
    Ok(lists)
}

fn no_such_list(name: &str) -> OpsError {
    OpsError::NotFound(format!(
        "the policy in force has no access-list named '{}'",
        echo(name)
    ))
}

/// The ASA text.
pub fn render_access_lists(a: &AccessLists) -> String {
    let mut out = String::new();
    for l in &a.lists {
        out.push_str(&format!(
            "access-list {}; {} elements; name hash: {}\n",
            l.name, l.elements, l.name_hash
        ));
        for line in &l.lines {
            out.push_str(&format!(
                "access-list {} line {} {}",
                l.name, line.line, line.text
            ));
            if let Some(n) = line.hitcnt {
                out.push_str(&format!(" (hitcnt={n})"));
            }
            if line.inactive {
                out.push_str(" (inactive)");
            }
            if let Some(h) = &line.hash {
                out.push_str(&format!(" {h}"));
            }
            out.push('\n');
            for c in &line.children {
                out.push_str(&format!(
                    "  access-list {} line {} {} (hitcnt={}) {}\n",
                    l.name, line.line, c.text, c.hitcnt, c.hash
                ));
            }
            if line.children_omitted > 0 {
                out.push_str(&format!(
                    "  access-list {} line {}: {} more elements not listed\n",
                    l.name, line.line, line.children_omitted
                ));
            }
        }
    }
    out
}

// === clear access-list ===

/// The body of `POST /v1/clear-access-list`: one list by name, or every
/// list with `"all": true`. As for `clear conn`, a body that names
/// nothing (empty, `{}`) or holds a key the API does not know is refused:
/// a typo must not clear every count.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclClearRequest {
    /// The list whose counts to zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every list's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
}

impl AclClearRequest {
    /// The request for `name` (`None`: every list).
    pub fn of(name: Option<&str>) -> AclClearRequest {
        AclClearRequest {
            name: name.map(str::to_string),
            all: name.is_none(),
        }
    }

    /// The list a body asks to clear (`None`: all), or why it is refused
    /// (the caller's fault: 400).
    pub fn parse(body: &[u8]) -> Result<Option<String>, String> {
        let r: AclClearRequest = if body.iter().all(u8::is_ascii_whitespace) {
            AclClearRequest::default()
        } else {
            serde_json::from_slice(body)
                .map_err(|e| format!("the body is not an access-list to clear: {e}"))?
        };
        match (r.name, r.all) {
            (Some(n), false) => Ok(Some(n)),
            (None, true) => Ok(None),
            (Some(_), true) => Err("\"all\" clears every access-list: it takes no name".into()),
            (None, false) => Err(
                "the body names no access-list: send {\"name\": NAME}, or {\"all\": true} to \
                 clear every access-list's counts"
                    .into(),
            ),
        }
    }
}

/// `clear access-list [NAME] counters` on one worker: how many lists it
/// cleared, and the policy they are of.
pub fn worker_clear(engine: &mut Engine, name: Option<&str>) -> (usize, Arc<Policy>) {
    (engine.clear_acl_hits(name), engine.policy().clone())
}

/// What the workers' clears did (each: the lists it cleared, and its
/// policy): the lists whose counts are zero now, or why none (no such
/// list).
pub fn cleared(
    parts: Vec<(usize, Arc<Policy>)>,
    name: Option<&str>,
) -> Result<AclClearResult, OpsError> {
    let Some((n, policy)) = parts.into_iter().max_by_key(|(n, _)| *n) else {
        return Ok(AclClearResult {
            cleared: Vec::new(),
        });
    };
    if n == 0
        && let Some(name) = name
    {
        return Err(no_such_list(name));
    }
    Ok(AclClearResult {
        cleared: policy
            .listings()
            .iter()
            .filter(|l| name.is_none_or(|n| l.name == n))
            .map(|l| l.name.clone())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use rampart_dataplane::EngineConfig;
    use rampart_dataplane::conntrack::NodeId;
    use rampart_dataplane::packet::PacketMeta;
    use rampart_dataplane::policy::compile::compile;
    use rampart_dataplane::policy::parse_config;
    use rampart_dataplane::trace::{TcpModel, v4_pair};
    use rampart_dataplane::{IfaceId, Instant};

    use super::*;

    const POLICY: &str = "access-list IN remark web only
access-list IN extended permit tcp any any eq www
access-list IN extended deny ip any any inactive
access-group IN in interface inside
access-list L2 ethertype deny any
";

    fn engine(policy: &Arc<Policy>) -> Engine {
        let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1; 4])).unwrap();
        e.set_policy(policy.clone()).unwrap();
        e
    }

    fn policy(text: &str) -> Arc<Policy> {
        let cfg = parse_config(text).unwrap().config;
        let ifaces = EngineConfig::inside_outside(NodeId(1), [1; 4]).interfaces;
        Arc::new(compile(&cfg, &ifaces).unwrap())
    }

    /// `n` SYNs to port 80 from inside, each a new connection.
    fn open(e: &mut Engine, n: u16) {
        for i in 0..n {
            let (c, s) = v4_pair(30_000 + i, 80);
            let mut m = TcpModel::new(c, s, [1, 2], [1000, 1000], [None, None]);
            let syn = m.syn();
            let mut f = m.frame(&syn);
            e.process(
                &mut f,
                PacketMeta::default(),
                IfaceId(0),
                Instant::from_secs(9),
            );
        }
    }

    #[test]
    fn prints_each_list_as_the_asa_does() {
        let p = policy(POLICY);
        let mut e = engine(&p);
        open(&mut e, 3);
        let shown = merge(vec![worker_hits(&e)]);
        let h = |parts: &[&str]| hash_of(parts);
        assert_eq!(
            render_access_lists(&shown),
            format!(
                "access-list IN; 2 elements; name hash: {}
access-list IN line 1 remark web only
access-list IN line 2 extended permit tcp any any eq www (hitcnt=3) {}
access-list IN line 3 extended deny ip any any inactive (hitcnt=0) (inactive) {}
access-list L2; 1 elements; name hash: {}
access-list L2 line 1 ethertype deny any (hitcnt=0) {}
",
                h(&["IN"]),
                h(&["IN extended permit tcp any any eq www"]),
                h(&["IN extended deny ip any any inactive"]),
                h(&["L2"]),
                h(&["L2 ethertype deny any"]),
            )
        );
        // FNV-1a's own test vectors: the hashes are the same everywhere.
        assert_eq!(hash_of(&[""]), "0x811c9dc5");
        assert_eq!(hash_of(&["a"]), "0xe40c292c");
        assert_eq!(hash_of(&["foo", "bar"]), hash_of(&["foobar"]));
        assert_eq!(render_access_lists(&AccessLists { lists: vec![] }), "");
    }

    /// The workers' counts are summed; a worker on another policy (a swap
    /// between two workers' answers) adds what it counted on the entries
    /// both have.
    #[test]
    fn the_workers_counts_are_summed_entry_by_entry() {
        let p = policy(POLICY);
        let (mut w0, mut w1) = (engine(&p), engine(&p));
        open(&mut w0, 2);
        open(&mut w1, 5);
        // Compiled apart: the same lists, not the same policy.
        let mut w2 = engine(&policy(POLICY));
        open(&mut w2, 1);
        let mut w3 = engine(&policy(
            "access-list IN extended permit udp any any\n\
             access-list IN extended permit tcp any any eq www\n\
             access-group IN in interface inside\n",
        ));
        open(&mut w3, 10);
        let parts = [&w0, &w1, &w2, &w3].map(worker_hits);
        let counts = |a: &AccessLists| {
            a.lists
                .iter()
                .map(|l| l.lines.iter().map(|x| x.hitcnt).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            counts(&merge(parts.to_vec())),
            [vec![None, Some(18), Some(0)], vec![Some(0)]]
        );
        assert_eq!(merge(Vec::new()).lists, []);
    }

    /// Asked for one list, a worker hands over that list's counts alone,
    /// and the answer is the whole view's part for it, on the same or on
    /// another policy.
    #[test]
    fn a_worker_asked_for_one_list_reads_that_list_alone() {
        let text = "access-list OTHER extended permit tcp any any eq www\n\
                    access-group OTHER in interface inside\n\
                    access-list CLASS extended permit tcp any any\n\
                    class-map C\n match access-list CLASS\n\
                    policy-map P\n class C\n  set connection conn-max 100\n\
                    service-policy P global\n";
        let p = policy(text);
        let mut e = engine(&p);
        open(&mut e, 4);
        let all = worker_hits(&e);
        let other = worker_hits_of(&e, Some("OTHER"));
        let class = worker_hits_of(&e, Some("CLASS"));
        assert_eq!(all.hits.len(), 2, "{:?}", all.hits);
        assert_eq!(other.hits.len(), 1);
        assert_eq!(class.hits.len(), 1);
        assert_ne!(other.hits, class.hits);
        assert!(worker_hits_of(&e, Some("NONE")).hits.is_empty());
        let view = |parts, name| only(merge_only(parts, name), name).unwrap();
        for name in ["OTHER", "CLASS"] {
            let mut moved = engine(&policy(text));
            open(&mut moved, 1);
            assert_eq!(
                view(
                    vec![
                        worker_hits_of(&e, Some(name)),
                        worker_hits_of(&moved, Some(name))
                    ],
                    Some(name)
                ),
                view(vec![worker_hits(&e), worker_hits(&moved)], Some(name))
            );
        }
    }

    #[test]
    fn one_list_or_why_not() {
        let shown = merge(vec![worker_hits(&engine(&policy(POLICY)))]);
        let one = only(shown.clone(), Some("L2")).unwrap();
        assert_eq!(one.lists.len(), 1);
        assert_eq!(one.lists[0].kind, "ethertype");
        assert_eq!(only(shown.clone(), None).unwrap(), shown);
        assert_eq!(
            only(shown, Some("NOPE")).unwrap_err(),
            OpsError::NotFound("the policy in force has no access-list named 'NOPE'".into())
        );
    }

    /// A misspelled key, or a body naming nothing, is refused; clearing
    /// every list takes `"all": true`, which the CLI sends without a name.
    #[test]
    fn a_clear_body_must_name_its_list_or_say_all() {
        for bad in [
            &b""[..],
            b"{}",
            br#"{"nmae":"IN"}"#,
            br#"{"all":false}"#,
            br#"{"all":true,"name":"IN"}"#,
        ] {
            AclClearRequest::parse(bad).expect_err(&String::from_utf8_lossy(bad));
        }
        assert_eq!(
            AclClearRequest::parse(br#"{"name":"IN"}"#),
            Ok(Some("IN".into()))
        );
        assert_eq!(AclClearRequest::parse(br#"{"all":true}"#), Ok(None));
        for name in [Some("IN"), None] {
            let body = serde_json::to_vec(&AclClearRequest::of(name)).unwrap();
            assert_eq!(AclClearRequest::parse(&body), Ok(name.map(str::to_string)));
        }
    }

    #[test]
    fn a_clear_names_the_lists_it_zeroed() {
        let p = policy(POLICY);
        let mut e = engine(&p);
        open(&mut e, 2);
        let n = e.clear_acl_hits(Some("IN"));
        assert_eq!(
            cleared(vec![(n, p.clone())], Some("IN")).unwrap().cleared,
            ["IN"]
        );
        assert_eq!(
            merge(vec![worker_hits(&e)]).lists[0].lines[1].hitcnt,
            Some(0)
        );
        assert_eq!(
            cleared(vec![(2, p.clone())], None).unwrap().cleared,
            ["IN", "L2"]
        );
        assert!(matches!(
            cleared(vec![(0, p)], Some("NOPE")),
            Err(OpsError::NotFound(_))
        ));
    }
}
