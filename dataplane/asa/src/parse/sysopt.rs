//! `sysopt`: of the ASA's system options Rampart applies the MSS clamp,
//! `[no] sysopt connection tcpmss [minimum] [N]` (docs/asa-behaviour.md
//! §6.3); every other `sysopt` line (`sysopt connection permit-vpn`,
//! `sysopt noproxyarp IF`, …) is accepted and listed as ignored, as before.
//!
//! Syntax, ranges and defaults are the Cisco ASA Series Command
//! Reference's, `sysopt connection tcpmss`: `sysopt connection tcpmss
//! [minimum] bytes`, `no sysopt connection tcpmss [minimum] [bytes]`; the
//! maximum is "between 48 and any maximum number" (an MSS is a 16-bit
//! field, RFC 9293 §3.2, so 65535), default 1380, and 0 disables it; the
//! minimum is "between 48 and 65535", off by default.

use crate::ast::{TCPMSS_DEFAULT, TCPMSS_MINIMUM_DEFAULT};

use super::Parser;
use super::cursor::{Cur, R};
use super::modes::REASON_HARMLESS;

/// Least nonzero value of either bound (Command Reference, above).
const TCPMSS_LEAST: u16 = 48;

impl Parser {
    /// `[no] sysopt …`, the cursor after `sysopt`.
    pub(super) fn sysopt(&mut self, c: &mut Cur<'_>, negate: bool) -> R<()> {
        if c.peek() != Some("connection") || c.peek_at(1) != Some("tcpmss") {
            self.ignore(c, REASON_HARMLESS);
            return Ok(());
        }
        c.next();
        c.next();
        let minimum = c.eat("minimum");
        let what = if minimum {
            "sysopt connection tcpmss minimum"
        } else {
            "sysopt connection tcpmss"
        };
        // The number is optional in the `no` form (any value restores the
        // default), but checked when given.
        let value = if negate && c.peek().is_none() {
            None
        } else {
            Some(tcpmss_value(c, what)?)
        };
        c.done()?;
        let (slot, default) = if minimum {
            (&mut self.cfg.tcpmss.minimum, TCPMSS_MINIMUM_DEFAULT)
        } else {
            (&mut self.cfg.tcpmss.maximum, TCPMSS_DEFAULT)
        };
        // A value equal to the ASA's default is no line at all, as `show
        // running-config` shows it.
        *slot = value.filter(|&v| !negate && v != default);
        Ok(())
    }
}

/// The number after `sysopt connection tcpmss [minimum]`: 0, or 48-65535.
fn tcpmss_value(c: &mut Cur<'_>, what: &str) -> R<u16> {
    let expected = format!("{what} bytes (0 or {TCPMSS_LEAST}-65535)");
    let t = c.word(&expected)?;
    if !t.text.bytes().all(|b| b.is_ascii_digit()) {
        c.back();
        return Err(c.expected(&expected));
    }
    t.text
        .parse::<u16>()
        .ok()
        .filter(|&v| v == 0 || v >= TCPMSS_LEAST)
        .ok_or_else(|| c.err_at(t.col, format!("{what} must be 0 or {TCPMSS_LEAST}-65535")))
}

#[cfg(test)]
mod tests {
    use crate::ast::TcpMss;
    use crate::parse::modes::REASON_HARMLESS;
    use crate::parse::test_support::*;

    fn tcpmss(text: &str) -> TcpMss {
        cfg(text).tcpmss
    }

    #[test]
    fn the_maximum_and_the_minimum_are_kept_and_defaults_are_no_line() {
        assert_eq!(tcpmss(""), TcpMss::default());
        assert_eq!(tcpmss("").maximum_or_default(), 1380);
        assert_eq!(tcpmss("").minimum_or_default(), 0);
        let t = tcpmss("sysopt connection tcpmss 1200\nsysopt connection tcpmss minimum 400");
        assert_eq!((t.maximum, t.minimum), (Some(1200), Some(400)));
        assert_eq!(
            (t.maximum_or_default(), t.minimum_or_default()),
            (1200, 400)
        );
        // 0 turns the clamp off: not the default, so kept.
        assert_eq!(tcpmss("sysopt connection tcpmss 0").maximum, Some(0));
        assert_eq!(
            tcpmss("sysopt connection tcpmss 65535").maximum,
            Some(65535)
        );
        assert_eq!(
            tcpmss("sysopt connection tcpmss minimum 48").minimum,
            Some(48)
        );
        // The default itself is no line, and a later line replaces an
        // earlier one.
        assert_eq!(tcpmss("sysopt connection tcpmss 1380"), TcpMss::default());
        assert_eq!(
            tcpmss("sysopt connection tcpmss 1200\nsysopt connection tcpmss 1380"),
            TcpMss::default()
        );
        assert_eq!(
            tcpmss("sysopt connection tcpmss minimum 400\nsysopt connection tcpmss minimum 0"),
            TcpMss::default()
        );
    }

    #[test]
    fn no_restores_the_default_with_or_without_the_value() {
        let set = "sysopt connection tcpmss 1200\nsysopt connection tcpmss minimum 400\n";
        let t = tcpmss(&format!("{set}no sysopt connection tcpmss"));
        assert_eq!((t.maximum, t.minimum), (None, Some(400)));
        let t = tcpmss(&format!("{set}no sysopt connection tcpmss minimum 400"));
        assert_eq!((t.maximum, t.minimum), (Some(1200), None));
        let t = tcpmss(&format!(
            "{set}no sysopt connection tcpmss 1200\nno sysopt connection tcpmss minimum"
        ));
        assert_eq!(t, TcpMss::default());
        // Removing what is not set changes nothing and is no error.
        assert_eq!(tcpmss("no sysopt connection tcpmss"), TcpMss::default());
        assert!(parsed("no sysopt connection tcpmss").ignored.is_empty());
    }

    #[test]
    fn other_sysopt_lines_stay_ignored() {
        let text = "sysopt connection permit-vpn\nno sysopt connection permit-vpn\n\
                    sysopt noproxyarp inside\nsysopt connection timewait\n\
                    sysopt connection tcpmss 1300";
        assert_eq!(
            ignored(text),
            [1, 2, 3, 4].map(|l| (l, REASON_HARMLESS)).to_vec()
        );
        assert_eq!(tcpmss(text).maximum, Some(1300));
    }

    #[test]
    fn bad_values_are_refused_at_the_value() {
        check_errors(&[
            (
                "sysopt connection tcpmss 47",
                1,
                26,
                "sysopt connection tcpmss must be 0 or 48-65535",
            ),
            (
                "sysopt connection tcpmss 65536",
                1,
                26,
                "sysopt connection tcpmss must be 0 or 48-65535",
            ),
            (
                "sysopt connection tcpmss minimum 1",
                1,
                34,
                "sysopt connection tcpmss minimum must be 0 or 48-65535",
            ),
            (
                "sysopt connection tcpmss",
                1,
                25,
                "expected sysopt connection tcpmss bytes (0 or 48-65535)",
            ),
            (
                "sysopt connection tcpmss minimum",
                1,
                33,
                "expected sysopt connection tcpmss minimum bytes (0 or 48-65535)",
            ),
            (
                "sysopt connection tcpmss big",
                1,
                26,
                "expected sysopt connection tcpmss bytes (0 or 48-65535), found 'big'",
            ),
            (
                "sysopt connection tcpmss -5",
                1,
                26,
                "expected sysopt connection tcpmss bytes (0 or 48-65535), found '-5'",
            ),
            (
                "sysopt connection tcpmss 1200 outside",
                1,
                31,
                "unexpected 'outside' after end of command",
            ),
            (
                "no sysopt connection tcpmss 12",
                1,
                29,
                "sysopt connection tcpmss must be 0 or 48-65535",
            ),
            (
                "no sysopt connection tcpmss minimum x",
                1,
                37,
                "expected sysopt connection tcpmss minimum bytes (0 or 48-65535), found 'x'",
            ),
        ]);
    }
}
