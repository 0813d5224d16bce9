//! What `engine_process` runs an input against, chosen by the control byte
//! of the input's first record (bits 4-7; see the crate docs): one of four
//! policies, frames one by one or in batches, the fast path on or off.
//!
//! Choice 0 is the engine every input ran against before the choice
//! existed (security levels and `inspect icmp`), so an input whose first
//! control byte has bits 4-7 clear means what it always meant. Choices 1-3
//! are ASA policies written as an operator would, parsed and compiled as
//! `rampart` loads them, so the fuzzer reaches what the levels alone never
//! do: access-list denies and the classifier, `tcp-state-bypass` (with and
//! without the engine's RST teardown), class and per-client connection
//! limits, `set connection timeout idle … reset` and `… dcd` (the RSTs
//! and the dead connection detection probes of
//! `dataplane/src/engine/reset.rs`) and `random-sequence-number disable`
//! (docs/asa-behaviour.md §1, §2.2, §2.3, §6.2).

use std::sync::{Arc, OnceLock};

use rampart_dataplane::policy::compile::{self, Policy};
use rampart_dataplane::{Engine, EngineConfig};

/// Control bits 4-5 of the first record: the policy.
const POLICY_SHIFT: u32 = 4;
/// Control bit 6 of the first record: frames go through
/// `Engine::process_batch`.
const BATCH_BIT: u8 = 0x40;
/// Control bit 7 of the first record: the fast path for established TCP
/// is off, so every segment takes the general path.
const SLOW_PATH_BIT: u8 = 0x80;

/// Access lists by port both ways, a bypass class chosen by access list,
/// a class of small limits that resets on a short idle timeout, and ICMP
/// inspection. Ports: 23, 6000-6063 (TCP) and 135-139 (UDP) are denied
/// outbound; inbound, only TCP 8080 and 9000-9099, DNS answers' port 53
/// and ICMP pass. TCP 9000-9099 either way is bypass; TCP 80 is limited
/// to 8 connections, 4 embryonic, 4 per client and 2 embryonic per client,
/// idling out after 10 s (reached by the fuzzer's clock steps) with a RST
/// to each end.
pub const ACL_CLASSES: &str = "\
access-list INSIDE_IN remark denied ports, then everything else
access-list INSIDE_IN extended deny tcp any any eq telnet
access-list INSIDE_IN extended deny tcp any any range 6000 6063
access-list INSIDE_IN extended deny udp any any range 135 139
access-list INSIDE_IN extended permit ip any any
access-group INSIDE_IN in interface inside
access-list OUTSIDE_IN extended permit tcp any any eq 8080
access-list OUTSIDE_IN extended permit tcp any any range 9000 9099
access-list OUTSIDE_IN extended permit udp any any eq domain
access-list OUTSIDE_IN extended permit icmp any any
access-list OUTSIDE_IN extended permit icmp6 any any
access-list OUTSIDE_IN extended deny ip any any
access-group OUTSIDE_IN in interface outside
access-list BYPASS extended permit tcp any any range 9000 9099
access-list BYPASS extended permit tcp any range 9000 9099 any
class-map BYPASS
 match access-list BYPASS
class-map LIMITED
 match port tcp eq www
class-map PROBED
 match port tcp eq https
class-map inspection_default
 match default-inspection-traffic
policy-map global_policy
 class BYPASS
  set connection advanced-options tcp-state-bypass
 class LIMITED
  set connection conn-max 8 embryonic-conn-max 4 per-client-max 4 per-client-embryonic-max 2
  set connection timeout idle 0:00:10 reset
 class PROBED
  set connection timeout idle 0:00:10 reset dcd 0:00:01 2
 class inspection_default
  inspect icmp
  inspect icmp error
service-policy global_policy global
";

/// No access-group (the security levels decide), sequence randomization
/// off and the idle reset on for every TCP connection but the bypass
/// ones, short embryonic and half-closed timeouts, embryonic limits, and
/// DNS limited per client. TCP 9000-9099 is bypass with a 10 s idle
/// timeout. Every other TCP connection takes a tcp-map that sets every
/// setting away from its default (docs/asa-behaviour.md §6.1): option
/// kinds allowed, dropped and cleared by ranges, SACK, timestamps and
/// window scale cleared (the tracker must see what the receiver gets),
/// reserved bits cleared, the urgent pointer kept, SYNs with data and
/// segments past the MSS dropped, SYN-ACKs with data passed, and no TTL
/// floor.
pub const NO_RANDOMIZATION: &str = "\
tcp-map FUZZ
 tcp-options range 6 7 allow
 tcp-options range 9 19 allow
 tcp-options range 20 40 drop
 tcp-options selective-ack clear
 tcp-options timestamp clear
 tcp-options window-scale clear
 reserved-bits clear
 urgent-flag allow
 syn-data drop
 synack-data allow
 exceed-mss drop
 no ttl-evasion-protection
class-map BYPASS
 match port tcp range 9000 9099
class-map DNS
 match port udp eq domain
class-map ALL
 match any
class-map inspection_default
 match default-inspection-traffic
policy-map global_policy
 class BYPASS
  set connection advanced-options tcp-state-bypass
  set connection timeout idle 0:00:10
 class DNS
  set connection conn-max 4 per-client-max 2
 class ALL
  set connection random-sequence-number disable
  set connection timeout idle 0:00:10 reset embryonic 0:00:05 half-closed 0:00:30
  set connection embryonic-conn-max 4 per-client-embryonic-max 2
  set connection advanced-options FUZZ
 class inspection_default
  inspect icmp
  inspect icmp error
service-policy global_policy global
";

/// The policy an input runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolicyChoice {
    /// 0: security levels only, with `inspect icmp` and `inspect icmp
    /// error` (what every input ran against before the choice existed).
    #[default]
    Levels,
    /// 1: [`ACL_CLASSES`].
    AclClasses,
    /// 2: [`NO_RANDOMIZATION`].
    NoRandomization,
    /// 3: [`ACL_CLASSES`] with the engine's `bypass_rst_teardown` on: a
    /// RST removes a bypass entry (docs/asa-behaviour.md §1.3).
    AclClassesTeardown,
}

impl PolicyChoice {
    /// Every choice, in control-bit order.
    pub const ALL: [PolicyChoice; 4] = [
        PolicyChoice::Levels,
        PolicyChoice::AclClasses,
        PolicyChoice::NoRandomization,
        PolicyChoice::AclClassesTeardown,
    ];

    /// The ASA text of the policy, `None` for the levels-only one (built
    /// in code, as before).
    pub fn text(self) -> Option<&'static str> {
        match self {
            PolicyChoice::Levels => None,
            PolicyChoice::AclClasses | PolicyChoice::AclClassesTeardown => Some(ACL_CLASSES),
            PolicyChoice::NoRandomization => Some(NO_RANDOMIZATION),
        }
    }

    fn index(self) -> u8 {
        match self {
            PolicyChoice::Levels => 0,
            PolicyChoice::AclClasses => 1,
            PolicyChoice::NoRandomization => 2,
            PolicyChoice::AclClassesTeardown => 3,
        }
    }
}

/// Everything the first control byte chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Setup {
    /// The policy.
    pub policy: PolicyChoice,
    /// Frames go to `Engine::process_batch` in batches (see
    /// [`crate::MAX_BATCH_FRAMES`]) instead of one by one to
    /// `Engine::process`.
    pub batch: bool,
    /// The fast path for established TCP is off.
    pub slow_path: bool,
}

impl Setup {
    /// The setup the first record's control byte selects (bits 4-7; the
    /// other bits are that frame's own, as in every record).
    pub fn from_control(control: u8) -> Self {
        Setup {
            policy: PolicyChoice::ALL[usize::from((control >> POLICY_SHIFT) & 3)],
            batch: control & BATCH_BIT != 0,
            slow_path: control & SLOW_PATH_BIT != 0,
        }
    }

    /// The setup of an input: its first byte's, the default for an empty
    /// input.
    pub fn of_input(data: &[u8]) -> Self {
        data.first()
            .map_or_else(Setup::default, |&c| Setup::from_control(c))
    }

    /// The bits to set in the first record's control byte.
    pub fn control_bits(self) -> u8 {
        (self.policy.index() << POLICY_SHIFT)
            | if self.batch { BATCH_BIT } else { 0 }
            | if self.slow_path { SLOW_PATH_BIT } else { 0 }
    }

    /// A fresh engine in this setup.
    pub fn engine(self) -> Engine {
        let mut cfg =
            EngineConfig::inside_outside(rampart_dataplane::conntrack::NodeId(1), [1, 2, 3, 4]);
        cfg.max_conns = crate::MAX_CONNS;
        cfg.bypass_rst_teardown = self.policy == PolicyChoice::AclClassesTeardown;
        let mut engine = Engine::new(cfg).expect("the inside/outside pair is a valid config");
        engine
            .set_policy(policy(self.policy))
            .expect("the policy's classes fit");
        engine.set_fast_path(!self.slow_path);
        engine
    }
}

/// The compiled policy of `choice`, compiled once per process: parsing
/// and compiling on every input would slow the fuzzer for nothing.
pub fn policy(choice: PolicyChoice) -> Arc<Policy> {
    static POLICIES: OnceLock<[Arc<Policy>; 3]> = OnceLock::new();
    let [levels, acl, no_random] = POLICIES.get_or_init(|| {
        [
            Arc::new(compile_levels()),
            Arc::new(compile_text(ACL_CLASSES)),
            Arc::new(compile_text(NO_RANDOMIZATION)),
        ]
    });
    Arc::clone(match choice {
        PolicyChoice::Levels => levels,
        PolicyChoice::AclClasses | PolicyChoice::AclClassesTeardown => acl,
        PolicyChoice::NoRandomization => no_random,
    })
}

/// The interfaces every setup's engine has: the inside/outside pair.
fn interfaces() -> Vec<rampart_dataplane::iface::InterfaceConfig> {
    rampart_dataplane::iface::InterfaceConfig::inside_outside()
}

/// Security levels with `inspect icmp` and `inspect icmp error` (see
/// [`crate::inspect_icmp`]).
fn compile_levels() -> Policy {
    let mut cfg = rampart_dataplane::policy::ast::Config::default();
    compile::inspect_icmp(&mut cfg);
    compile::compile(&cfg, &interfaces()).expect("an ICMP inspection policy compiles")
}

/// `text` parsed and compiled as `rampart` loads a policy.
pub fn compile_text(text: &str) -> Policy {
    let parsed = rampart_dataplane::policy::parse::parse_config(text)
        .unwrap_or_else(|e| panic!("a fuzz policy parses: {e:?}"));
    compile::compile(&parsed.config, &interfaces())
        .unwrap_or_else(|e| panic!("a fuzz policy compiles: {e:?}"))
}
