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
