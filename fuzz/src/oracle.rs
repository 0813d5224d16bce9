//! What `engine_process` asserts beyond "no panic": the engine keeps the
//! checksums of what it forwards valid, and builds valid frames.
//!
//! The engine rewrites forwarded frames in place (the TCP normalizer,
//! sequence randomization and its undoing in ICMP errors' quotes, the TTL
//! floor) with incremental checksum updates (RFC 1624), and builds the
//! RSTs of `timeout idle … reset` itself. A slip in either is invisible to
//! a no-panic fuzzer: the receiving host silently drops the frame. So:
//!
//! - a frame whose checksums are valid (it parses under
//!   [`ChecksumState::Unverified`], which verifies the IPv4 header and the
//!   TCP and UDP checksums; see [`parse`]) and that the engine forwards
//!   must still parse so afterwards, and an ICMP or ICMPv6 checksum that
//!   was valid must still be (the parser leaves those to the host, so they
//!   are checked here). A frame that came with a partial checksum
//!   ([`ChecksumState::Partial`]) is first completed as the AF_PACKET
//!   bridge completes it before sending (`complete_checksum`). Frames the
//!   engine drops, and frames whose checksums were wrong on arrival, are
//!   not judged: the engine is not asked to repair what it was handed;
//! - every frame the engine sends of its own ([`Effect::Transmit`]) parses
//!   with its checksums verified.
//!
//! A violation panics, which the fuzzer reports as a crash.

use rampart_dataplane::engine::Effect;
use rampart_dataplane::packet::{
    ChecksumState, PacketMeta, Parsed, Transport, complete_checksum, parse,
};
use rampart_dataplane::{IfaceId, Verdict};

/// Checksums verified: what [`parse`] is asked to check here.
const VERIFY: PacketMeta = PacketMeta {
    checksum: ChecksumState::Unverified,
    gso_size: 0,
    asked: rampart_dataplane::packet::OffloadRequest::NONE,
};

/// Check a frame's way through the engine: `input` as it arrived with
/// `meta`, `output` as the engine left it, `verdict` what it decided.
/// Panics if the engine forwarded a frame with valid checksums and broke
/// one of them.
pub fn check_forwarded(input: &[u8], meta: PacketMeta, output: &[u8], verdict: Verdict) {
    let Verdict::Forward { .. } = verdict else {
        return;
    };
    let Ok(before) = parse(input, VERIFY) else {
        // Not a valid frame on arrival (or its checksums were wrong): the
        // engine forwards what its meta let it, and owes nothing more.
        return;
    };
    let mut sent = output.to_vec();
    if meta.checksum == ChecksumState::Partial {
        // The field holds a partial sum by contract and the engine leaves
        // it so; the bridge completes it on the way out.
        complete_checksum(&mut sent);
    }
    let after = match parse(&sent, VERIFY) {
        Ok(after) => after,
        Err(reason) => panic!(
            "a forwarded frame whose checksums were valid no longer parses with them verified \
             ({reason:?}); meta {meta:?}\n in: {}\nout: {}",
            hex(input),
            hex(&sent)
        ),
    };
    let (Some(was), Some(now)) = (
        icmp_checksum_ok(input, &before),
        icmp_checksum_ok(&sent, &after),
    ) else {
        return;
    };
    assert!(
        !was || now,
        "a forwarded ICMP message whose checksum was valid no longer has a valid one; \
         meta {meta:?}\n in: {}\nout: {}",
        hex(input),
        hex(&sent)
    );
}

/// Check an effect the engine asked the shell to carry out: a frame it
/// built must parse with its checksums verified.
pub fn check_effect(effect: &Effect) {
    if let Effect::Transmit { egress, frame } = effect {
        check_transmit(*egress, frame);
    }
}

/// A frame the engine built to send on `egress` (the RSTs of `timeout
/// idle … reset`) parses with its checksums verified.
pub fn check_transmit(egress: IfaceId, frame: &[u8]) {
    if let Err(reason) = parse(frame, VERIFY) {
        panic!(
            "a frame the engine built for {egress:?} does not parse with its checksums \
             verified ({reason:?}): {}",
            hex(frame)
        );
    }
}

/// Whether the ICMP or ICMPv6 checksum of a parsed frame verifies (RFC
/// 792, RFC 4443 §2.3: over the message, for ICMPv6 with the IPv6
/// pseudo-header of RFC 8200 §8.1); `None` for a frame that is not ICMP.
///
/// The pseudo-header is taken from the fixed IPv6 header, ignoring any
/// routing header's final destination: the check compares a frame with
/// itself before and after the engine, so a sum computed the same way
/// both times is enough (the engine's rewrites stay within the message).
fn icmp_checksum_ok(frame: &[u8], parsed: &Parsed) -> Option<bool> {
    let Parsed::Ip {
        transport: Transport::Icmp(_),
        ip_len,
        l3,
        l4,
        ..
    } = *parsed
    else {
        return None;
    };
    let (l3, l4) = (usize::from(l3), usize::from(l4));
    let end = l3.checked_add(usize::try_from(ip_len).ok()?)?;
    let message = frame.get(l4..end)?;
    let mut sum = Sum::default();
    if frame.get(l3)? >> 4 == 6 {
        sum.add(frame.get(l3 + 8..l3 + 40)?);
        let len = u32::try_from(message.len()).ok()?;
        sum.add(&len.to_be_bytes());
        sum.add(&[0, 0, 0, 58]);
    }
    sum.add(message);
    Some(sum.folded() == 0xffff)
}

/// A one's-complement sum of 16-bit words (RFC 1071 §1), fed slices that
/// each start on a word boundary of the whole.
#[derive(Default)]
struct Sum(u64);

impl Sum {
    fn add(&mut self, bytes: &[u8]) {
        for word in bytes.chunks(2) {
            let hi = u64::from(word[0]) << 8;
            self.0 += hi | word.get(1).copied().map_or(0, u64::from);
        }
    }

    fn folded(&self) -> u16 {
        let mut s = self.0;
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        u16::try_from(s).expect("folded to 16 bits")
    }
}

/// A frame as hex, to paste into a test.
fn hex(frame: &[u8]) -> String {
    frame.iter().map(|b| format!("{b:02x}")).collect()
}
