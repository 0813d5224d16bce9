//! Which worker owns a flow: a symmetric hash of the flow's addresses and
//! (for TCP and UDP) ports, computed twice, identically:
//!
//! - in the kernel, by a classic BPF program attached to the interfaces'
//!   `PACKET_FANOUT` groups (`PACKET_FANOUT_CBPF`), so both directions of a
//!   flow reach the same worker thread and its engine;
//! - here, by [`worker_of`], so the node sends state learned from a peer
//!   (sync events, acks, pulls and their answers) to the worker whose
//!   engine sees the flow.
//!
//! Why not `PACKET_FANOUT_HASH`: it spreads by `skb->hash`, and a locally
//! generated TCP segment carries its socket's random `sk_txhash` across a
//! veth into the next namespace; the client's and the server's sockets have
//! different ones, so the two directions of one connection would land on
//! different workers, and each worker's table must see both directions of
//! its flows (docs/ARCHITECTURE.md §4).
//!
//! The hash: `x = xor of the 32-bit words of source and destination
//! address`, then for TCP and UDP `x ^= sport ^ dport`, except for an IPv4
//! fragment (below); then
//! `(x * 0x9e37_79b1) >> 16` (the multiply spreads the low bits that the
//! xor leaves alike), and the kernel takes it modulo the group size. XOR is
//! commutative, so the two directions agree. ICMP uses addresses only (an
//! echo request and its reply differ in type and checksum), and so does
//! every other IP protocol (GRE, ESP, SCTP, …), whose connections the
//! engine keys by addresses (and SCTP's ports, which the hash leaves out:
//! both directions still agree, the flows of two hosts share a worker;
//! docs/io.md). Other frames
//! (ARP, non-IP, stacked VLANs) go to worker 0. An ICMP error about a flow
//! is spread by its own (outer) addresses, so on a node with several
//! workers it may reach a worker that does not hold the flow: that
//! worker's engine hands it to the owner (docs/io.md §9).
//!
//! TCP and UDP keep their ports behind the headers the engine walks past
//! to key them: an authentication header after an IPv4 header (RFC 4302;
//! the engine unwraps it, and its flow is the transport's), and up to
//! [`EXTENSION_HEADERS_WALKED`] IPv6 extension headers (hop-by-hop,
//! routing, destination options, authentication, an atomic fragment).
//! The program walks them as the engine does, each by its own length
//! field, unrolled (classic BPF jumps only forward). Before, such a
//! packet went by its addresses while the node routed its flow's state
//! by the ports: the state reached another worker than the packets
//! (docs/io.md §9). A packet behind more headers still goes by its
//! addresses, and the worker it reaches hands it to the flow's.
//!
//! Fragments go by their addresses alone. Only a datagram's first fragment
//! carries its ports (RFC 791 §3.2: the data of the others is the rest of
//! the datagram), so hashing "ports" read where a later fragment's data
//! starts spread the fragments of one datagram over several workers, and
//! none could reassemble it. An IPv4 packet is a fragment when its
//! More Fragments flag is set or its fragment offset is not zero
//! (`frag_off & 0x3fff`, bytes 6-7; Don't Fragment alone is no fragment),
//! and the first fragment goes by addresses too, so that all the fragments
//! of a datagram meet on one worker. An IPv6 fragment is a packet behind
//! a Fragment header (44) whose offset or More Fragments flag is set: the
//! walk stops there, as it does for any other protocol. The worker that
//! reassembles a datagram is then not always the one that
//! owns its flow (by [`worker_of`], ports included): its engine hands the
//! datagram to that worker (`Effect::HandOff`, docs/io.md §9).

use rampart_dataplane::flow::{FlowKey, proto};

#[cfg(any(test, feature = "interp"))]
pub mod interp;

/// IPv6 extension headers the program walks to find TCP's or UDP's
/// ports: RFC 8200 §4.1's order holds six at most (hop-by-hop,
/// destination options, routing, fragment, authentication, destination
/// options), each once but the destination options twice. A packet with
/// more goes by its addresses (the engine hands it on, docs/io.md §9).
pub const EXTENSION_HEADERS_WALKED: usize = 6;

/// The multiplier of the final mix (the 32-bit golden ratio).
const MIX: u32 = 0x9e37_79b1;

/// The symmetric flow hash over addresses (16-byte, v4-mapped for IPv4)
/// and ports.
pub fn flow_hash(key: &FlowKey) -> u32 {
    let mut x = addr_words(&key.lo.addr.0) ^ addr_words(&key.hi.addr.0);
    if matches!(key.proto, proto::TCP | proto::UDP) {
        x ^= u32::from(key.lo.port ^ key.hi.port);
    }
    mix(x)
}

/// The worker (of `workers`) that owns `key`'s packets.
pub fn worker_of(key: &FlowKey, workers: usize) -> usize {
    if workers <= 1 {
        return 0;
    }
    (flow_hash(key) % workers as u32) as usize
}

fn mix(x: u32) -> u32 {
    x.wrapping_mul(MIX) >> 16
}

/// XOR of an address's 32-bit words as the BPF program reads them: the
/// IPv4 address alone for a v4-mapped address, all four words for IPv6.
fn addr_words(a: &[u8; 16]) -> u32 {
    let w = |i: usize| u32::from_be_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]]);
    let v4_mapped = a[..10].iter().all(|&b| b == 0) && a[10] == 0xff && a[11] == 0xff;
    if v4_mapped {
        w(12)
    } else {
        w(0) ^ w(4) ^ w(8) ^ w(12)
    }
}

// === the classic BPF program ===

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

// Opcodes (linux/filter.h), as u16.
const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const LD_H_ABS: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_ABS) as u16;
const LD_B_ABS: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
const LD_H_IND: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_IND) as u16;
const LD_B_IND: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_IND) as u16;
const LD_IMM: u16 = (libc::BPF_LD | libc::BPF_IMM) as u16;
const LDX_IMM: u16 = (libc::BPF_LDX | libc::BPF_IMM) as u16;
const LD_MEM: u16 = (libc::BPF_LD | libc::BPF_MEM) as u16;
const LDX_MEM: u16 = (libc::BPF_LDX | libc::BPF_MEM) as u16;
const LDX_B_MSH: u16 = (libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH) as u16;
const ST: u16 = libc::BPF_ST as u16;
const TAX: u16 = (libc::BPF_MISC | libc::BPF_TAX) as u16;
const XOR_X: u16 = (libc::BPF_ALU | libc::BPF_XOR | libc::BPF_X) as u16;
const ADD_K: u16 = (libc::BPF_ALU | libc::BPF_ADD | libc::BPF_K) as u16;
const ADD_X: u16 = (libc::BPF_ALU | libc::BPF_ADD | libc::BPF_X) as u16;
const LSH_K: u16 = (libc::BPF_ALU | libc::BPF_LSH | libc::BPF_K) as u16;
const MUL_K: u16 = (libc::BPF_ALU | libc::BPF_MUL | libc::BPF_K) as u16;
const RSH_K: u16 = (libc::BPF_ALU | libc::BPF_RSH | libc::BPF_K) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RET_A: u16 = (libc::BPF_RET | libc::BPF_A) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// `ld #proto`: the ancillary load of `ntohs(skb->protocol)`.
const AD_PROTOCOL: u32 = (libc::SKF_AD_OFF + libc::SKF_AD_PROTOCOL) as u32;

/// The IPv4 `frag_off` bits that make a packet a fragment: More Fragments
/// and the 13-bit offset (RFC 791 §3.1); not Don't Fragment (0x4000).
const IPV4_FRAGMENT_BITS: u32 = 0x3fff;

/// The bits of an IPv6 Fragment header's bytes 2-3 that make its packet
/// a fragment: the 13-bit offset and More Fragments (RFC 8200 §4.5), not
/// the two reserved bits. With neither, an atomic fragment (RFC 6946 §4),
/// which the engine takes whole, as the program does.
const IPV6_FRAGMENT_BITS: u32 = 0xfff9;

/// IPv6 extension headers the engine walks past (RFC 8200 §4; AH, RFC
/// 4302 §2): hop-by-hop options, routing, destination options, the
/// authentication header, and the fragment header (an atomic fragment).
const HOP_BY_HOP: u32 = 0;
const ROUTING: u32 = 43;
const FRAGMENT: u32 = 44;
const AUTHENTICATION: u32 = proto::AH as u32;
const DESTINATION_OPTIONS: u32 = 60;

/// Scratch memory slots.
const M_ADDR: u32 = 0;
const M_SPORT: u32 = 1;
const M_OFF: u32 = 2;

/// Labels of the program (the IPv6 walk's are per step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L {
    Next,
    V6,
    Ports4,
    Ah4,
    Ah4Ports,
    PortsX,
    NoPorts,
    Mix,
    Zero,
    /// Step `n`: a header whose length is in 8-byte units past the first.
    Options(u8),
    /// Step `n`: an authentication header (4-byte units past the second).
    Auth(u8),
    /// Step `n`: a fragment header.
    Fragment(u8),
    /// Step `n`: past the header, to the next one.
    Advance(u8),
}

/// An instruction whose jumps name labels, resolved by [`assemble`].
#[derive(Debug, Clone, Copy)]
enum Asm {
    I(u16, u32),
    Jeq(u32, L, L),
    /// `jset #k`: to the first label if `A & k` is not zero.
    Jset(u32, L, L),
    Ja(L),
    Label(L),
}

/// The fanout program. It runs on received frames with the packet data
/// starting at the network header (AF_PACKET's fanout demux runs after
/// `eth_type_trans` pulled the Ethernet header; an accelerated VLAN tag
/// is already out of the data and `skb->protocol` is the inner type).
pub fn fanout_program() -> Vec<Insn> {
    use Asm::{I, Ja, Jeq, Jset, Label};
    let (tcp, udp) = (u32::from(proto::TCP), u32::from(proto::UDP));
    let mut p = vec![
        I(LD_W_ABS, AD_PROTOCOL),
        Jeq(0x0800, L::Next, L::V6),
        // IPv4: source ^ destination.
        I(LD_W_ABS, 12),
        I(TAX, 0),
        I(LD_W_ABS, 16),
        I(XOR_X, 0),
        I(ST, M_ADDR),
        // A fragment, first or not: addresses alone (the module's doc).
        I(LD_H_ABS, 6),
        Jset(IPV4_FRAGMENT_BITS, L::NoPorts, L::Next),
        I(LD_B_ABS, 9),
        Jeq(tcp, L::Ports4, L::Next),
        Jeq(udp, L::Ports4, L::Next),
        Jeq(AUTHENTICATION, L::Ah4, L::NoPorts),
        Label(L::Ah4),
        // X = IPv4 header length, where the authentication header starts;
        // TCP or UDP behind it keeps its ports, as the engine keys it.
        I(LDX_B_MSH, 0),
        I(LD_B_IND, 0),
        Jeq(tcp, L::Ah4Ports, L::Next),
        Jeq(udp, L::Ah4Ports, L::NoPorts),
        Label(L::Ah4Ports),
        // X += the header's length: (payload length + 2) 32-bit words.
        I(LD_B_IND, 1),
        I(ADD_K, 2),
        I(LSH_K, 2),
        I(ADD_X, 0),
        I(TAX, 0),
        Ja(L::PortsX),
        Label(L::Ports4),
        // X = IPv4 header length; the ports follow it.
        I(LDX_B_MSH, 0),
        Ja(L::PortsX),
        Label(L::V6),
        Jeq(0x86dd, L::Next, L::Zero),
        // IPv6: the eight words of source and destination (offsets 8..40).
        I(LD_W_ABS, 8),
    ];
    for off in (12..40).step_by(4) {
        p.extend([I(TAX, 0), I(LD_W_ABS, off), I(XOR_X, 0)]);
    }
    // Ports when TCP or UDP follows the fixed header or up to
    // `EXTENSION_HEADERS_WALKED` extension headers, each step with the
    // header's type in A and its offset in X; past them, a fragment that
    // is not atomic, or any other protocol: addresses alone (still
    // symmetric).
    p.extend([I(ST, M_ADDR), I(LDX_IMM, 40), I(LD_B_ABS, 6)]);
    for n in 0..EXTENSION_HEADERS_WALKED as u8 {
        p.extend([
            Jeq(tcp, L::PortsX, L::Next),
            Jeq(udp, L::PortsX, L::Next),
            Jeq(HOP_BY_HOP, L::Options(n), L::Next),
            Jeq(DESTINATION_OPTIONS, L::Options(n), L::Next),
            Jeq(ROUTING, L::Options(n), L::Next),
            Jeq(AUTHENTICATION, L::Auth(n), L::Next),
            Jeq(FRAGMENT, L::Fragment(n), L::NoPorts),
            // RFC 8200 §4.3-4.6: 8-byte units past the first 8.
            Label(L::Options(n)),
            I(LD_B_IND, 1),
            I(ADD_K, 1),
            I(LSH_K, 3),
            Ja(L::Advance(n)),
            // RFC 4302 §2.2: 32-bit words past the first two.
            Label(L::Auth(n)),
            I(LD_B_IND, 1),
            I(ADD_K, 2),
            I(LSH_K, 2),
            Ja(L::Advance(n)),
            // RFC 8200 §4.5: 8 bytes, and only an atomic fragment goes on.
            Label(L::Fragment(n)),
            I(LD_H_IND, 2),
            Jset(IPV6_FRAGMENT_BITS, L::NoPorts, L::Next),
            I(LD_IMM, 8),
            // A = the next header's type (byte 0), X = its offset.
            Label(L::Advance(n)),
            I(ADD_X, 0),
            I(ST, M_OFF),
            I(LD_B_IND, 0),
            I(LDX_MEM, M_OFF),
        ]);
    }
    p.extend([
        Jeq(tcp, L::PortsX, L::Next),
        Jeq(udp, L::PortsX, L::NoPorts),
        // The ports at X: their xor, then the addresses'.
        Label(L::PortsX),
        I(LD_H_IND, 0),
        I(ST, M_SPORT),
        I(LD_H_IND, 2),
        I(LDX_MEM, M_SPORT),
        I(XOR_X, 0),
        I(LDX_MEM, M_ADDR),
        I(XOR_X, 0),
        Ja(L::Mix),
        Label(L::NoPorts),
        I(LD_MEM, M_ADDR),
        Label(L::Mix),
        I(MUL_K, MIX),
        I(RSH_K, 16),
        I(RET_A, 0),
        Label(L::Zero),
        I(RET_K, 0),
    ]);
    assemble(&p)
}

/// Resolve labels to relative jumps (`L::Next` is the next instruction).
fn assemble(p: &[Asm]) -> Vec<Insn> {
    let mut at = Vec::new();
    let mut n = 0usize;
    for a in p {
        match a {
            Asm::Label(l) => at.push((*l, n)),
            _ => n += 1,
        }
    }
    let target = |l: L, pc: usize| -> usize {
        if l == L::Next {
            return 0;
        }
        let (_, t) = at
            .iter()
            .find(|(x, _)| *x == l)
            .expect("every label used is defined");
        t - pc - 1
    };
    let mut out = Vec::with_capacity(n);
    for a in p {
        let pc = out.len();
        match *a {
            Asm::I(code, k) => out.push(Insn {
                code,
                jt: 0,
                jf: 0,
                k,
            }),
            Asm::Jeq(k, t, f) | Asm::Jset(k, t, f) => out.push(Insn {
                code: if matches!(a, Asm::Jeq(..)) {
                    JEQ_K
                } else {
                    JSET_K
                },
                jt: u8::try_from(target(t, pc)).expect("short jump"),
                jf: u8::try_from(target(f, pc)).expect("short jump"),
                k,
            }),
            Asm::Ja(l) => out.push(Insn {
                code: JA,
                jt: 0,
                jf: 0,
                k: target(l, pc) as u32,
            }),
            Asm::Label(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::interp::run;
    use super::*;
    use rampart_dataplane::flow::{Addr, Endpoint, FlowKey, Tuple};

    fn v4_packet(t: &Tuple, ihl_words: u8) -> Vec<u8> {
        let mut p = vec![0u8; usize::from(ihl_words) * 4 + 8];
        p[0] = 0x40 | ihl_words;
        p[9] = t.proto;
        p[12..16].copy_from_slice(&t.src.addr.0[12..]);
        p[16..20].copy_from_slice(&t.dst.addr.0[12..]);
        let l4 = usize::from(ihl_words) * 4;
        p[l4..l4 + 2].copy_from_slice(&t.src.port.to_be_bytes());
        p[l4 + 2..l4 + 4].copy_from_slice(&t.dst.port.to_be_bytes());
        p
    }

    /// `v4_packet` with `frag_off` (flags and offset, bytes 6-7) set.
    fn v4_with_frag_off(t: &Tuple, ihl_words: u8, frag_off: u16) -> Vec<u8> {
        let mut p = v4_packet(t, ihl_words);
        p[6..8].copy_from_slice(&frag_off.to_be_bytes());
        p
    }

    /// The hash of `t`'s addresses alone (ports out), as `flow_hash` of its
    /// key with no ports.
    fn address_hash(t: &Tuple) -> u32 {
        let mut t = *t;
        (t.src.port, t.dst.port) = (0, 0);
        flow_hash(&FlowKey::of(&t).0)
    }

    fn v6_packet(t: &Tuple) -> Vec<u8> {
        let mut p = vec![0u8; 48];
        p[0] = 0x60;
        p[6] = t.proto;
        p[8..24].copy_from_slice(&t.src.addr.0);
        p[24..40].copy_from_slice(&t.dst.addr.0);
        p[40..42].copy_from_slice(&t.src.port.to_be_bytes());
        p[42..44].copy_from_slice(&t.dst.port.to_be_bytes());
        p
    }

    fn tuple(src: Addr, sport: u16, dst: Addr, dport: u16, proto: u8) -> Tuple {
        Tuple {
            src: Endpoint {
                addr: src,
                port: sport,
            },
            dst: Endpoint {
                addr: dst,
                port: dport,
            },
            proto,
            vlan: 0,
        }
    }

    /// `these` and the protocols the engine keys by addresses (SCTP with
    /// its ports): GRE, ESP, SCTP, OSPF, PIM, and ICMP of the other family.
    fn with_others(these: &[u8]) -> Vec<u8> {
        let mut v = these.to_vec();
        v.extend([proto::GRE, proto::ESP, proto::SCTP, 89, 103]);
        v.push(if these.contains(&proto::ICMP) {
            proto::ICMPV6
        } else {
            proto::ICMP
        });
        v
    }

    proptest::proptest! {
        #[test]
        fn the_kernel_program_and_worker_of_agree_in_both_directions(
            s in proptest::prelude::any::<[u8; 4]>(),
            d in proptest::prelude::any::<[u8; 4]>(),
            sport in proptest::prelude::any::<u16>(),
            dport in proptest::prelude::any::<u16>(),
            p in proptest::sample::select(with_others(&[proto::TCP, proto::UDP, proto::ICMP])),
            ihl in 5u8..16,
            workers in 1usize..9,
            df in proptest::prelude::any::<bool>(),
        ) {
            let prog = fanout_program();
            let t = tuple(Addr::v4(s), sport, Addr::v4(d), dport, p);
            // ICMP keys carry no ports in the hash.
            let (key, _) = FlowKey::of(&t);
            // Don't Fragment alone makes no fragment: whole packets keep
            // their ports.
            let frag_off = if df { 0x4000 } else { 0 };
            let there = run(&prog, &v4_with_frag_off(&t, ihl, frag_off), 0x0800).expect("in bounds");
            let back = run(&prog, &v4_with_frag_off(&t.reversed(), ihl, frag_off), 0x0800)
                .expect("in bounds");
            proptest::prop_assert_eq!(there, back);
            proptest::prop_assert_eq!(there, flow_hash(&key));
            proptest::prop_assert_eq!((there % workers as u32) as usize, worker_of(&key, workers));
        }

        #[test]
        fn ipv6_agrees_too(
            s in proptest::prelude::any::<[u8; 16]>(),
            d in proptest::prelude::any::<[u8; 16]>(),
            sport in proptest::prelude::any::<u16>(),
            dport in proptest::prelude::any::<u16>(),
            p in proptest::sample::select(with_others(&[proto::TCP, proto::UDP, proto::ICMPV6])),
        ) {
            let prog = fanout_program();
            let t = tuple(Addr::v6(s), sport, Addr::v6(d), dport, p);
            let (key, _) = FlowKey::of(&t);
            let there = run(&prog, &v6_packet(&t), 0x86dd).expect("in bounds");
            let back = run(&prog, &v6_packet(&t.reversed()), 0x86dd).expect("in bounds");
            proptest::prop_assert_eq!(there, back);
            // A random 16-byte address is v4-mapped with negligible odds;
            // the engine keys such an address as IPv4, so skip that case.
            if !s.starts_with(&[0; 10]) && !d.starts_with(&[0; 10]) {
                proptest::prop_assert_eq!(there, flow_hash(&key));
            }
        }
    }

    proptest::proptest! {
        /// Every IPv4 fragment, the first (whose ports are there) as the
        /// others (where "ports" would be data), is spread by its
        /// addresses alone, in both directions. Before, a fragment of TCP
        /// or UDP was hashed with whatever its first four data bytes were.
        #[test]
        fn every_ipv4_fragment_goes_by_its_addresses_alone(
            s in proptest::prelude::any::<[u8; 4]>(),
            d in proptest::prelude::any::<[u8; 4]>(),
            sport in proptest::prelude::any::<u16>(),
            dport in proptest::prelude::any::<u16>(),
            p in proptest::sample::select(with_others(&[proto::TCP, proto::UDP, proto::ICMP])),
            ihl in 5u8..16,
            more in proptest::prelude::any::<bool>(),
            offset in 0u16..0x2000,
            df in proptest::prelude::any::<bool>(),
        ) {
            // A fragment: More Fragments set, or an offset (or both).
            proptest::prop_assume!(more || offset != 0);
            let frag_off = offset | if more { 0x2000 } else { 0 } | if df { 0x4000 } else { 0 };
            let prog = fanout_program();
            let t = tuple(Addr::v4(s), sport, Addr::v4(d), dport, p);
            let there = run(&prog, &v4_with_frag_off(&t, ihl, frag_off), 0x0800).expect("in bounds");
            let back = run(&prog, &v4_with_frag_off(&t.reversed(), ihl, frag_off), 0x0800)
                .expect("in bounds");
            proptest::prop_assert_eq!(there, back);
            proptest::prop_assert_eq!(there, address_hash(&t));
        }
    }

    /// The fragments of one UDP datagram and of one TCP segment (4,000
    /// bytes over a 1,500-byte MTU: 1,480 bytes of data each, offsets 0,
    /// 185 and 370 in 8-byte units) reach one worker, whatever the group's
    /// size. Before, the first fragment went by its ports and the others
    /// by two words of their data, so they were spread.
    #[test]
    fn the_fragments_of_one_datagram_reach_one_worker() {
        let prog = fanout_program();
        for p in [proto::UDP, proto::TCP] {
            let t = tuple(
                Addr::v4([198, 18, 0, 10]),
                40_001,
                Addr::v4([198, 18, 0, 20]),
                5300,
                p,
            );
            let mut hashes = Vec::new();
            for (frag_off, garbage) in [
                (0x2000u16, None),
                (0x2000 | 185, Some(0x1234_5678u32)),
                (370, Some(0x9abc_def0)),
            ] {
                let mut pkt = v4_with_frag_off(&t, 5, frag_off);
                if let Some(g) = garbage {
                    // A later fragment: data where the ports would be.
                    pkt[20..24].copy_from_slice(&g.to_be_bytes());
                }
                hashes.push(run(&prog, &pkt, 0x0800).expect("in bounds"));
            }
            assert!(
                hashes.iter().all(|&h| h == address_hash(&t)),
                "proto {p}: {hashes:x?}"
            );
            for workers in 2..9u32 {
                let w: Vec<u32> = hashes.iter().map(|h| h % workers).collect();
                assert!(
                    w.iter().all(|&x| x == w[0]),
                    "proto {p}, {workers} workers: {w:?}"
                );
            }
            // The same datagram unfragmented, Don't Fragment or not, keeps
            // its ports.
            for frag_off in [0, 0x4000] {
                let whole = run(&prog, &v4_with_frag_off(&t, 5, frag_off), 0x0800);
                assert_eq!(whole, Some(flow_hash(&FlowKey::of(&t).0)), "{frag_off:#x}");
                assert_ne!(whole, Some(address_hash(&t)));
            }
        }
    }

    /// An IPv6 fragment's fixed header names the Fragment header (44),
    /// whose offset or More Fragments flag stops the program's walk: the
    /// first fragment and the others all go by addresses.
    #[test]
    fn ipv6_fragments_go_by_their_addresses_alone() {
        let prog = fanout_program();
        for p in [proto::UDP, proto::TCP] {
            let t = tuple(
                Addr::v6([0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]),
                40_001,
                Addr::v6([0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20]),
                5300,
                p,
            );
            // Fixed header, Fragment header (next header, offset and M),
            // then the transport header (first) or data (later ones).
            let fragment = |offset_units: u16, more: bool, first_words: [u8; 4]| {
                let mut pkt = v6_packet(&t);
                pkt[6] = 44;
                pkt[40] = p;
                pkt[41] = 0;
                let off = (offset_units << 3) | u16::from(more);
                pkt[42..44].copy_from_slice(&off.to_be_bytes());
                pkt[44..48].copy_from_slice(&0x0bad_cafe_u32.to_be_bytes());
                pkt.extend_from_slice(&first_words);
                pkt.extend_from_slice(&[0; 4]);
                run(&prog, &pkt, 0x86dd).expect("in bounds")
            };
            let mut ports = [0u8; 4];
            ports[..2].copy_from_slice(&t.src.port.to_be_bytes());
            ports[2..].copy_from_slice(&t.dst.port.to_be_bytes());
            let hashes = [
                fragment(0, true, ports),
                fragment(181, true, [1, 2, 3, 4]),
                fragment(362, false, [9, 8, 7, 6]),
            ];
            assert!(
                hashes.iter().all(|&h| h == address_hash(&t)),
                "proto {p}: {hashes:x?}"
            );
            // Unfragmented, the ports count.
            assert_eq!(
                run(&prog, &v6_packet(&t), 0x86dd),
                Some(flow_hash(&FlowKey::of(&t).0))
            );
            assert_ne!(hashes[0], flow_hash(&FlowKey::of(&t).0));
        }
    }

    /// An IPv4 packet of `t` with an authentication header between the IP
    /// and the transport headers (RFC 4302 §2: next header, payload length
    /// in 32-bit words minus 2, reserved, SPI, sequence number, then
    /// `icv_words` words of integrity check value).
    fn v4_ah_packet(t: &Tuple, ihl_words: u8, icv_words: u8) -> Vec<u8> {
        let mut p = v4_packet(t, ihl_words);
        let at = usize::from(ihl_words) * 4;
        let mut ah = vec![t.proto, icv_words + 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 7];
        ah.resize(12 + 4 * usize::from(icv_words), 0xa5);
        p[9] = proto::AH;
        p.splice(at..at, ah);
        p
    }

    /// An IPv6 packet of `t` behind the extension headers `chain`, each its
    /// type and its length byte: hop-by-hop (0), routing (43) and
    /// destination options (60) count 8-byte units past the first (RFC
    /// 8200 §4.3-4.6), an authentication header (51) 4-byte units past the
    /// second (RFC 4302 §2.2); a fragment header (44) is 8 bytes, here an
    /// atomic fragment (offset 0, M clear: RFC 6946) unless `len` is 1, a
    /// first fragment (M set).
    fn v6_with_chain(t: &Tuple, chain: &[(u8, u8)]) -> Vec<u8> {
        let mut p = v6_packet(t);
        p.truncate(40);
        // Byte 6: the fixed header's next header.
        let mut next = 6;
        for &(kind, len) in chain {
            p[next] = kind;
            next = p.len();
            let size = match kind {
                51 => (usize::from(len) + 2) * 4,
                44 => 8,
                _ => (usize::from(len) + 1) * 8,
            };
            let mut h = vec![0xee; size];
            h[0] = t.proto;
            h[1] = if kind == 44 { 0 } else { len };
            if kind == 44 {
                h[2..4].copy_from_slice(&u16::from(len == 1).to_be_bytes());
            }
            p.extend(h);
        }
        p[next] = t.proto;
        p.extend_from_slice(&t.src.port.to_be_bytes());
        p.extend_from_slice(&t.dst.port.to_be_bytes());
        p.extend_from_slice(&[0; 4]);
        p
    }

    /// Extension headers the engine walks to reach a transport header:
    /// hop-by-hop (first only), routing, destination options, an
    /// authentication header, an atomic fragment; each with a length byte.
    fn chain_of(max: usize) -> impl proptest::strategy::Strategy<Value = Vec<(u8, u8)>> {
        use proptest::prelude::*;
        (
            any::<bool>(),
            proptest::collection::vec(
                (proptest::sample::select(vec![43u8, 60, 51, 44]), 0u8..4),
                0..=max,
            ),
        )
            .prop_map(move |(hop_by_hop, mut rest)| {
                if hop_by_hop && !rest.is_empty() {
                    rest[0].0 = 0;
                }
                for h in &mut rest {
                    if h.0 == 51 {
                        // RFC 4302 §2.2: an IPv6 AH is a multiple of 8 bytes.
                        h.1 |= 1;
                    }
                    if h.0 == 44 {
                        h.1 = 0;
                    }
                }
                rest
            })
    }

    fn v6_tuple(s: [u8; 16], sport: u16, d: [u8; 16], dport: u16, p: u8) -> Tuple {
        // Documentation prefix: never v4-mapped.
        let (mut s, mut d) = (s, d);
        s[..2].copy_from_slice(&[0x20, 0x01]);
        d[..2].copy_from_slice(&[0x20, 0x01]);
        tuple(Addr::v6(s), sport, Addr::v6(d), dport, p)
    }

    proptest::proptest! {
        /// TCP and UDP behind an authentication header keep their ports,
        /// as the engine keys them (the AH is unwrapped): the kernel gives
        /// the flow's packets the worker `worker_of` names, the one the
        /// node sends the flow's state to. Before, such a packet went by
        /// its addresses (protocol 51), and a peer's state for its flow
        /// reached another worker than its packets.
        #[test]
        fn tcp_and_udp_behind_an_authentication_header_keep_their_ports(
            s in proptest::prelude::any::<[u8; 4]>(),
            d in proptest::prelude::any::<[u8; 4]>(),
            sport in proptest::prelude::any::<u16>(),
            dport in proptest::prelude::any::<u16>(),
            p in proptest::sample::select(vec![proto::TCP, proto::UDP]),
            ihl in 5u8..16,
            icv_words in 0u8..8,
            workers in 2usize..9,
        ) {
            let prog = fanout_program();
            let t = tuple(Addr::v4(s), sport, Addr::v4(d), dport, p);
            let key = FlowKey::of(&t).0;
            let there = run(&prog, &v4_ah_packet(&t, ihl, icv_words), 0x0800);
            let back = run(&prog, &v4_ah_packet(&t.reversed(), ihl, icv_words), 0x0800);
            proptest::prop_assert_eq!(there, Some(flow_hash(&key)));
            proptest::prop_assert_eq!(back, there);
            proptest::prop_assert_eq!(
                super::interp::kernel_worker(&v4_ah_packet(&t, ihl, icv_words), 0x0800, workers),
                worker_of(&key, workers)
            );
        }

        /// The same behind IPv6 extension headers, up to
        /// [`EXTENSION_HEADERS_WALKED`] of them (RFC 8200 §4.1's order
        /// holds six at most), whichever and in whatever order the engine
        /// walks them.
        #[test]
        fn tcp_and_udp_behind_ipv6_extension_headers_keep_their_ports(
            s in proptest::prelude::any::<[u8; 16]>(),
            d in proptest::prelude::any::<[u8; 16]>(),
            sport in proptest::prelude::any::<u16>(),
            dport in proptest::prelude::any::<u16>(),
            p in proptest::sample::select(vec![proto::TCP, proto::UDP]),
            chain in chain_of(EXTENSION_HEADERS_WALKED),
        ) {
            let prog = fanout_program();
            let t = v6_tuple(s, sport, d, dport, p);
            let key = FlowKey::of(&t).0;
            let there = run(&prog, &v6_with_chain(&t, &chain), 0x86dd);
            let back = run(&prog, &v6_with_chain(&t.reversed(), &chain), 0x86dd);
            proptest::prop_assert_eq!(there, Some(flow_hash(&key)), "{:?}", chain);
            proptest::prop_assert_eq!(back, there);
        }

        /// Past the headers the program walks, behind a fragment that is
        /// not atomic, or before any other protocol (ICMPv6, ESP, no next
        /// header), a packet goes by its addresses alone, in both
        /// directions (the engine hands a TCP or UDP packet of the first
        /// kind on to the worker of its flow, docs/io.md §9).
        #[test]
        fn past_the_walk_or_a_fragment_ipv6_goes_by_its_addresses(
            s in proptest::prelude::any::<[u8; 16]>(),
            d in proptest::prelude::any::<[u8; 16]>(),
            sport in proptest::prelude::any::<u16>(),
            dport in proptest::prelude::any::<u16>(),
            p in proptest::sample::select(vec![proto::TCP, proto::UDP, proto::ICMPV6, proto::ESP, 59]),
            chain in chain_of(EXTENSION_HEADERS_WALKED + 3),
            first_fragment_at in proptest::option::of(0usize..10),
        ) {
            let mut chain = chain;
            let cut = match first_fragment_at {
                Some(i) if i <= chain.len() => {
                    chain.insert(i, (44, 1));
                    true
                }
                _ => false,
            };
            let past = chain.len() > EXTENSION_HEADERS_WALKED;
            let ports = matches!(p, proto::TCP | proto::UDP);
            proptest::prop_assume!(cut || past || !ports);
            let prog = fanout_program();
            let t = v6_tuple(s, sport, d, dport, p);
            let there = run(&prog, &v6_with_chain(&t, &chain), 0x86dd);
            let back = run(&prog, &v6_with_chain(&t.reversed(), &chain), 0x86dd);
            proptest::prop_assert_eq!(there, Some(address_hash(&t)), "{:?}", chain);
            proptest::prop_assert_eq!(back, there);
        }
    }

    #[test]
    fn other_frames_go_to_worker_zero() {
        let prog = fanout_program();
        assert_eq!(run(&prog, &[0u8; 28], 0x0806), Some(0), "ARP");
        assert_eq!(run(&prog, &[0u8; 28], 0x8100), Some(0), "a stacked VLAN");
    }

    #[test]
    fn flows_spread_over_workers() {
        // 4,000 client ports to one server: every worker gets a fair share.
        let mut per = [0usize; 4];
        for port in 30_000..34_000u16 {
            let t = tuple(
                Addr::v4([198, 18, 0, 10]),
                port,
                Addr::v4([198, 18, 0, 20]),
                5201,
                proto::TCP,
            );
            per[worker_of(&FlowKey::of(&t).0, 4)] += 1;
        }
        assert!(per.iter().all(|&n| n > 800), "{per:?}");
    }

    #[test]
    fn the_program_fits_the_kernel_limits() {
        let prog = fanout_program();
        assert!(prog.len() < libc::BPF_MAXINSNS as usize);
        assert_eq!(prog.last().map(|i| i.code), Some(RET_K));
    }
}

/// The kernel program against the engine's own parser and
/// hand-off rule, both directions of one flow with independent header
/// chains (hop-by-hop, routing with no segments left, destination
/// options, AH, atomic fragments; IPv4 with options and AH).
#[cfg(test)]
mod against_the_engine {
    use super::interp::run;
    use super::*;
    use proptest::prelude::*;
    use rampart_dataplane::flow::{FlowKey, Tuple};
    use rampart_dataplane::packet::{ChecksumState, PacketMeta, Parsed, Transport, parse};

    fn l4(proto: u8, sport: u16, dport: u16) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend(sport.to_be_bytes());
        t.extend(dport.to_be_bytes());
        if proto == 6 {
            t.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        } else {
            t.extend(8u16.to_be_bytes());
            t.extend([0, 0]);
        }
        t
    }

    /// Network-layer bytes of an IPv6 packet behind `chain`.
    fn v6(
        src: [u8; 16],
        dst: [u8; 16],
        proto: u8,
        sport: u16,
        dport: u16,
        chain: &[(u8, u8)],
    ) -> Vec<u8> {
        let mut exts: Vec<Vec<u8>> = Vec::new();
        for &(kind, len) in chain {
            let size = match kind {
                51 => (usize::from(len) + 2) * 4,
                44 => 8,
                _ => (usize::from(len) + 1) * 8,
            };
            let mut h = vec![0u8; size];
            match kind {
                51 => {
                    h[1] = len;
                    h[4..8].copy_from_slice(&[0, 0, 1, 0]);
                }
                44 => {}
                43 => {
                    h[1] = len;
                    h[2] = 4; // routing type
                    h[3] = 0; // segments left
                }
                _ => h[1] = len, // Pad1 options
            }
            exts.push(h);
        }
        let mut kinds: Vec<u8> = chain.iter().map(|c| c.0).collect();
        kinds.push(proto);
        let mut body = Vec::new();
        for (i, h) in exts.iter_mut().enumerate() {
            h[0] = kinds[i + 1];
            body.extend_from_slice(h);
        }
        body.extend(l4(proto, sport, dport));
        let mut p = vec![0x60, 0, 0, 0];
        p.extend((body.len() as u16).to_be_bytes());
        p.push(kinds[0]);
        p.push(64);
        p.extend(src);
        p.extend(dst);
        p.extend(body);
        p
    }

    fn v4(
        src: [u8; 4],
        dst: [u8; 4],
        proto: u8,
        sport: u16,
        dport: u16,
        opt_words: u8,
        ah: Option<u8>,
    ) -> Vec<u8> {
        let ihl = 5 + opt_words;
        let mut body = Vec::new();
        if let Some(len) = ah {
            let mut h = vec![0u8; (usize::from(len) + 2) * 4];
            h[0] = proto;
            h[1] = len;
            h[4..8].copy_from_slice(&[0, 0, 1, 0]);
            body.extend(h);
        }
        body.extend(l4(proto, sport, dport));
        let total = usize::from(ihl) * 4 + body.len();
        let mut h = vec![0x40 | ihl, 0];
        h.extend((total as u16).to_be_bytes());
        h.extend([
            0,
            1,
            0x40,
            0,
            64,
            if ah.is_some() { 51 } else { proto },
            0,
            0,
        ]);
        h.extend(src);
        h.extend(dst);
        h.extend(std::iter::repeat_n(1u8, usize::from(opt_words) * 4));
        let mut s: u32 = h
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        h[10..12].copy_from_slice(&(!(s as u16)).to_be_bytes());
        h.extend(body);
        h
    }

    /// The worker that judges `net` (network-layer bytes): the kernel's,
    /// or the flow's where the engine hands it on (`spread.rs`); with the
    /// engine's key. `None`: the engine drops it or it is no TCP/UDP.
    fn judged_by(net: &[u8], workers: usize) -> Option<(usize, usize, FlowKey, Tuple)> {
        let ether = if net[0] >> 4 == 6 { 0x86ddu16 } else { 0x0800 };
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        f.extend(ether.to_be_bytes());
        f.extend_from_slice(net);
        let meta = PacketMeta {
            checksum: ChecksumState::Verified,
            ..PacketMeta::default()
        };
        let Ok(Parsed::Ip {
            tuple,
            transport,
            l3,
            l4,
            ah,
            ..
        }) = parse(&f, meta)
        else {
            return None;
        };
        if !matches!(transport, Transport::Tcp(_) | Transport::Udp { .. }) {
            return None;
        }
        let key = FlowKey::of(&tuple).0;
        let kernel = (run(&fanout_program(), net, ether).unwrap_or(0) % workers as u32) as usize;
        let handed = ah || (tuple.src.addr.is_v6() && l4.saturating_sub(l3) > 40);
        let by = if handed {
            worker_of(&key, workers)
        } else {
            kernel
        };
        Some((by, kernel, key, tuple))
    }

    fn chain() -> impl Strategy<Value = Vec<(u8, u8)>> {
        (
            any::<bool>(),
            proptest::collection::vec(
                (proptest::sample::select(vec![43u8, 60, 51, 44]), 0u8..4),
                0..9,
            ),
        )
            .prop_map(|(hbh, mut rest)| {
                if hbh {
                    rest.insert(0, (0, 0));
                }
                for h in &mut rest {
                    if h.0 == 51 {
                        h.1 |= 1;
                    }
                }
                rest
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn both_directions_are_judged_where_the_flow_lives_v6(
            s in any::<[u8; 14]>(), d in any::<[u8; 14]>(),
            sport in any::<u16>(), dport in any::<u16>(),
            tcp in any::<bool>(), there in chain(), back in chain(), workers in 2usize..9,
        ) {
            let mut src = [0x20, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            let mut dst = src;
            src[2..].copy_from_slice(&s);
            dst[2..].copy_from_slice(&d);
            let p = if tcp { 6 } else { 17 };
            let a = judged_by(&v6(src, dst, p, sport, dport, &there), workers);
            let b = judged_by(&v6(dst, src, p, dport, sport, &back), workers);
            prop_assert!(a.is_some() && b.is_some(), "{:?} {:?}", there, back);
            if let (Some(a), Some(b)) = (&a, &b) {
                prop_assert_eq!(a.2, b.2);
                prop_assert_eq!(a.0, worker_of(&a.2, workers), "there {:?}", there);
                prop_assert_eq!(b.0, worker_of(&b.2, workers), "back {:?}", back);
                // Within the walk, the kernel alone gets it right.
                if there.len() <= EXTENSION_HEADERS_WALKED {
                    prop_assert_eq!(a.1, a.0, "kernel off for {:?}", there);
                }
            }
        }

        #[test]
        fn both_directions_are_judged_where_the_flow_lives_v4(
            s in any::<[u8; 2]>(), d in any::<[u8; 2]>(),
            sport in any::<u16>(), dport in any::<u16>(), tcp in any::<bool>(),
            o1 in 0u8..10, o2 in 0u8..10,
            ah1 in proptest::option::of(1u8..6), ah2 in proptest::option::of(1u8..6),
            workers in 2usize..9,
        ) {
            let p = if tcp { 6 } else { 17 };
            let (s, d) = ([198, 18, s[0], s[1] | 1], [198, 19, d[0], d[1] | 1]);
            let a = judged_by(&v4(s, d, p, sport, dport, o1, ah1), workers);
            let b = judged_by(&v4(d, s, p, dport, sport, o2, ah2), workers);
            prop_assert!(a.is_some() && b.is_some());
            if let (Some(a), Some(b)) = (&a, &b) {
                prop_assert_eq!(a.2, b.2);
                prop_assert_eq!(a.0, b.0);
                prop_assert_eq!(a.1, a.0, "kernel off, ah {:?}", ah1);
            }
        }
    }

    /// The generator reaches the engine: a chain it builds parses.
    #[test]
    fn generated_frames_parse() {
        let src = [0x20, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let dst = [0x20, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        for c in [
            vec![],
            vec![(0, 0), (60, 1), (43, 0), (44, 0), (51, 1), (60, 0)],
            vec![(60, 0); 8],
        ] {
            assert!(judged_by(&v6(src, dst, 6, 1, 2, &c), 4).is_some(), "{c:?}");
        }
        assert!(
            judged_by(
                &v4([198, 18, 0, 1], [198, 18, 0, 2], 6, 1, 2, 3, Some(4)),
                4
            )
            .is_some()
        );
    }
}
