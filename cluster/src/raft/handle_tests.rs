//! Unit tests of `handle.rs`'s answers to openraft's errors.

use openraft::error::{Fatal, RaftError};

use super::*;

/// openraft reports a state machine that fails to apply a committed entry
/// (a full disk) as a fatal error of the write that proposed it: the write
/// is pending, with the leader's word, not "failed" (a review saw
/// `configure` say "not applied" of a version the follower ran).
#[test]
fn a_fatal_error_after_proposing_leaves_the_write_pending() {
    let fatal = RaftError::Fatal(Fatal::Stopped);
    let reply = proposed_write_reply(&fatal);
    assert!(
        matches!(reply, ForwardReply::StoppedAfterProposing { .. }),
        "{reply:?}"
    );
    let ForwardReply::StoppedAfterProposing { message } = reply else {
        unreachable!()
    };
    let e = WriteError::LeaderStopped { leader: 1, message };
    assert!(e.is_pending(), "{e}");
    let text = e.to_string();
    assert!(text.contains("Raft stopped on leader 1"), "{text}");
    assert!(text.contains("may still take effect"), "{text}");
    assert!(text.contains("rampart show cluster"), "{text}");
    // Before a proposal, a fatal error is still the leader's failure.
    assert!(matches!(
        write_error_reply(&fatal),
        ForwardReply::Failed { .. }
    ));
}

/// The same for a membership change: once openraft was given it, a fatal
/// error leaves it pending ("may still take effect"), not "Raft stopped"
/// as if nothing had been proposed.
#[test]
fn a_fatal_error_after_proposing_leaves_a_membership_change_pending() {
    let fatal = RaftError::Fatal(Fatal::Stopped);
    let e = membership_error(proposed_write_reply(&fatal));
    assert!(matches!(e, MembershipError::LeaderStopped { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("may still take effect"), "{text}");
    assert!(text.contains("rampart show cluster"), "{text}");
    // Refused before it was proposed: still Raft stopped.
    assert!(matches!(
        membership_error(write_error_reply(&fatal)),
        MembershipError::Stopped { .. }
    ));
}

/// A leader that never proposed the change (its lock held by another
/// change the whole time) answers "no quorum, not pending": nothing was
/// proposed, and it is not flagged as one that may still take effect (a
/// review saw every such refusal flagged pending).
#[test]
fn a_membership_change_never_proposed_is_not_pending() {
    let e = membership_error(ForwardReply::NoQuorum {
        waited_ms: 10,
        pending: false,
    });
    assert!(!e.is_pending(), "{e}");
    assert!(e.to_string().contains("nothing was proposed"), "{e}");
    let e = membership_error(ForwardReply::NoQuorum {
        waited_ms: 10,
        pending: true,
    });
    assert!(e.is_pending(), "{e}");
    assert!(e.to_string().contains("may still take effect"), "{e}");
}
