//! The ASA policy language: parse → compile → match.

pub mod ast;
pub mod classifier;
pub mod compile;
pub mod parse;
pub mod ports;
pub mod render;
