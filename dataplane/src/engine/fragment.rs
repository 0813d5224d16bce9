//! Virtual reassembly of IP fragments, as the ASA does it by default
//! (docs/asa-behaviour.md §2.8): a datagram's fragments are kept until all
//! have arrived, the datagram they make is judged as one packet (rules,
//! connection, checks), and the fragments leave as they came, or are
//! dropped together.

use crate::flow::FlowKey;
use crate::time::Instant;

use super::Engine;

/// Which worker of a node's engines owns a flow, for a datagram whose
/// fragments reached another one: the kernel spreads fragments by their
/// addresses alone (only the first carries ports), whole packets by their
/// ports too (docs/io.md §2).
#[derive(Debug, Clone, Copy)]
pub struct WorkerShare {
    /// This engine's worker.
    pub index: usize,
    /// The node's workers.
    pub count: usize,
    /// The worker (of `count`) whose engine holds `key`'s flow.
    pub worker_of: fn(&FlowKey, usize) -> usize,
}

/// A datagram whose fragments all arrived on one worker, handed to the
/// worker that owns its flow ([`Effect::HandOff`](super::Effect::HandOff)),
/// which judges it with [`Engine::take_handoff`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    _private: (),
}

/// Per interface, what `show fragment` counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FragmentStats {
    /// Datagrams in reassembly now.
    pub queued: u64,
    /// Datagrams whose fragments all arrived and were judged.
    pub assembled: u64,
    /// Datagrams whose fragments were dropped (overlap, too many, too
    /// long, timed out, a tiny first fragment).
    pub failed: u64,
    /// Fragments dropped because the interface's database was full.
    pub overflow: u64,
}

impl Engine {
    /// Judge a datagram another worker reassembled: its fragments leave
    /// as [`Effect::Release`](super::Effect::Release) effects, or are dropped
    /// and counted.
    pub fn take_handoff(&mut self, chain: Box<Reassembled>, now: Instant) {
        let _ = (chain, now);
    }

    /// `show fragment`'s counters, per interface.
    pub fn fragment_stats(&self) -> Vec<FragmentStats> {
        vec![FragmentStats::default(); self.config.interfaces.len()]
    }
}
