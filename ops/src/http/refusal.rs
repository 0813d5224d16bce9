//! Why an ops listener refused or cut a connection or a request: a closed
//! set, each with its metric label, counted per listener
//! (`rampart_ops_http_refused_total{listener, reason}`, docs/ops.md §2).

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a connection or a request was refused or cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// A new connection (503): its source holds its cap of connections,
    /// all inside a request, and the reserved slots are taken; or a request
    /// without the admin token in a reserved slot taken for that reason.
    SourceLimit,
    /// The same for the listener's cap of connections in all.
    GlobalLimit,
    /// An idle connection (no whole request head yet), closed to make
    /// room for a new one.
    IdleEvicted,
    /// The request head did not arrive within the header-read timeout.
    HeaderTimeout,
    /// The request head was larger than the listener reads.
    HeadTooLarge,
    /// The body did not arrive within the body-read timeout (408).
    BodyTimeout,
    /// The body was larger than the listener reads (413).
    BodyTooLarge,
    /// The connection outlived the per-connection deadline.
    ConnectionDeadline,
    /// The `Host` header named no name this listener answers to (421).
    BadHost,
    /// A request without the token it needs (401).
    Unauthorized,
    /// A `GET` or `HEAD` that announced a body (400).
    BodyNotExpected,
    /// A body that broke off (the sender closed before it was whole) or
    /// whose framing was malformed (400).
    BodyUnreadable,
    /// A request without the admin token, refused because the listener
    /// holds its bound of answers not yet read (503).
    AnswersHeld,
    /// A connection whose answer (to a request without the admin token)
    /// was left unread past the grace, closed to make room for another
    /// answer while such answers filled their bound.
    AnswerEvicted,
    /// A connection to the admin socket from a user other than root or the
    /// node's own, closed at once (docs/ops.md §1).
    PeerUid,
}

impl Refusal {
    /// Every reason, in label order of the docs.
    pub const ALL: [Refusal; 15] = [
        Refusal::SourceLimit,
        Refusal::GlobalLimit,
        Refusal::IdleEvicted,
        Refusal::HeaderTimeout,
        Refusal::HeadTooLarge,
        Refusal::BodyTimeout,
        Refusal::BodyTooLarge,
        Refusal::ConnectionDeadline,
        Refusal::BadHost,
        Refusal::Unauthorized,
        Refusal::BodyNotExpected,
        Refusal::BodyUnreadable,
        Refusal::AnswersHeld,
        Refusal::AnswerEvicted,
        Refusal::PeerUid,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::SourceLimit => "source_limit",
            Refusal::GlobalLimit => "global_limit",
            Refusal::IdleEvicted => "idle_evicted",
            Refusal::HeaderTimeout => "header_timeout",
            Refusal::HeadTooLarge => "head_too_large",
            Refusal::BodyTimeout => "body_timeout",
            Refusal::BodyTooLarge => "body_too_large",
            Refusal::ConnectionDeadline => "connection_deadline",
            Refusal::BadHost => "bad_host",
            Refusal::Unauthorized => "unauthorized",
            Refusal::BodyNotExpected => "body_not_expected",
            Refusal::BodyUnreadable => "body_unreadable",
            Refusal::AnswersHeld => "answers_held",
            Refusal::AnswerEvicted => "answer_evicted",
            Refusal::PeerUid => "peer_uid",
        }
    }

    fn index(self) -> usize {
        match self {
            Refusal::SourceLimit => 0,
            Refusal::GlobalLimit => 1,
            Refusal::IdleEvicted => 2,
            Refusal::HeaderTimeout => 3,
            Refusal::HeadTooLarge => 4,
            Refusal::BodyTimeout => 5,
            Refusal::BodyTooLarge => 6,
            Refusal::ConnectionDeadline => 7,
            Refusal::BadHost => 8,
            Refusal::Unauthorized => 9,
            Refusal::BodyNotExpected => 10,
            Refusal::BodyUnreadable => 11,
            Refusal::AnswersHeld => 12,
            Refusal::AnswerEvicted => 13,
            Refusal::PeerUid => 14,
        }
    }
}

/// Which ops listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Listener {
    /// `/metrics`, `/healthz`, `/readyz`.
    Metrics,
    /// The admin API on its loopback address.
    Admin,
    /// The admin API on its Unix socket (docs/ops.md §1).
    AdminSocket,
}

impl Listener {
    /// Every listener.
    pub const ALL: [Listener; 3] = [Listener::Metrics, Listener::Admin, Listener::AdminSocket];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Listener::Metrics => "metrics",
            Listener::Admin => "admin",
            Listener::AdminSocket => "admin_socket",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Listener::Metrics => 0,
            Listener::Admin => 1,
            Listener::AdminSocket => 2,
        }
    }
}

/// Refusals per listener and reason (saturating).
#[derive(Debug, Default)]
pub struct RefusalCounters {
    counts: [[AtomicU64; Refusal::ALL.len()]; Listener::ALL.len()],
}

impl RefusalCounters {
    /// Count one refusal.
    pub fn bump(&self, listener: Listener, reason: Refusal) {
        let c = &self.counts[listener.index()][reason.index()];
        let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            Some(n.saturating_add(1))
        });
    }

    /// The count so far.
    pub fn get(&self, listener: Listener, reason: Refusal) -> u64 {
        self.counts[listener.index()][reason.index()].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_indices_are_distinct() {
        let mut labels: Vec<_> = Refusal::ALL.iter().map(|r| r.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Refusal::ALL.len());
        for (i, r) in Refusal::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        for (i, l) in Listener::ALL.iter().enumerate() {
            assert_eq!(l.index(), i);
        }
    }

    #[test]
    fn counts_are_per_listener_and_saturate() {
        let c = RefusalCounters::default();
        c.bump(Listener::Admin, Refusal::BadHost);
        assert_eq!(c.get(Listener::Admin, Refusal::BadHost), 1);
        assert_eq!(c.get(Listener::Metrics, Refusal::BadHost), 0);
        c.counts[0][0].store(u64::MAX, Ordering::Relaxed);
        c.bump(Listener::Metrics, Refusal::SourceLimit);
        assert_eq!(c.get(Listener::Metrics, Refusal::SourceLimit), u64::MAX);
    }
}
