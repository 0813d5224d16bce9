//! What the engine decides for a frame, and the closed set of reasons to drop one.

/// A data interface of the node, by index into the engine's interface list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfaceId(pub u8);

/// The engine's decision for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the frame (possibly rewritten in place) out of `egress`.
    Forward { egress: IfaceId },
    /// Discard the frame; the reason has already been counted.
    Drop(DropReason),
    /// The engine kept a copy of the frame: it waits for state from a peer
    /// (hold) or for a peer to acknowledge the flow it opened (defer). The
    /// shell sends nothing now; the frame comes back as an
    /// [`Effect::Transmit`](crate::engine::Effect::Transmit) or is dropped
    /// and counted at its deadline.
    Hold,
}

macro_rules! drop_reasons {
    ($( $(#[$doc:meta])* $variant:ident => $label:literal, $text:literal, )+) => {
        /// Why a frame was dropped. Closed set: each reason maps to exactly one
        /// counter and metric label through [`DropReason::label`], so a new reason
        /// cannot ship uncounted.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum DropReason {
            $( $(#[$doc])* $variant, )+
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant),+];
            /// Number of reasons (the length of the drop counter array).
            pub const COUNT: usize = Self::ALL.len();

            /// The metric label, in the ASA's accelerated-security-path drop
            /// naming where the ASA has a name for the reason.
            pub const fn label(self) -> &'static str {
                match self {
                    $( DropReason::$variant => $label, )+
                }
            }

            /// A short description, as `show asp drop` prints beside the label.
            pub const fn description(self) -> &'static str {
                match self {
                    $( DropReason::$variant => $text, )+
                }
            }

            /// Index into the drop counter array.
            pub const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

drop_reasons! {
    /// The frame ended inside the Ethernet or VLAN header.
    L2Truncated => "l2-truncated", "Truncated Ethernet or VLAN header",
    /// More than one VLAN tag (802.1ad Q-in-Q, stacked 802.1Q): the
    /// connection key holds one VLAN id, and the inner one would be ignored.
    VlanStacked => "l2-stacked-vlan", "Stacked VLAN tags",
    /// An EtherType that a transparent firewall does not pass (not IPv4, IPv6 or ARP).
    UnsupportedEthertype => "l2-unsupported-ethertype", "Unsupported EtherType",
    /// The IPv4 header is short, has a bad version or IHL, or a total length the frame does not hold.
    Ipv4Malformed => "ipv4-malformed", "Invalid IPv4 header",
    /// The IPv4 header checksum does not match.
    Ipv4ChecksumBad => "ipv4-bad-checksum", "Bad IPv4 header checksum",
    /// The IPv6 header is short or its payload length exceeds the frame.
    Ipv6Malformed => "ipv6-malformed", "Invalid IPv6 header",
    /// An IPv6 extension header is truncated or malformed.
    Ipv6ExtensionMalformed => "ipv6-bad-extension-header", "Invalid IPv6 extension header",
    /// IPv4 options other than router alert (and end-of-list and no-operation
    /// padding), or an option list whose lengths do not add up: the ASA's
    /// default IP options inspection drops them (source routes among them).
    IpOptions => "invalid-ip-option", "IP option drop",
    /// An IPv6 routing header with segments left: the packet goes on to an
    /// address the rules do not see.
    Ipv6RoutingHeader => "ipv6-routing-header", "IPv6 routing header with segments left",
    /// An IP fragment on an interface whose `fragment chain` is 1: it
    /// takes no fragmented datagram (docs/asa-behaviour.md §2.8).
    Fragment => "ip-fragment", "IP fragment refused (fragment chain 1)",
    /// A fragment with no data, one other than the last whose data is not
    /// a multiple of 8 bytes, fragments of differing ends, or a datagram
    /// they make longer than 65,535 bytes (RFC 791 §3.2, RFC 8200 §4.5).
    FragmentMalformed => "frag-malformed", "Malformed IP fragment",
    /// Fragments of one datagram overlap (RFC 1858 §4, RFC 5722): the
    /// datagram is dropped whole.
    FragmentOverlap => "frag-overlap", "Overlapping IP fragments",
    /// A fragment of the same place in its datagram as one kept: dropped
    /// alone, the datagram kept (RFC 5722 §4 as amended by its erratum
    /// 3089; the copy kept is the one judged and sent).
    FragmentDuplicate => "frag-duplicate", "Duplicate IP fragment",
    /// A datagram of more fragments than `fragment chain` allows.
    FragmentChainExceeded => "frag-chain-exceeded", "Too many fragments in one datagram",
    /// The interface's fragment database (`fragment size` datagrams in
    /// reassembly) is full.
    FragmentDatabaseFull => "frag-db-full", "Fragment database full",
    /// A datagram's fragments did not all arrive within `fragment timeout`.
    FragmentTimeout => "frag-timeout", "Fragment reassembly time exceeded",
    /// The first fragment does not hold the whole transport header (RFC
    /// 1858 §3, RFC 7112): the rules would judge ports that a later
    /// fragment can overwrite.
    FragmentTiny => "frag-tiny", "First fragment without its transport header",
    /// The TCP header is short or its data offset is invalid.
    TcpMalformed => "invalid-tcp-hdr-length", "Invalid TCP header length",
    /// The TCP checksum does not match.
    TcpChecksumBad => "bad-tcp-cksum", "Bad TCP checksum",
    /// The UDP header is short or its length field disagrees with the IP payload.
    UdpMalformed => "udp-malformed", "Invalid UDP header",
    /// The UDP checksum does not match.
    UdpChecksumBad => "bad-udp-cksum", "Bad UDP checksum",
    /// The ICMP or ICMPv6 message is too short for its type.
    IcmpMalformed => "icmp-malformed", "Invalid ICMP message",
    /// A neighbour solicitation or advertisement (which pass untracked
    /// under any policy) that a host would discard (RFC 4861 §7.1.1,
    /// §7.1.2: a hop limit other than 255, a code other than 0, a bad
    /// checksum, shorter than 24 bytes, a multicast target, an option of
    /// length zero or options that do not fill the message, a solicited
    /// advertisement to a group, a solicitation from `::` not to a
    /// solicited-node group or with a source link-layer address), or one
    /// larger than the options it has carry (docs/asa-behaviour.md §2.5).
    NdInvalid => "icmp-nd-invalid", "Invalid neighbour discovery message",
    /// An ICMP error (destination unreachable, time exceeded, parameter
    /// problem, packet too big) longer than any sender makes one: an ICMPv4
    /// error's datagram is at most 576 bytes (RFC 1812 §4.3.2.3), an
    /// ICMPv6 error's packet at most the minimum IPv6 MTU, 1280 bytes
    /// (RFC 4443 §2.4(c)). More is bytes riding on an error that quotes a
    /// connection (docs/asa-behaviour.md §2.5).
    IcmpErrorTooLong => "icmp-err-too-long", "ICMP error longer than RFC 1812/4443 allow",
    /// A frame of the ARP EtherType that is not an Ethernet/IPv4 request or
    /// reply (RFC 826).
    ArpMalformed => "arp-malformed", "Invalid ARP packet",
    /// A source address no host sends from (multicast, broadcast, class E,
    /// loopback, `0.0.0.0/8` outside DHCP, `::` outside address checks), or
    /// a source equal to the destination (a land attack): the ASA's slow
    /// path security checks (docs/asa-behaviour.md §7.1).
    InvalidSource => "sp-security-failed", "Slowpath security checks failed",
    /// An SCTP packet cut inside its 12-byte common header (RFC 9260 §3.1):
    /// it has no ports the access rules could judge.
    SctpMalformed => "sctp-malformed", "Invalid SCTP common header",
    /// The sender's offload header (`virtio_net_hdr`) disagrees with the
    /// frame's headers: a partial checksum to be completed elsewhere than
    /// the TCP or UDP checksum field the engine parsed, or a segmentation
    /// type of another IP version or transport, without a checksum to
    /// complete or without a size. Completed where the sender said, the
    /// checksum could overwrite bytes the engine judged (docs/io.md §1).
    OffloadMismatch => "offload-mismatch", "Offload header disagrees with packet headers",
    /// Checksum or segmentation offload asked for a frame without one the
    /// engine supports: ICMP, ARP, or a segmentation type other than TCP
    /// over IPv4 or IPv6 and UDP (docs/io.md §1).
    OffloadUnsupported => "offload-unsupported", "Offload requested for unsupported protocol",
    /// The frame arrived on an interface the engine does not know.
    UnknownInterface => "unknown-interface", "Unknown ingress interface",
    /// The frame arrived on, or would leave by, an interface the
    /// configuration shuts down (`shutdown`).
    InterfaceDown => "interface-down", "Interface is down",
    /// The frame arrived on an interface whose EtherType access-group
    /// explicitly denies all frames (`access-list NAME ethertype deny
    /// any`), IPv4, IPv6 and ARP included (docs/asa-behaviour.md §2.7).
    EthertypeDeny => "l2_acl", "FP L2 rule drop",
    /// The node is in a cluster and has not finished its first bulk sync
    /// (as an ASA unit does not pass traffic before it joined its cluster).
    ClusterNotReady => "cluster-not-ready", "Cluster unit not ready",
    /// The packet had to wait for a peer's state (its flow lacked state, or
    /// earlier packets of its flow were already waiting) and the hold
    /// buffer, total or per flow, was full (docs/sync.md §4).
    HoldOverflow => "cluster-hold-overflow", "Cluster hold buffer full",
    /// A packet of a known connection arrived on another interface than that
    /// connection's packets in its direction use (spoofing or a loop).
    InterfaceMismatch => "conn-wrong-interface", "Connection on wrong interface",
    /// A packet with an authentication header on a connection opened
    /// without one, or the reverse: the rules that let one open need not
    /// permit the other (docs/asa-behaviour.md §2.1).
    AhMismatch => "conn-ah-mismatch", "Authentication header differs from connection",
    /// No access rule permits a new connection (with no ACL: from a lower to a higher security level).
    AclDeny => "acl-drop", "Flow is denied by configured rule",
    /// A TCP packet other than a SYN for which no connection exists (ASA `tcp-not-syn`).
    TcpNotSyn => "tcp-not-syn", "First TCP packet not SYN",
    /// A combination of TCP flags no endpoint sends (e.g. SYN+FIN, no flags at all).
    TcpBadFlags => "bad-tcp-flags", "Bad TCP flags",
    /// The packet is not valid in the connection's TCP state (e.g. a SYN-ACK from the initiator).
    TcpInvalidState => "tcp-invalid-state", "TCP packet invalid in connection state",
    /// The handshake went wrong: a final ACK that does not acknowledge the
    /// SYN-ACK, or a SYN-ACK again with another sequence number.
    Tcp3whsFailed => "tcp-3whs-failed", "TCP failed 3 way handshake",
    /// A SYN-ACK that does not acknowledge the SYN (and all it carried).
    TcpAckSynDiff => "tcp-ack-syn-diff", "TCP ACK in SYNACK invalid",
    /// Data beyond its sender's FIN (RFC 9293 §3.10.4: no SEND after CLOSE).
    TcpDataPastFin => "tcp-data-past-fin", "TCP data send after FIN",
    /// Not a drop but a wait: in a cluster with a peer up, a TCP segment the
    /// tracker would let by leniently (without checks or a change of state:
    /// a SYN or SYN-ACK in a live connection outside its window, a segment more than a
    /// window behind, a challenge ACK) waits for a peer's state, since the
    /// entry here may lag behind the connection (a reused tuple whose close
    /// or new SYN a peer saw; docs/sync.md §4). At its hold deadline it
    /// passes as a standalone engine passes it. Counted only if it cannot
    /// wait, as `cluster-hold-overflow`, so this label stays at zero.
    LenientWait => "cluster-lenient-wait", "TCP lenient pass waiting for a peer's state",
    /// A SYN-ACK carrying data (ASA normalizer default `synack-data drop`).
    TcpSynAckData => "tcp-synack-data", "TCP SYN-ACK with data",
    /// Data beyond the receiver's advertised window (window check 1).
    TcpSeqPastWindow => "tcp-seq-past-win", "TCP packet SEQ past window",
    /// An acknowledgement of data never sent (window check 3).
    TcpAckPastWindow => "tcp-invalid-ack", "TCP invalid ACK",
    /// A RST outside the window, or one that does not acknowledge the SYN it answers.
    TcpRstOutOfWindow => "tcp-rstfin-ooo", "TCP RST/FIN out of order",
    /// A RST inside the receiver's window but not at the sequence number it
    /// expects next, or a SYN or SYN-ACK inside the window of a live
    /// connection: the blind resets RFC 5961 §3 and §4 describe, which an
    /// older endpoint would act on.
    TcpRstSynInWindow => "tcp-rst-syn-in-win", "TCP RST/SYN in window",
    /// An ICMP echo reply or ICMP error that matches no connection.
    IcmpNoConnection => "icmp-no-connection", "ICMP without a matching connection",
    /// An inspected ICMP error quoting a TCP segment whose sequence number
    /// lies outside what its sender's side of the connection could have
    /// had in flight (OpenBSD pf's check; docs/asa-behaviour.md §2.5).
    IcmpErrorBadSeq => "icmp-err-bad-seq", "ICMP error quotes a TCP SEQ outside the window",
    /// An echo reply of an inspected flow whose sequence number was not
    /// requested, or was answered already (one reply per request).
    IcmpSeqMismatch => "inspect-icmp-seq-num-not-matched", "ICMP Inspect seq num not matched",
    /// The class's `conn-max` is reached.
    ConnLimit => "conn-limit", "Connection limit reached",
    /// The client's `per-client-max` is reached.
    PerClientConnLimit => "per-client-conn-limit", "Per-client connection limit reached",
    /// Not a drop but an answer: TCP Intercept (docs/asa-behaviour.md
    /// §2.2) took the segment itself. A SYN past a class's half-open limit
    /// it answered with a SYN cookie in the server's place; a client's
    /// ACK of a valid cookie it turned into the SYN toward the server; the
    /// server's SYN-ACK it acknowledged in the client's place (the client
    /// had its SYN-ACK already). Label inferred.
    TcpIntercepted => "tcp-intercept", "TCP Intercept answered the segment",
    /// A segment of a connection TCP Intercept opened, while the server
    /// has not answered the firewall's SYN: the client's data (it resends
    /// it once the server answered), or a segment from the server other
    /// than the SYN-ACK or a RST that answers the SYN. Label inferred.
    InterceptUnexpected => "intercept-unexpected", "TCP Intercept unexpected packet",
    /// Past the class's `embryonic-conn-max` (or, for TCP Intercept, a
    /// client's `per-client-embryonic-max`), a SYN no cookie may answer:
    /// one to a multicast, broadcast or reserved address, or one inside an
    /// authentication header when every half-open connection it could
    /// replace belongs to a client TCP Intercept proved
    /// (docs/asa-behaviour.md §2.2).
    EmbryonicConnLimit => "embryonic-conn-limit", "Embryonic connection limit reached",
    /// The client's `per-client-embryonic-max` is reached and it has no
    /// half-open connection in the class to replace (as
    /// `embryonic-conn-limit`).
    PerClientEmbryonicLimit => "per-client-embryonic-limit", "Per-client embryonic connection limit reached",
    /// The connection table is at its configured capacity and holds no
    /// entry a new connection may displace: every one is established,
    /// half-closed, answered or bypass (docs/asa-behaviour.md §2.2).
    ConntrackFull => "conn-table-full", "Connection table full",
    /// Reserved bits set in the TCP header, under a tcp-map's
    /// `reserved-bits drop` (docs/asa-behaviour.md §6.1; label inferred).
    TcpReservedSet => "tcp-reserved-set", "TCP reserved flags set",
    /// A SYN carrying data, under `syn-data drop` (label inferred).
    TcpSynData => "tcp-syn-data", "TCP SYN with data",
    /// More payload than the receiver announced as its MSS, under
    /// `exceed-mss drop` (label inferred).
    TcpMssExceeded => "tcp-mss-exceeded", "TCP data exceeded MSS",
    /// A TCP option of a kind a `tcp-options range … drop` names (label
    /// inferred).
    TcpOptionDrop => "tcp-option-not-allowed", "TCP option not allowed",
    /// The frame's IP source is shunned (`shun`) on its interface or
    /// VLAN: every packet from it, its established connections' too
    /// (docs/asa-behaviour.md §2.12).
    Shunned => "shunned", "Packet is shunned",
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn labels_are_unique_and_indices_dense() {
        let labels: HashSet<_> = DropReason::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), DropReason::COUNT);
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
