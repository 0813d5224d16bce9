//! The link of one data interface as a bridge sees it: up, down or gone,
//! driven by the errors its sockets report and by a look at the interface
//! every table sweep. docs/io.md §8 gives the behaviour and its reasons.
//!
//! The kernel tells an AF_PACKET socket that its interface went down
//! (`NETDEV_DOWN`) or was deleted (`NETDEV_UNREGISTER`) by setting the
//! socket's error to `ENETDOWN`: the next receive fails with it once, and
//! poll(2) reports `POLLERR` for as long as it is set (packet(7), socket(7)
//! `SO_ERROR`). A socket bound to an interface that is down at bind time
//! gets the same. Sends to a down interface fail with `ENETDOWN`; to a
//! deleted one, whose index the socket no longer holds, with `ENXIO`.
//! None of these is a fault of the node: like an ASA with an interface
//! down, the node keeps running, counts the event, logs each change once,
//! and forwards again when the link is back.

use rampart_dataplane::counters::LinkCounts;

/// What an errno from a packet socket means for the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrnoClass {
    /// `ENETDOWN`: the interface is (or was, since the last look) down.
    Down,
    /// `ENXIO`, `ENODEV`: the interface the socket was bound to is gone.
    Gone,
    /// `EAGAIN`, `ENOBUFS`, `ENOMEM`, `EINTR`: no room now; try later.
    Busy,
    /// `EMSGSIZE`: this frame is too large for the egress (send only).
    TooBig,
    /// Anything else: on a send, this frame was refused; on a receive, a
    /// fault of the node (a bad descriptor or buffer) that stops the
    /// worker.
    Other,
}

/// The class of `errno`.
pub fn classify(errno: i32) -> ErrnoClass {
    match errno {
        libc::ENETDOWN => ErrnoClass::Down,
        libc::ENXIO | libc::ENODEV => ErrnoClass::Gone,
        libc::EAGAIN | libc::ENOBUFS | libc::ENOMEM | libc::EINTR => ErrnoClass::Busy,
        libc::EMSGSIZE => ErrnoClass::TooBig,
        _ => ErrnoClass::Other,
    }
}

/// Whether `errno` from a receive is an event of the link (or a passing
/// shortage), after which the worker carries on, rather than a fault that
/// stops it.
pub fn recv_error_is_event(errno: i32) -> bool {
    matches!(
        classify(errno),
        ErrnoClass::Down | ErrnoClass::Gone | ErrnoClass::Busy
    )
}

/// Where a link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Frames come and go.
    Up,
    /// Administratively down, or no carrier.
    Down,
    /// Deleted: the socket is bound to an index that no longer exists.
    /// Nothing brings it back but a restart (docs/io.md §8).
    Gone,
}

/// What a look at the interface found (`if_nametoindex` of its name and
/// its flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// The index its name has now (`None`: no interface of that name).
    pub index: Option<u32>,
    /// `IFF_UP` and `IFF_RUNNING` (administratively up, with carrier).
    pub running: bool,
}

/// A change of a link's state, to log once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkChange {
    /// It went down (with the errno that said so, if one did).
    Down(Option<i32>),
    /// It came back.
    Up,
    /// It was deleted.
    Gone,
    /// After it was deleted, an interface of the same name appeared
    /// (index given): the node must be restarted to bind it.
    Recreated(u32),
}

/// One data interface's link, as one bridge sees it.
#[derive(Debug, Clone)]
pub struct Link {
    ifindex: u32,
    state: LinkState,
    /// The index a re-created interface of the same name was reported
    /// with (logged once per index).
    recreated: Option<u32>,
    counts: LinkCounts,
}

impl Link {
    /// A link bound to `ifindex`, taken as up (the first look corrects it).
    pub fn new(ifindex: u32) -> Self {
        Link {
            ifindex,
            state: LinkState::Up,
            recreated: None,
            counts: LinkCounts::default(),
        }
    }

    /// Where it is.
    pub fn state(&self) -> LinkState {
        self.state
    }

    /// What it counted.
    pub fn counts(&self) -> LinkCounts {
        LinkCounts {
            is_down: self.state != LinkState::Up,
            ..self.counts
        }
    }

    /// A socket of this interface reported `errno`. Only `Down` and
    /// `Gone` classes move the state; the rest are the frame's business.
    pub fn on_errno(&mut self, errno: i32) -> Option<LinkChange> {
        match (self.state, classify(errno)) {
            // The interface went down, or was down at bind: count it once.
            (LinkState::Up, ErrnoClass::Down) => {
                self.go(LinkState::Down, LinkChange::Down(Some(errno)))
            }
            // Already down (the receive side and the send side both tell).
            (LinkState::Down | LinkState::Gone, ErrnoClass::Down) => None,
            // The socket's index is gone: only a deletion does that.
            (LinkState::Up | LinkState::Down, ErrnoClass::Gone) => {
                self.go(LinkState::Gone, LinkChange::Gone)
            }
            (LinkState::Gone, ErrnoClass::Gone) => None,
            // A shortage, or one frame's fault: not the link's.
            (_, ErrnoClass::Busy | ErrnoClass::TooBig | ErrnoClass::Other) => None,
        }
    }

    /// Frames were received: the link is up.
    pub fn on_traffic(&mut self) -> Option<LinkChange> {
        match self.state {
            LinkState::Down => self.go(LinkState::Up, LinkChange::Up),
            // A deleted interface delivers nothing to this socket; frames
            // already in a ring are no sign of life.
            LinkState::Up | LinkState::Gone => None,
        }
    }

    /// The look of a table sweep.
    pub fn on_probe(&mut self, p: Probe) -> Option<LinkChange> {
        let same = p.index == Some(self.ifindex);
        match (self.state, same, p.running) {
            // The name is gone, or names another interface now.
            (LinkState::Up | LinkState::Down, false, _) => {
                self.go(LinkState::Gone, LinkChange::Gone)
            }
            (LinkState::Gone, false, _) => match p.index {
                Some(i) if self.recreated != Some(i) => {
                    self.recreated = Some(i);
                    Some(LinkChange::Recreated(i))
                }
                _ => None,
            },
            // An index is never reused while the socket holds it; a Gone
            // link whose name names its index again cannot happen: stay.
            (LinkState::Gone, true, _) => None,
            (LinkState::Up, true, true) | (LinkState::Down, true, false) => None,
            // Carrier lost or set down without an error reaching us.
            (LinkState::Up, true, false) => self.go(LinkState::Down, LinkChange::Down(None)),
            (LinkState::Down, true, true) => self.go(LinkState::Up, LinkChange::Up),
        }
    }

    fn go(&mut self, to: LinkState, change: LinkChange) -> Option<LinkChange> {
        let c = match to {
            LinkState::Up => &mut self.counts.up,
            LinkState::Down => &mut self.counts.down,
            LinkState::Gone => &mut self.counts.gone,
        };
        *c = c.saturating_add(1);
        self.state = to;
        Some(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: Probe = Probe {
        index: Some(7),
        running: true,
    };
    const NOT_RUNNING: Probe = Probe {
        index: Some(7),
        running: false,
    };

    // === classify ===

    #[test]
    fn link_errors_are_events_and_bad_descriptors_are_not() {
        for e in [
            libc::ENETDOWN,
            libc::ENXIO,
            libc::ENODEV,
            libc::EAGAIN,
            libc::ENOBUFS,
        ] {
            assert!(recv_error_is_event(e), "{e}");
        }
        for e in [libc::EBADF, libc::EFAULT, libc::ENOTSOCK, libc::EINVAL] {
            assert!(!recv_error_is_event(e), "{e}");
        }
        assert_eq!(classify(libc::EMSGSIZE), ErrnoClass::TooBig);
    }

    // === Up ===

    #[test]
    fn up_an_enetdown_takes_it_down_once() {
        let mut l = Link::new(7);
        assert_eq!(
            l.on_errno(libc::ENETDOWN),
            Some(LinkChange::Down(Some(libc::ENETDOWN)))
        );
        assert_eq!(l.on_errno(libc::ENETDOWN), None, "logged once");
        assert_eq!(l.on_probe(NOT_RUNNING), None);
        assert_eq!(l.counts().down, 1);
        assert!(l.counts().is_down);
    }

    #[test]
    fn up_a_shortage_or_a_refused_frame_is_not_the_links() {
        let mut l = Link::new(7);
        for e in [libc::ENOBUFS, libc::EMSGSIZE, libc::EINVAL] {
            assert_eq!(l.on_errno(e), None);
        }
        assert_eq!(l.state(), LinkState::Up);
    }

    #[test]
    fn up_a_look_that_finds_no_carrier_takes_it_down() {
        let mut l = Link::new(7);
        assert_eq!(l.on_probe(RUNNING), None);
        assert_eq!(l.on_probe(NOT_RUNNING), Some(LinkChange::Down(None)));
        assert_eq!(l.on_errno(libc::ENETDOWN), None, "the error after the look");
    }

    // === Down ===

    #[test]
    fn down_traffic_or_a_running_look_brings_it_up() {
        let mut l = Link::new(7);
        l.on_errno(libc::ENETDOWN);
        assert_eq!(l.on_traffic(), Some(LinkChange::Up));
        assert_eq!(l.on_traffic(), None);
        l.on_errno(libc::ENETDOWN);
        assert_eq!(l.on_probe(RUNNING), Some(LinkChange::Up));
        let c = l.counts();
        assert_eq!((c.down, c.up, c.gone, c.is_down), (2, 2, 0, false));
    }

    // === Gone ===

    #[test]
    fn gone_after_enxio_or_a_name_that_vanished_and_stays_gone() {
        let mut l = Link::new(7);
        l.on_errno(libc::ENETDOWN);
        assert_eq!(l.on_errno(libc::ENXIO), Some(LinkChange::Gone));
        assert_eq!(l.on_traffic(), None);
        assert_eq!(l.on_errno(libc::ENETDOWN), None);
        assert_eq!(
            l.on_probe(Probe {
                index: None,
                running: false
            }),
            None
        );
        // The name comes back on another index: said once.
        let again = Probe {
            index: Some(9),
            running: true,
        };
        assert_eq!(l.on_probe(again), Some(LinkChange::Recreated(9)));
        assert_eq!(l.on_probe(again), None);
        assert_eq!(l.state(), LinkState::Gone);
        let mut l = Link::new(7);
        assert_eq!(
            l.on_probe(Probe {
                index: None,
                running: false
            }),
            Some(LinkChange::Gone)
        );
        assert_eq!(l.counts().gone, 1);
        assert!(l.counts().is_down);
    }
}
