//! Lexing: a configuration line as words with their columns, and a cursor
//! that walks them and builds errors at the right column.

use super::ParseError;

/// A word of a line and where it starts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tok<'a> {
    pub(super) text: &'a str,
    /// 1-based column, in characters.
    pub(super) col: usize,
    /// Byte offset in the line.
    byte: usize,
}

/// A cursor over one line's words.
#[derive(Debug)]
pub(super) struct Cur<'a> {
    pub(super) line: usize,
    pub(super) raw: &'a str,
    toks: Vec<Tok<'a>>,
    i: usize,
}

pub(super) type R<T> = Result<T, ParseError>;

impl<'a> Cur<'a> {
    pub(super) fn new(line: usize, raw: &'a str) -> Self {
        let mut toks = Vec::new();
        let mut start: Option<(usize, usize)> = None;
        for (col, (byte, ch)) in raw.char_indices().enumerate() {
            if ch.is_whitespace() {
                if let Some((b, c)) = start.take() {
                    toks.push(Tok {
                        text: &raw[b..byte],
                        col: c,
                        byte: b,
                    });
                }
            } else if start.is_none() {
                start = Some((byte, col + 1));
            }
        }
        if let Some((b, c)) = start {
            toks.push(Tok {
                text: &raw[b..],
                col: c,
                byte: b,
            });
        }
        Cur {
            line,
            raw,
            toks,
            i: 0,
        }
    }

    pub(super) fn indented(&self) -> bool {
        self.raw.starts_with(char::is_whitespace)
    }

    /// One past the last character of the line.
    pub(super) fn end_col(&self) -> usize {
        self.raw.trim_end().chars().count() + 1
    }

    /// Column of the last word of the line that is `word`.
    pub(super) fn last_col_of(&self, word: &str) -> Option<usize> {
        self.toks
            .iter()
            .rev()
            .find(|t| t.text == word)
            .map(|t| t.col)
    }

    pub(super) fn peek(&self) -> Option<&'a str> {
        self.toks.get(self.i).map(|t| t.text)
    }

    pub(super) fn peek_at(&self, k: usize) -> Option<&'a str> {
        self.toks.get(self.i + k).map(|t| t.text)
    }

    /// Column of the next word, or one past the end.
    pub(super) fn col(&self) -> usize {
        self.toks
            .get(self.i)
            .map_or_else(|| self.end_col(), |t| t.col)
    }

    pub(super) fn next(&mut self) -> Option<Tok<'a>> {
        let t = self.toks.get(self.i).copied()?;
        self.i += 1;
        Some(t)
    }

    pub(super) fn back(&mut self) {
        self.i = self.i.saturating_sub(1);
    }

    pub(super) fn err_at(&self, col: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            column: col,
            message: message.into(),
        }
    }

    /// An error at the next word (or the end of the line).
    pub(super) fn err(&self, message: impl Into<String>) -> ParseError {
        self.err_at(self.col(), message)
    }

    /// "expected X" at the next word, naming what was found, or at the end.
    pub(super) fn expected(&self, what: &str) -> ParseError {
        match self.toks.get(self.i) {
            Some(t) => self.err_at(t.col, format!("expected {what}, found '{}'", t.text)),
            None => self.err_at(self.end_col(), format!("expected {what}")),
        }
    }

    /// The next word, or "expected WHAT".
    pub(super) fn word(&mut self, what: &str) -> R<Tok<'a>> {
        self.next().ok_or_else(|| self.expected(what))
    }

    pub(super) fn eat(&mut self, w: &str) -> bool {
        if self.peek() == Some(w) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn keyword(&mut self, w: &str) -> R<()> {
        if self.eat(w) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{w}'")))
        }
    }

    /// The rest of the line from the next word, verbatim (trailing
    /// whitespace dropped), and its column; consumes every word.
    pub(super) fn rest(&mut self) -> Option<(&'a str, usize)> {
        let t = self.toks.get(self.i).copied()?;
        self.i = self.toks.len();
        Some((self.raw[t.byte..].trim_end(), t.col))
    }

    /// The remaining words joined by single spaces.
    pub(super) fn rest_words(&mut self) -> String {
        let words: Vec<&str> = self.toks[self.i.min(self.toks.len())..]
            .iter()
            .map(|t| t.text)
            .collect();
        self.i = self.toks.len();
        words.join(" ")
    }

    pub(super) fn done(&self) -> R<()> {
        match self.toks.get(self.i) {
            None => Ok(()),
            Some(t) => Err(self.err_at(
                t.col,
                format!("unexpected '{}' after end of command", t.text),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse::test_support::*;

    #[test]
    fn comments_blank_lines_and_line_endings() {
        let c = cfg("! a comment\n: Saved\n\n   \r\naccess-list A permit ip any any\r\n");
        assert_eq!(c.access_lists[0].lines.len(), 1);
        // Columns count characters, tabs included, from 1.
        assert_eq!(
            err("access-list\tA\tpermit ip any"),
            (1, 28, "expected destination address".into())
        );
        assert_eq!(
            err("access-list é permit ip any fo"),
            (1, 29, "expected destination address, found 'fo'".into())
        );
    }
}
