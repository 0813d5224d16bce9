//! Showing user-supplied text in an error message (docs/ops.md §5).
//!
//! An error that quotes what it refused helps, but the text is the
//! requester's: it may be megabytes long, or hold NUL, escape sequences
//! that repaint an operator's terminal, or bidirectional overrides that
//! make a log line read differently from what it holds. So quoted text is
//! escaped (anything but printable ASCII becomes `\u{…}`, `\n` or `\t`)
//! and cut to a bound, with an ellipsis (`...`, ASCII like the rest) and
//! the whole length.

use std::fmt;

/// Most characters of escaped text an error message shows of a name, a
/// value or a path.
pub const MAX_ECHO_CHARS: usize = 64;

/// Most characters shown of a longer message that carries user text (a
/// parser's error with its source line, a configuration problem).
pub const MAX_ECHO_MESSAGE_CHARS: usize = 512;

/// `text`, escaped and cut to [`MAX_ECHO_CHARS`], for `{}`.
pub fn echo(text: &str) -> Echo<'_> {
    Echo {
        text,
        max_chars: MAX_ECHO_CHARS,
    }
}

/// A message holding user text, escaped and cut to
/// [`MAX_ECHO_MESSAGE_CHARS`]; line breaks are kept.
pub fn echo_message(text: &str) -> String {
    text.lines()
        .map(|l| {
            Echo {
                text: l,
                max_chars: MAX_ECHO_MESSAGE_CHARS,
            }
            .to_string()
        })
        .take(MAX_ECHO_MESSAGE_CHARS / 16)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `c` may not reach a terminal as it is: a control character
/// (C0, DEL, C1: escape sequences start with ESC or CSI) or a
/// bidirectional formatting character (it makes a line read other than it
/// is).
fn unsafe_for_terminal(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// A whole text the CLI prints that came from whatever answers on the
/// admin port (a `show` table, the running config, a note): control and
/// bidirectional characters escaped as `\u{…}`, line breaks and tabs kept,
/// everything else (names in any script) as it is, and not cut (a table
/// is as long as it is). docs/ops.md §5.
pub fn terminal_text(text: &str) -> String {
    if !text
        .chars()
        .any(|c| c != '\n' && c != '\t' && unsafe_for_terminal(c))
    {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c != '\n' && c != '\t' && unsafe_for_terminal(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// JSON the CLI prints (`--json`) from such an answer, still valid JSON:
/// the encoder escapes C0 controls already, and what else
/// [`terminal_text`] would escape (DEL, C1, bidirectional characters, only
/// ever inside strings) becomes a JSON `\uXXXX` escape.
pub fn terminal_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c != '\n' && c != '\t' && unsafe_for_terminal(c) {
            // Every such character is in the Basic Multilingual Plane.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// User text, shown escaped and bounded.
#[derive(Debug, Clone, Copy)]
pub struct Echo<'a> {
    text: &'a str,
    max_chars: usize,
}

impl fmt::Display for Echo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = 0;
        for c in self.text.chars() {
            let escaped = c.escape_default();
            let n = escaped.len();
            if shown + n > self.max_chars {
                return write!(f, "... ({} bytes in all)", self.text.len());
            }
            shown += n;
            match c {
                // Quotes and backslashes are safe to show as they are;
                // escaping them would only make names harder to read.
                '\'' | '"' | '\\' => write!(f, "{c}")?,
                _ => write!(f, "{escaped}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_passes_as_it_is() {
        assert_eq!(
            echo("eth1.100_a-b 'x' \"y\" \\").to_string(),
            "eth1.100_a-b 'x' \"y\" \\"
        );
    }

    #[test]
    fn control_and_non_ascii_characters_are_escaped() {
        assert_eq!(echo("a\0b").to_string(), "a\\u{0}b");
        assert_eq!(echo("\x1b[2J").to_string(), "\\u{1b}[2J");
        assert_eq!(echo("x\ny\tz").to_string(), "x\\ny\\tz");
        assert_eq!(echo("evil\u{202e}txt").to_string(), "evil\\u{202e}txt");
        assert_eq!(echo("é").to_string(), "\\u{e9}");
    }

    /// What the CLI prints of an answer keeps its lines and its names, and
    /// loses every escape sequence.
    #[test]
    fn terminal_text_escapes_controls_and_keeps_lines() {
        assert_eq!(
            terminal_text("a\tb\nname-é\n"),
            "a\tb\nname-é\n",
            "unchanged"
        );
        assert_eq!(
            terminal_text("\x1b]0;x\x07\x1b[2J\r\u{9b}2J\u{202e}txt\n"),
            "\\u{1b}]0;x\\u{7}\\u{1b}[2J\\u{d}\\u{9b}2J\\u{202e}txt\n"
        );
        let json = serde_json::to_string("a\x1b[2J\u{9b}\u{202e}\x7f").unwrap();
        let safe = terminal_json(&json);
        assert!(!safe.chars().any(unsafe_for_terminal), "{safe}");
        assert_eq!(
            serde_json::from_str::<String>(&safe).unwrap(),
            "a\x1b[2J\u{9b}\u{202e}\x7f",
            "still the same JSON"
        );
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis_and_its_length() {
        let long = "a".repeat(10 << 20);
        assert_eq!(
            echo(&long).to_string(),
            format!("{}... (10485760 bytes in all)", "a".repeat(MAX_ECHO_CHARS))
        );
        let exact = "b".repeat(MAX_ECHO_CHARS);
        assert_eq!(echo(&exact).to_string(), exact);
        // The bound counts escaped characters: a NUL costs six.
        let nuls = "\0".repeat(100);
        let shown = echo(&nuls).to_string();
        assert!(shown.starts_with("\\u{0}\\u{0}") && shown.ends_with("... (100 bytes in all)"));
        assert!(shown.len() <= MAX_ECHO_CHARS + "... (100 bytes in all)".len());
    }

    #[test]
    fn messages_keep_their_lines_but_bound_each_and_their_number() {
        assert_eq!(echo_message("line 1\nx\x07y"), "line 1\nx\\u{7}y");
        let many = "l\n".repeat(10_000);
        assert_eq!(
            echo_message(&many).lines().count(),
            MAX_ECHO_MESSAGE_CHARS / 16
        );
        let wide = "w".repeat(1 << 20);
        assert!(echo_message(&wide).len() < MAX_ECHO_MESSAGE_CHARS + 40);
    }
}
