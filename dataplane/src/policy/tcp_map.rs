//! A class's TCP normalizer settings, compiled from its `tcp-map`
//! (docs/asa-behaviour.md §6.1): what the engine does with each TCP option
//! kind, the reserved bits, the urgent flag, data on a SYN or SYN-ACK,
//! segments beyond the MSS and the TTL floor. A class without a map has
//! [`TcpNormalizer::DEFAULT`], the ASA's defaults, which the engine takes
//! its old, cheaper path for.

use rampart_asa::ast::{TcpMap, TcpOptionAction};

/// What the normalizer does with a TCP option kind or the reserved bits.
pub type Action = TcpOptionAction;

/// One class's normalizer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpNormalizer {
    /// Not [`Self::DEFAULT`]: the engine walks the general path.
    custom: bool,
    /// Per option kind (a bit each): pass untouched.
    allow: [u64; 4],
    /// Per option kind: drop the segment.
    drop: [u64; 4],
    /// `reserved-bits` (default allow).
    pub reserved_bits: Action,
    /// `urgent-flag allow` (default clear).
    pub urgent_allow: bool,
    /// `syn-data drop` (default allow).
    pub syn_data_drop: bool,
    /// `synack-data allow` (default drop).
    pub synack_data_allow: bool,
    /// `exceed-mss drop` (default allow).
    pub exceed_mss_drop: bool,
    /// `ttl-evasion-protection` (default on).
    pub ttl_evasion: bool,
    /// `tcp-options window-scale clear`.
    pub window_scale_clear: bool,
    /// `tcp-options selective-ack clear` (SACK-permitted and SACK blocks).
    pub sack_clear: bool,
}

/// The kinds the ASA passes by default (docs/asa-behaviour.md §6.1): MSS
/// (2), window scale (3), SACK-permitted (4), SACK (5), timestamps (8);
/// `tcp-options range` covers every other (6, 7, 9–255), cleared by
/// default.
const KEPT: [u64; 4] = [
    (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 8),
    0,
    0,
    0,
];

fn set(bits: &mut [u64; 4], kind: u8, on: bool) {
    let (w, b) = (usize::from(kind >> 6), kind & 63);
    if on {
        bits[w] |= 1 << b;
    } else {
        bits[w] &= !(1 << b);
    }
}

fn has(bits: &[u64; 4], kind: u8) -> bool {
    bits[usize::from(kind >> 6)] & (1 << (kind & 63)) != 0
}

/// The option kinds the named settings and the MSS clamp govern, which
/// no `tcp-options range` decides: MSS, window scale, SACK permitted,
/// SACK and timestamps.
const NAMED: [u8; 5] = [2, 3, 4, 5, 8];

impl TcpNormalizer {
    /// The ASA's defaults: what a class without a tcp-map gets.
    pub const DEFAULT: TcpNormalizer = TcpNormalizer {
        custom: false,
        allow: KEPT,
        drop: [0; 4],
        reserved_bits: Action::Allow,
        urgent_allow: false,
        syn_data_drop: false,
        synack_data_allow: false,
        exceed_mss_drop: false,
        ttl_evasion: true,
        window_scale_clear: false,
        sack_clear: false,
    };

    /// The settings of a tcp-map: `tcp-options range` lines in order, the
    /// last covering a kind deciding it; the named options after them
    /// (they govern kinds a range cannot name).
    pub fn from_map(m: &TcpMap) -> Self {
        let mut n = TcpNormalizer {
            reserved_bits: m.reserved_bits,
            urgent_allow: m.urgent_flag_allow,
            syn_data_drop: m.syn_data_drop,
            synack_data_allow: m.synack_data_allow,
            exceed_mss_drop: m.exceed_mss_drop,
            ttl_evasion: !m.ttl_evasion_protection_off,
            window_scale_clear: m.window_scale_clear,
            sack_clear: m.selective_ack_clear,
            ..Self::DEFAULT
        };
        for r in &m.ranges {
            // A range's ends are 6, 7 or 9-255, but it may span 8
            // (`range 7 9`, `range 6 255`): the named options (8,
            // timestamps, among them) are the named settings' alone.
            for kind in (r.lower..=r.upper).filter(|k| !NAMED.contains(k)) {
                set(&mut n.allow, kind, r.action == Action::Allow);
                set(&mut n.drop, kind, r.action == Action::Drop);
            }
        }
        set(&mut n.allow, 3, !m.window_scale_clear);
        set(&mut n.allow, 4, !m.selective_ack_clear);
        set(&mut n.allow, 5, !m.selective_ack_clear);
        set(&mut n.allow, 8, !m.timestamp_clear);
        n.custom = n != Self::DEFAULT;
        n
    }

    /// Whether these are other than the defaults.
    #[inline]
    pub fn is_custom(&self) -> bool {
        self.custom
    }

    /// What is done with an option of `kind` (not NOP or end of list).
    #[inline]
    pub fn option(&self, kind: u8) -> Action {
        if has(&self.drop, kind) {
            Action::Drop
        } else if has(&self.allow, kind) {
            Action::Allow
        } else {
            Action::Clear
        }
    }
}

impl Default for TcpNormalizer {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_asa::ast::TcpOptionRange;

    #[test]
    fn defaults_keep_the_five_kinds_and_clear_the_rest() {
        let d = TcpNormalizer::DEFAULT;
        for kind in [2, 3, 4, 5, 8] {
            assert_eq!(d.option(kind), Action::Allow, "{kind}");
        }
        for kind in [6, 7, 9, 19, 30, 254, 255] {
            assert_eq!(d.option(kind), Action::Clear, "{kind}");
        }
        assert_eq!(TcpNormalizer::from_map(&TcpMap::new("M")), d);
        assert!(!d.is_custom());
    }

    #[test]
    fn the_last_range_covering_a_kind_decides_it() {
        let mut m = TcpMap::new("M");
        m.ranges = vec![
            TcpOptionRange {
                lower: 9,
                upper: 255,
                action: Action::Drop,
            },
            TcpOptionRange {
                lower: 19,
                upper: 19,
                action: Action::Allow,
            },
        ];
        m.timestamp_clear = true;
        let n = TcpNormalizer::from_map(&m);
        assert!(n.is_custom());
        assert_eq!(n.option(19), Action::Allow);
        assert_eq!(n.option(20), Action::Drop);
        assert_eq!(n.option(255), Action::Drop);
        assert_eq!(n.option(6), Action::Clear);
        assert_eq!(n.option(8), Action::Clear);
        assert_eq!(n.option(2), Action::Allow);
    }

    /// A range spanning kind 8 (`range 7 9 drop`, `range 6 255 drop`: "drop
    /// every unknown option") leaves timestamps to `tcp-options
    /// timestamp`: it dropped every timestamped segment (review).
    #[test]
    fn a_range_spanning_timestamps_leaves_them_to_their_own_setting() {
        for (lower, upper) in [(7, 9), (6, 255)] {
            let mut m = TcpMap::new("M");
            m.ranges = vec![TcpOptionRange {
                lower,
                upper,
                action: Action::Drop,
            }];
            let n = TcpNormalizer::from_map(&m);
            assert_eq!(n.option(8), Action::Allow, "{lower}-{upper}");
            assert_eq!(n.option(7), Action::Drop);
            assert_eq!(n.option(9), Action::Drop);
            m.timestamp_clear = true;
            assert_eq!(TcpNormalizer::from_map(&m).option(8), Action::Clear);
        }
    }
}
