//! The ASA policy language: parse → compile → match.
//!
//! The language itself (AST, parser, renderer, port tables) is the
//! `rampart-asa` crate, re-exported here so `policy::parse`, `policy::ast`,
//! … keep their paths; [`compile`] turns a parsed [`ast::Config`] into the
//! [`classifier`] the engine matches packets with.
//!
//! [`parse_config`] turns configuration text into an [`ast::Config`] (or
//! every error with its line and column); [`render()`] prints a config back
//! as `show running-config` does.

pub mod classifier;
pub mod compile;
pub mod listing;
pub mod locate;
pub mod mss;
pub mod tcp_map;

// `render` names both the module and its function, as in `rampart_asa`.
pub use rampart_asa::{IgnoredLine, ParseError, ParseErrors, Parsed, parse_config};
pub use rampart_asa::{ast, icmp, parse, ports, render, time};
