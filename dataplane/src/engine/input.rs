//! The engine's one input surface, in the manner of quinn-proto's
//! `Connection`: the shell hands the engine inputs — a frame, a peer's
//! sync event, a peer's acknowledgement, a timer — and drains what the
//! engine asks of it with [`Engine::poll_effect`]: frames to send, held
//! frames released, flows changed and deleted for peers.
//!
//! The typed methods ([`Engine::process`], [`Engine::apply_sync`],
//! [`Engine::sync_acked`], [`Engine::expire`]) are the same inputs one by
//! one; [`Engine::handle`] takes any of them, for a shell or a simulator
//! that queues inputs of every kind in one order.

use super::Engine;
use super::sync::Applied;
use crate::flow::FlowKey;
use crate::packet::PacketMeta;
use crate::sync::{Incarnation, SyncEvent, SyncReject};
use crate::time::Instant;
use crate::verdict::{IfaceId, Verdict};

/// One input to the engine.
#[derive(Debug)]
pub enum Input<'a> {
    /// A frame received on a data interface; it may be rewritten in place.
    Frame {
        /// The whole Ethernet frame.
        frame: &'a mut [u8],
        /// What the I/O layer knows of it.
        meta: PacketMeta,
        /// Where it arrived.
        ingress: IfaceId,
    },
    /// A flow's state, or its end, learned from a peer.
    Sync(&'a SyncEvent),
    /// A peer acknowledged the insert of a flow's incarnation.
    Acked {
        /// The flow.
        key: FlowKey,
        /// The incarnation acknowledged.
        inc: Incarnation,
    },
    /// The timer [`Engine::poll_timeout`] asked for is due.
    Timer,
}

/// What the engine made of one input (the rest comes out as effects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// A frame's verdict.
    Verdict(Verdict),
    /// What a peer's event did here, or why it was refused.
    Sync(Result<Applied, SyncReject>),
    /// An acknowledgement was taken.
    Acked,
    /// The timer ran; this many expired entries were removed.
    Expired(usize),
}

impl Engine {
    /// Take one input at `now`.
    pub fn handle(&mut self, input: Input<'_>, now: Instant) -> Handled {
        match input {
            Input::Frame {
                frame,
                meta,
                ingress,
            } => Handled::Verdict(self.process(frame, meta, ingress, now)),
            Input::Sync(event) => Handled::Sync(self.apply_sync(event, now)),
            Input::Acked { key, inc } => {
                self.sync_acked(&key, &inc);
                Handled::Acked
            }
            Input::Timer => Handled::Expired(self.expire(now)),
        }
    }
}
