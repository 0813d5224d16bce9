//! The parser's errors: one per broken line or dangling reference, each
//! with its line and column, and all of a refused configuration together.

use std::fmt;

use thiserror::Error;

/// One error, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// Line, from 1.
    pub line: usize,
    /// Column (in characters), from 1; one past the end of the line for
    /// "expected …" at the end of a line.
    pub column: usize,
    /// What was expected or what is wrong.
    pub message: String,
}

/// All errors of a refused configuration, in line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseErrors(pub Vec<ParseError>);

impl fmt::Display for ParseErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseErrors {}

#[cfg(test)]
mod tests {
    use crate::parse::parse_config;

    #[test]
    fn errors_display_one_per_line() {
        let e = parse_config("bogus\naccess-list A permit").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column 1: unknown command 'bogus'\nline 2, column 21: expected protocol\n"
        );
        assert_eq!(
            e.0[0].to_string(),
            "line 1, column 1: unknown command 'bogus'"
        );
    }
}
