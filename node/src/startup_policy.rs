//! The policy `rampart run` puts on its workers before the first packet,
//! and, on a node without a cluster, where `configure` saves the policy it
//! applies so that the next start runs it (docs/ops.md §7).
//!
//! The ASA boots on its startup-config, the configuration last saved; the
//! factory default only when nothing was saved. A node without a cluster
//! does the same: the policy `configure` applied last, kept in
//! `<data_dir>/configured-policy.cfg` ([`KeptPolicy::configured_in`]) with
//! its version, is saved before `configure` answers and wins over the node
//! file's `[node] policy` at every start; the policy file (or the
//! built-in security-levels policy) is the bootstrap, run only while
//! nothing was configured. The start says which one runs, and warns when
//! the policy file changed after the kept policy was saved (the operator
//! edited it while the node was down, expecting it to run): a rule that
//! never depends on clocks, with the file times only in the warning.
//!
//! A clustered node starts on its policy file here too; the policy its
//! cluster committed replaces it before the first packet
//! (`policy_raft.rs`).

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context as _;
use rampart_dataplane::InterfaceConfig;
use rampart_dataplane::policy::compile::{Policy, compile_at};
use rampart_dataplane::policy::parse::parse_config;
use rampart_dataplane::policy::render::render;
use rampart_dataplane::policy::time;
use rampart_ops::admin::PolicyStore;
use rampart_ops::echo::echo_message;

use crate::kept_policy::{Kept, KeptPolicy};

/// The policy a node starts on.
#[derive(Debug)]
pub struct StartPolicy {
    /// Its version: 1 for the policy file, the saved one for a policy
    /// `configure` applied (versions go on from it, across restarts).
    pub version: u64,
    /// Its text.
    pub text: String,
    /// Compiled for the node's interfaces.
    pub compiled: Arc<Policy>,
    /// Its `show running-config` text, from the same parse.
    pub rendered: String,
}

/// The policy to start on: without a cluster (`configured` is the node's
/// kept `configure` policy), the one `configure` applied last if one was
/// saved, else the policy file at `policy_file`; `None` with neither (the
/// built-in policy). A saved policy that cannot be trusted or does not
/// compile refuses the start, as a policy file that does not would: the
/// node never falls back silently to an older policy.
pub fn load(
    policy_file: Option<&Path>,
    configured: Option<&KeptPolicy>,
    interfaces: &[InterfaceConfig],
) -> anyhow::Result<Option<StartPolicy>> {
    if let Some(kept) = configured
        && let Some(k) = kept.load()?
    {
        let p = compiled(&k.text, interfaces).map_err(|e| {
            anyhow::anyhow!(
                "{}: the policy `configure` applied last (version {}) is refused:\n{e}\n(to start \
                 on the policy file instead, move this file aside; docs/ops.md section 7)",
                kept.path().display(),
                k.version
            )
        })?;
        say_which_runs(kept, k.version, policy_file);
        return Ok(Some(StartPolicy {
            version: k.version,
            text: k.text,
            compiled: p.compiled,
            rendered: p.rendered,
        }));
    }
    let Some(path) = policy_file else {
        return Ok(None);
    };
    let text = crate::config::read_trusted_policy(path).context("reading the policy")?;
    let Compiled {
        compiled,
        ignored,
        rendered,
    } = compiled(&text, interfaces)
        .map_err(|e| anyhow::anyhow!("{}: policy refused:\n{e}", path.display()))?;
    tracing::info!(
        "policy {} loaded ({ignored} line(s) ignored)",
        path.display()
    );
    Ok(Some(StartPolicy {
        version: 1,
        text,
        compiled,
        rendered,
    }))
}

/// A policy text parsed once, for everything the start needs of it.
struct Compiled {
    compiled: Arc<Policy>,
    /// How many lines it ignored.
    ignored: usize,
    /// Its `show running-config` text.
    rendered: String,
}

/// `text` parsed and compiled for `interfaces`; or why not, escaped (the
/// parser's messages quote the text).
fn compiled(text: &str, interfaces: &[InterfaceConfig]) -> Result<Compiled, String> {
    let parsed = parse_config(text).map_err(|e| echo_message(&e.to_string()))?;
    let config = Arc::new(parsed.config);
    // With the time-ranges active now (docs/asa-behaviour.md §2.10).
    let active = time::active_ranges(&config, crate::time_ranges::now_unix());
    let p = compile_at(&config, interfaces, &active)
        .map_err(|e| echo_message(&rampart_dataplane::policy::locate::describe(text, &e)))?;
    Ok(Compiled {
        rendered: render(&config),
        // Kept for `packet-tracer`, which prints the lines that decide.
        compiled: Arc::new(p.with_source(config)),
        ignored: parsed.ignored.len(),
    })
}

/// Log that the saved policy runs, not the policy file, and warn if the
/// policy file changed after it was saved.
fn say_which_runs(kept: &KeptPolicy, version: u64, policy_file: Option<&Path>) {
    let saved = modified(kept.path());
    let file = policy_file.map_or("the built-in policy".to_string(), |p| {
        format!("the policy file {}", p.display())
    });
    tracing::info!(
        "running the policy `configure` applied at {} (version {version}, {}), not {file}",
        saved.map_or("an unknown time".to_string(), stamp),
        kept.path().display()
    );
    if let (Some(p), Some(saved)) = (policy_file, saved)
        && let Some(edited) = modified(p)
        && edited > saved
    {
        tracing::warn!(
            "{} changed at {}, after the policy `configure` applied was saved, and is NOT in \
             force: apply it with `rampart configure {}`, or stop the node and move {} aside \
             to start on it (docs/ops.md section 7)",
            p.display(),
            stamp(edited),
            p.display(),
            kept.path().display()
        );
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// `t` as an RFC 3339 UTC time.
fn stamp(t: SystemTime) -> String {
    let ns = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    rampart_ops::syslog::rfc5424::timestamp(ns)
}

/// Where a node without a cluster saves each policy `configure` applies,
/// with its version: [`KeptPolicy::save`] (written whole under a fresh
/// name, synced, renamed over the old one, the directory synced), before
/// the policy is installed and answered (`Admin::with_policy_store`).
pub fn store(kept: KeptPolicy) -> PolicyStore {
    Box::new(move |version, text| {
        kept.save(&Kept {
            version,
            cluster: None,
            text: text.to_string(),
        })
        .map_err(|e| format!("writing {}: {e}", kept.path().display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_dataplane::conntrack::NodeId;
    use rampart_dataplane::{Engine, EngineConfig, Instant};
    use rampart_ops::admin::Admin;
    use rampart_ops::backend::{Backend as _, OpsError};
    use rampart_ops::model::NodeStatus;
    use rampart_ops::pool::LocalPool;
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::PathBuf;

    const FILE_POLICY: &str = "access-list OUT_IN extended permit tcp any any eq 22\n\
                               access-group OUT_IN in interface outside\n";
    const DENY: &str = "access-list OUT_IN extended deny tcp any any eq 22\n\
                        access-group OUT_IN in interface outside\n";
    const THIRD: &str = "access-list OUT_IN extended permit tcp any any eq 443\n\
                         access-group OUT_IN in interface outside\n";

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rampart-start-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        d
    }

    fn interfaces() -> Vec<InterfaceConfig> {
        EngineConfig::inside_outside(NodeId(1), [1; 4]).interfaces
    }

    /// What `rampart run` does for a node without a cluster: the start-up
    /// policy on fresh engines, and an admin that saves what `configure`
    /// applies.
    fn start(data: &Path, file: &Path) -> (Admin<LocalPool>, u64) {
        let kept = KeptPolicy::configured_in(data);
        let p = load(Some(file), Some(&kept), &interfaces())
            .unwrap()
            .expect("a policy");
        let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1; 4])).unwrap();
        e.set_policy(p.compiled.clone()).unwrap();
        let pool = LocalPool::new(vec![e], || Instant::from_secs(1));
        let admin = Admin::new(Arc::new(pool), Box::new(NodeStatus::default))
            .with_running_rendered(p.version, p.rendered.clone())
            .with_policy_store(store(kept));
        (admin, p.version)
    }

    fn running(admin: &Admin<LocalPool>) -> (u64, String) {
        let r = admin.running_config().unwrap();
        (r.version, r.text)
    }

    /// A deny applied by `configure` on a node without a cluster is what
    /// the node runs after a restart, not the policy file's permit, and
    /// versions go on from it. Before, it was held in memory only and a
    /// restart silently brought the permit back as version 1.
    #[test]
    fn a_policy_configure_applied_runs_again_after_a_restart() {
        let d = dir("restart");
        let file = d.join("policy.cfg");
        std::fs::write(&file, FILE_POLICY).unwrap();
        let (admin, v) = start(&d, &file);
        assert_eq!(v, 1, "nothing configured yet: the policy file");
        assert_eq!(admin.configure(DENY).unwrap().version, 2);
        let applied = running(&admin);
        assert!(applied.1.contains("deny tcp"), "{}", applied.1);
        drop(admin);

        // The restart: the same start-up code, fresh engines.
        let (admin, v) = start(&d, &file);
        assert_eq!(v, 2);
        assert_eq!(running(&admin), applied);
        assert_eq!(admin.configure(THIRD).unwrap().version, 3, "monotonic");
        let third = running(&admin);
        drop(admin);
        let (admin, v) = start(&d, &file);
        assert_eq!(v, 3);
        assert_eq!(running(&admin), third);

        // The policy file edited while the node is down does not win (the
        // start warns that it is not in force).
        std::fs::write(&file, FILE_POLICY.replace("eq 22", "eq 25")).unwrap();
        let (_, v) = start(&d, &file);
        assert_eq!(v, 3);
        let _ = std::fs::remove_dir_all(&d);
    }

    /// The start-up policy keeps the configuration it was compiled from,
    /// so `packet-tracer` prints the entry that decides from the start,
    /// not only after a `configure`.
    #[test]
    fn the_start_up_policy_names_its_lines_in_packet_tracer() {
        let d = dir("tracer");
        let file = d.join("policy.cfg");
        std::fs::write(&file, FILE_POLICY).unwrap();
        let (admin, _) = start(&d, &file);
        let words: Vec<String> = "input outside tcp 198.18.1.10 1025 198.18.0.10 22"
            .split_whitespace()
            .map(String::from)
            .collect();
        let q = rampart_ops::packet_tracer::parse_words(&words)
            .unwrap()
            .query;
        let t = admin.packet_tracer(&q).unwrap();
        assert_eq!(
            t.phases[1].config,
            [
                "access-group OUT_IN in interface outside",
                "access-list OUT_IN extended permit tcp any any eq ssh"
            ]
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A policy that cannot be saved is not applied: the answer says so,
    /// and the node runs, and restarts on, the policy it ran.
    #[test]
    fn a_configure_that_cannot_be_saved_is_refused_and_changes_nothing() {
        let d = dir("unsaved");
        let file = d.join("policy.cfg");
        std::fs::write(&file, FILE_POLICY).unwrap();
        let (admin, _) = start(&d, &file);
        let before = running(&admin);
        let engine_policy = || admin.pool().with(0, |e, _| e.policy().clone()).unwrap();
        let in_force = engine_policy();
        // A directory at the file's name: the rename over it fails (root
        // passes any mode, so a read-only directory would not).
        let kept = KeptPolicy::configured_in(&d);
        std::fs::create_dir_all(kept.path().join("x")).unwrap();
        match admin.configure(DENY) {
            Err(OpsError::NotSaved(why)) => {
                assert!(why.contains("configured-policy.cfg"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(running(&admin), before);
        assert!(Arc::ptr_eq(&engine_policy(), &in_force), "not installed");
        drop(admin);
        std::fs::remove_dir_all(kept.path()).unwrap();
        let (admin, v) = start(&d, &file);
        assert_eq!((v, running(&admin)), (1, before));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A saved policy this node cannot trust or compile refuses the
    /// start, rather than falling back to the policy file.
    #[test]
    fn a_saved_policy_that_does_not_compile_refuses_the_start() {
        let d = dir("broken");
        let kept = KeptPolicy::configured_in(&d);
        kept.save(&Kept {
            version: 4,
            cluster: None,
            text: "access-group NOPE in interface outside\n".into(),
        })
        .unwrap();
        let e = format!("{:#}", load(None, Some(&kept), &interfaces()).unwrap_err());
        assert!(
            e.contains("version 4") && e.contains("move this file aside"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
