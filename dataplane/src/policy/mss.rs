//! The MSS clamp of `sysopt connection tcpmss [minimum] N`, resolved
//! (docs/asa-behaviour.md §6.3): what the MSS option of a SYN or SYN-ACK
//! passing the firewall becomes.

use super::ast;

/// The bounds a SYN's or SYN-ACK's MSS option is brought within; 0 turns
/// a bound off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MssClamp {
    /// `sysopt connection tcpmss N`: a larger MSS is lowered to it.
    pub maximum: u16,
    /// `sysopt connection tcpmss minimum N`: a smaller MSS is raised to it.
    pub minimum: u16,
}

impl Default for MssClamp {
    /// The ASA's defaults: maximum 1380, no minimum.
    fn default() -> Self {
        MssClamp::of(&ast::TcpMss::default())
    }
}

impl MssClamp {
    /// No clamp: every MSS stays as announced.
    pub const OFF: MssClamp = MssClamp {
        maximum: 0,
        minimum: 0,
    };

    /// The clamp of a configuration's `sysopt connection tcpmss` lines,
    /// the ASA's default where none is set.
    pub fn of(t: &ast::TcpMss) -> Self {
        MssClamp {
            maximum: t.maximum_or_default(),
            minimum: t.minimum_or_default(),
        }
    }

    /// The MSS a receiver gets for one announced as `mss`. "If either
    /// endpoint of a connection requests a TCP MSS that is larger than the
    /// value set on the ASA, then the ASA overwrites the TCP MSS in the
    /// request packet with the ASA maximum", and a minimum "can adjust the
    /// value up" (Cisco ASA Series General Operations CLI Configuration
    /// Guide, "About the TCP MSS"). With a minimum above the maximum the
    /// maximum wins (*inferred*: no source says; the maximum is what keeps
    /// segments within the path's MTU, the reason the clamp exists).
    pub fn apply(self, mss: u16) -> u16 {
        let raised = if self.minimum != 0 {
            mss.max(self.minimum)
        } else {
            mss
        };
        if self.maximum != 0 {
            raised.min(self.maximum)
        } else {
            raised
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_lowers_to_1380_and_raises_nothing() {
        let d = MssClamp::default();
        assert_eq!((d.maximum, d.minimum), (1380, 0));
        assert_eq!(d.apply(1460), 1380);
        assert_eq!(d.apply(1380), 1380);
        assert_eq!(d.apply(1200), 1200);
        assert_eq!(d.apply(1), 1);
        assert_eq!(MssClamp::OFF.apply(65535), 65535);
        assert_eq!(MssClamp::OFF.apply(0), 0);
    }

    #[test]
    fn a_minimum_raises_and_the_maximum_wins_over_it() {
        let c = MssClamp {
            maximum: 1380,
            minimum: 400,
        };
        assert_eq!(c.apply(100), 400);
        assert_eq!(c.apply(400), 400);
        assert_eq!(c.apply(9000), 1380);
        let only_min = MssClamp {
            maximum: 0,
            minimum: 400,
        };
        assert_eq!(only_min.apply(9000), 9000);
        assert_eq!(only_min.apply(48), 400);
        let crossed = MssClamp {
            maximum: 500,
            minimum: 1000,
        };
        assert_eq!(crossed.apply(100), 500);
        assert_eq!(crossed.apply(700), 500);
    }

    #[test]
    fn the_clamp_of_a_configuration() {
        let t = ast::TcpMss {
            maximum: Some(0),
            minimum: Some(536),
        };
        assert_eq!(
            MssClamp::of(&t),
            MssClamp {
                maximum: 0,
                minimum: 536
            }
        );
    }
}
