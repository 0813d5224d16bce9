//! The ASA policy language Rampart enforces, on its own: the configuration
//! as an AST ([`ast`]), the parser from configuration text ([`parse`]), the
//! renderer back to `show running-config` text ([`render()`]) and the ASA's
//! port and protocol literals ([`ports`]) and ICMP type names ([`icmp`]).
//!
//! [`parse_config`] turns configuration text into an [`ast::Config`] (or
//! every error with its line and column); [`render()`] prints a config back
//! as `show running-config` does. Compiling a config into a classifier is
//! the engine's job (`rampart_dataplane::policy::compile`); nothing here
//! knows about packets or interfaces beyond their names.

pub mod ast;
pub mod icmp;
pub mod parse;
pub mod ports;
pub mod render;
pub mod time;

pub use parse::{
    CaptureCommand, CaptureDef, CaptureFilter, CaptureMatch, CaptureType, parse_capture,
};
pub use parse::{EntryPlaces, IgnoredLine, ParseError, ParseErrors, Parsed, parse_config};
pub use render::render;
