//! The ASA policy language: parse → compile → match.
//!
//! [`parse_config`] turns configuration text into an [`ast::Config`] (or
//! every error with its line and column); [`render()`] prints a config back
//! as `show running-config` does.

pub mod ast;
pub mod classifier;
pub mod compile;
pub mod parse;
pub mod ports;
pub mod render;

pub use parse::{IgnoredLine, ParseError, ParseErrors, Parsed, parse_config};
pub use render::render;
