//! A data interface as the engine and the policy compiler see it: a leaf
//! module, so the compiler (which resolves `nameif`s) and the engine (which
//! forwards between paired interfaces) share it without depending on each
//! other.

use crate::verdict::IfaceId;

/// A data interface as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// The ASA `nameif` (e.g. `inside`, `outside`).
    pub nameif: String,
    /// ASA `security-level`, 0–100: with no access rule, connections may
    /// open only from a higher level to a lower one.
    pub security_level: u8,
    /// Where frames received here leave (transparent-bridge pairing).
    pub peer: IfaceId,
}

impl InterfaceConfig {
    /// The ASA transparent-mode default pair: `inside` (security 100,
    /// index 0) and `outside` (security 0, index 1), each bridged to the
    /// other.
    pub fn inside_outside() -> Vec<InterfaceConfig> {
        vec![
            InterfaceConfig {
                nameif: "inside".into(),
                security_level: 100,
                peer: IfaceId(1),
            },
            InterfaceConfig {
                nameif: "outside".into(),
                security_level: 0,
                peer: IfaceId(0),
            },
        ]
    }
}
