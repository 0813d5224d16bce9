//! An echo flow opened twice (docs/sync.md §3, rule 5).

use super::{Applied, Engine, FlowId, FlowState, Instant, ProtoState, SyncProto, bump};

impl Engine {
    /// A peer's change to an older incarnation of a flow this node holds
    /// newer. For an echo flow whose numbering the two share (their
    /// windows overlap), the older one is the same ping created twice: a
    /// node without the flow opened its own on a request (a route flip),
    /// and the node that still holds the first one goes on recording
    /// requests in it. Those requests are joined into this incarnation
    /// (their replies may come this way), and the peer learns this
    /// incarnation, which supersedes its own there. Anything else older
    /// is stale (docs/sync.md §3).
    pub(super) fn absorb_older_echo(
        &mut self,
        id: FlowId,
        state: &FlowState,
        from: Option<u16>,
        now: Instant,
    ) -> Applied {
        let (Some(peer), SyncProto::IcmpEcho(theirs), ProtoState::IcmpEcho(ours)) =
            (from, state.proto, self.table.get(id).proto)
        else {
            return Applied::Stale;
        };
        if !ours.overlaps(&theirs) {
            return Applied::Stale;
        }
        let mut joined = ours;
        joined.join(&theirs);
        if let ProtoState::IcmpEcho(seqs) = &mut self.table.get_mut(id).proto {
            *seqs = joined;
        }
        let sync = self.sync_mut();
        sync.mark(id).peers.insert(peer);
        bump(&mut sync.counters.echo_absorbed);
        self.sync_touch(id, true, now);
        if joined == ours {
            Applied::Stale
        } else {
            Applied::Joined
        }
    }
}
