//! `fragment`: the limits of reassembly of IP fragments
//! (docs/asa-behaviour.md §2.8). `fragment size|chain|timeout N [IF]` sets
//! a limit for every interface, or with a nameif for that interface, whose
//! line wins over the line without one whatever their order; `no fragment
//! size|chain|timeout [N] [IF]` removes the line again (the interface
//! falls back on the line without an interface, that one on the ASA's
//! default). `fragment reassembly virtual [IF]` is what Rampart does anyway;
//! `full` is refused.

use crate::ast::{
    FRAGMENT_CHAIN_DEFAULT, FRAGMENT_SIZE_DEFAULT, FRAGMENT_TIMEOUT_DEFAULT_SECS, FragmentSettings,
};

use super::Parser;
use super::cursor::{Cur, R};
use super::refs::RefKind;

/// Largest `fragment size`: fragments waiting for reassembly at once on an
/// interface (Cisco ASA Series Command Reference, `fragment`; the PIX's
/// command reference allowed more, up to the blocks of memory).
const FRAGMENT_SIZE_MAX: u32 = 30_000;
/// Largest `fragment chain`: fragments of one datagram (Cisco ASA Series
/// Command Reference and Cisco PIX Firewall Command Reference, `fragment`:
/// "The maximum is 8200").
const FRAGMENT_CHAIN_MAX: u32 = 8_200;
/// Largest `fragment timeout`, in seconds (ibid.: "The maximum is 30
/// seconds").
const FRAGMENT_TIMEOUT_MAX_SECS: u32 = 30;

/// Why full reassembly is refused rather than taken as virtual: it changes
/// what leaves the firewall (one datagram, fragmented again by the egress
/// MTU, instead of the fragments as they came), which a configuration that
/// asks for it counts on.
pub(super) const REFUSE_FULL: &str = "full reassembly is not supported: Rampart reassembles \
     virtually only (a datagram is judged whole and its fragments pass on as they came); \
     remove the line, virtual is the default";

/// One of the three limits.
#[derive(Debug, Clone, Copy)]
enum Limit {
    Size,
    Chain,
    Timeout,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Limit::Size => "size",
            Limit::Chain => "chain",
            Limit::Timeout => "timeout",
        }
    }

    fn max(self) -> u32 {
        match self {
            Limit::Size => FRAGMENT_SIZE_MAX,
            Limit::Chain => FRAGMENT_CHAIN_MAX,
            Limit::Timeout => FRAGMENT_TIMEOUT_MAX_SECS,
        }
    }

    fn default(self) -> u32 {
        match self {
            Limit::Size => FRAGMENT_SIZE_DEFAULT,
            Limit::Chain => FRAGMENT_CHAIN_DEFAULT,
            Limit::Timeout => FRAGMENT_TIMEOUT_DEFAULT_SECS,
        }
    }

    fn slot(self, s: &mut FragmentSettings) -> &mut Option<u32> {
        match self {
            Limit::Size => &mut s.size,
            Limit::Chain => &mut s.chain,
            Limit::Timeout => &mut s.timeout,
        }
    }
}

const WHICH: &str = "'size', 'chain', 'timeout' or 'reassembly'";

impl Parser {
    /// `[no] fragment …`, the cursor after `fragment`.
    pub(super) fn fragment(&mut self, c: &mut Cur<'_>, negate: bool) -> R<()> {
        let limit = match c.peek() {
            Some("size") => Limit::Size,
            Some("chain") => Limit::Chain,
            Some("timeout") => Limit::Timeout,
            Some("reassembly") => {
                c.next();
                return self.fragment_reassembly(c, negate);
            }
            _ => return Err(c.expected(WHICH)),
        };
        c.next();
        // The number is optional in the `no` form (any value removes the
        // line), but checked when given.
        let number = c
            .peek()
            .is_some_and(|w| w.bytes().all(|b| b.is_ascii_digit()));
        let value = if negate && !number {
            None
        } else {
            Some(fragment_value(c, limit)?)
        };
        let iface = c.next();
        c.done()?;
        let fragment = &mut self.cfg.fragment;
        match iface {
            None => {
                // A value equal to the ASA's default is no line at all, as
                // `show running-config` shows it.
                *limit.slot(&mut fragment.global) =
                    value.filter(|&v| !negate && v != limit.default());
            }
            Some(t) => {
                let settings = fragment.interfaces.entry(t.text.to_string()).or_default();
                *limit.slot(settings) = if negate { None } else { value };
                if settings.is_empty() {
                    fragment.interfaces.remove(t.text);
                }
                self.reference(c, RefKind::Interface, t);
            }
        }
        Ok(())
    }

    /// `[no] fragment reassembly full|virtual [IF]`: virtual is Rampart's
    /// only mode, so it (and `no … full`) is taken and changes nothing;
    /// full (and `no … virtual`) is refused.
    fn fragment_reassembly(&mut self, c: &mut Cur<'_>, negate: bool) -> R<()> {
        let mode = c.word("'virtual' or 'full'")?;
        let full = match mode.text {
            "virtual" => negate,
            "full" => !negate,
            _ => {
                c.back();
                return Err(c.expected("'virtual' or 'full'"));
            }
        };
        if full {
            return Err(c.err_at(mode.col, REFUSE_FULL));
        }
        let iface = c.next();
        c.done()?;
        if let Some(t) = iface {
            self.reference(c, RefKind::Interface, t);
        }
        Ok(())
    }
}

/// The number after `fragment size|chain|timeout`, in its range.
fn fragment_value(c: &mut Cur<'_>, limit: Limit) -> R<u32> {
    let what = format!("fragment {} (1-{})", limit.name(), limit.max());
    let t = c.word(&what)?;
    if !t.text.bytes().all(|b| b.is_ascii_digit()) {
        c.back();
        return Err(c.expected(&what));
    }
    t.text
        .parse::<u32>()
        .ok()
        .filter(|v| (1..=limit.max()).contains(v))
        .ok_or_else(|| {
            c.err_at(
                t.col,
                format!("fragment {} must be 1-{}", limit.name(), limit.max()),
            )
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::REFUSE_FULL;
    use crate::ast::{FragmentConfig, FragmentSettings};
    use crate::parse::test_support::*;

    const IFACES: &str = "interface G0\n nameif outside\ninterface G1\n nameif inside\n";

    fn fragment(text: &str) -> FragmentConfig {
        cfg(&format!("{IFACES}{text}")).fragment
    }

    fn settings(size: Option<u32>, chain: Option<u32>, timeout: Option<u32>) -> FragmentSettings {
        FragmentSettings {
            size,
            chain,
            timeout,
        }
    }

    #[test]
    fn a_line_without_an_interface_sets_every_interfaces_limit() {
        let f = fragment("fragment size 1000\nfragment chain 1\nfragment timeout 30");
        assert_eq!(f.global, settings(Some(1000), Some(1), Some(30)));
        assert!(f.interfaces.is_empty());
        assert_eq!(f.of("outside"), f.global);
        // The last line of a kind wins.
        assert_eq!(
            fragment("fragment chain 1\nfragment chain 8200")
                .global
                .chain,
            Some(8200)
        );
        // Nothing is listed as ignored any more.
        assert!(
            parsed(&format!("{IFACES}fragment chain 1 outside"))
                .ignored
                .is_empty()
        );
    }

    /// The line naming an interface wins over the line without one,
    /// whichever comes first.
    #[test]
    fn an_interfaces_own_line_wins_in_either_order() {
        for text in [
            "fragment chain 1\nfragment chain 10 outside",
            "fragment chain 10 outside\nfragment chain 1",
        ] {
            let f = fragment(text);
            assert_eq!(f.global.chain, Some(1), "{text}");
            assert_eq!(
                f.interfaces,
                BTreeMap::from([("outside".to_string(), settings(None, Some(10), None))]),
                "{text}"
            );
            assert_eq!(f.of("outside").chain, Some(10), "{text}");
            assert_eq!(f.of("inside").chain, Some(1), "{text}");
        }
        // Each limit on its own: the interface's size, the global timeout.
        let f = fragment("fragment size 500 inside\nfragment timeout 9");
        assert_eq!(f.of("inside"), settings(Some(500), None, Some(9)));
        assert_eq!(f.of("outside"), settings(None, None, Some(9)));
    }

    #[test]
    fn no_fragment_restores_the_default() {
        let text = "fragment size 1000\nfragment chain 2 outside\nfragment timeout 7 outside\n";
        // Without an interface: the global line goes, with or without its
        // value; the interface's lines stay.
        for no in [
            "no fragment size",
            "no fragment size 1000",
            "no fragment size 9",
        ] {
            let f = fragment(&format!("{text}{no}"));
            assert_eq!(f.global, FragmentSettings::default(), "{no}");
            assert_eq!(f.interfaces["outside"], settings(None, Some(2), Some(7)));
        }
        // With one: that interface's line goes, and the interface follows
        // the global line again; with its last line, its entry goes.
        let f = fragment(&format!(
            "{text}fragment chain 3\nno fragment chain 2 outside"
        ));
        assert_eq!(f.of("outside"), settings(Some(1000), Some(3), Some(7)));
        let f = fragment(&format!(
            "{text}no fragment chain outside\nno fragment timeout 30 outside"
        ));
        assert!(f.interfaces.is_empty(), "{f:?}");
        // Removing what is not set changes nothing.
        assert_eq!(
            fragment("no fragment chain\nno fragment size inside"),
            FragmentConfig::default()
        );
    }

    /// `show running-config` prints no line for a value at its default, so
    /// the global line setting one is no line; an interface's own line is
    /// kept at any value, as it holds the interface against the global one.
    #[test]
    fn a_global_value_at_its_default_is_no_line() {
        let f =
            fragment("fragment chain 5\nfragment chain 24\nfragment size 200\nfragment timeout 5");
        assert_eq!(f, FragmentConfig::default());
        let f = fragment("fragment chain 24 inside\nfragment chain 1");
        assert_eq!(f.of("inside").chain, Some(24));
    }

    #[test]
    fn reassembly_virtual_is_taken_and_full_refused() {
        for text in [
            "fragment reassembly virtual",
            "fragment reassembly virtual outside",
            "no fragment reassembly full",
            "no fragment reassembly full inside",
        ] {
            let p = parsed(&format!("{IFACES}{text}"));
            assert_eq!(p.config.fragment, FragmentConfig::default(), "{text}");
            assert!(p.ignored.is_empty(), "{text}");
        }
        check_errors(&[
            ("fragment reassembly full", 1, 21, REFUSE_FULL),
            ("fragment reassembly full outside", 1, 21, REFUSE_FULL),
            ("no fragment reassembly virtual", 1, 24, REFUSE_FULL),
            (
                "fragment reassembly partial",
                1,
                21,
                "expected 'virtual' or 'full', found 'partial'",
            ),
            ("fragment reassembly", 1, 20, "expected 'virtual' or 'full'"),
            (
                "fragment reassembly virtual outside x",
                1,
                37,
                "unexpected 'x' after end of command",
            ),
        ]);
    }

    #[test]
    fn out_of_range_values_unknown_interfaces_and_extra_words_are_refused() {
        let refused = |text: &str, line, col, msg: &str| {
            assert_eq!(
                err(&format!("{IFACES}{text}")),
                (line, col, msg.to_string()),
                "{text}"
            );
        };
        refused("fragment size 0", 5, 15, "fragment size must be 1-30000");
        refused(
            "fragment size 30001",
            5,
            15,
            "fragment size must be 1-30000",
        );
        refused(
            "fragment chain 8201 outside",
            5,
            16,
            "fragment chain must be 1-8200",
        );
        refused(
            "fragment timeout 31",
            5,
            18,
            "fragment timeout must be 1-30",
        );
        refused(
            "fragment timeout 0 inside",
            5,
            18,
            "fragment timeout must be 1-30",
        );
        refused(
            "fragment size 99999999999999999999",
            5,
            15,
            "fragment size must be 1-30000",
        );
        refused(
            "no fragment chain 0",
            5,
            19,
            "fragment chain must be 1-8200",
        );
        refused(
            "fragment size -1",
            5,
            15,
            "expected fragment size (1-30000), found '-1'",
        );
        refused(
            "fragment chain outside",
            5,
            16,
            "expected fragment chain (1-8200), found 'outside'",
        );
        refused(
            "fragment timeout",
            5,
            17,
            "expected fragment timeout (1-30)",
        );
        refused(
            "fragment",
            5,
            9,
            "expected 'size', 'chain', 'timeout' or 'reassembly'",
        );
        refused(
            "fragment queue 5",
            5,
            10,
            "expected 'size', 'chain', 'timeout' or 'reassembly', found 'queue'",
        );
        refused(
            "fragment chain 1 outside inside",
            5,
            26,
            "unexpected 'inside' after end of command",
        );
        refused(
            "no fragment size 200 outside x",
            5,
            30,
            "unexpected 'x' after end of command",
        );
        // A nameif no interface has, in every form; a reference may come
        // before the interface's block.
        refused(
            "fragment chain 1 dmz",
            5,
            18,
            "no interface has nameif 'dmz'",
        );
        refused(
            "no fragment size dmz",
            5,
            18,
            "no interface has nameif 'dmz'",
        );
        refused(
            "fragment reassembly virtual dmz",
            5,
            29,
            "no interface has nameif 'dmz'",
        );
        assert_eq!(
            cfg("fragment chain 1 dmz\ninterface G2\n nameif dmz")
                .fragment
                .of("dmz")
                .chain,
            Some(1)
        );
        // Without interface blocks the node's interfaces are checked when
        // the policy is compiled (`rampart_dataplane::policy::compile`).
        assert_eq!(
            cfg("fragment chain 1 dmz").fragment.of("dmz").chain,
            Some(1)
        );
    }
}
