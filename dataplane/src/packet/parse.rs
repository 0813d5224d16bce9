//! TEMPORARY stub until the parser lands.
use super::{PacketMeta, Parsed};
use crate::verdict::DropReason;
/// Stub.
pub fn parse(_frame: &[u8], _meta: PacketMeta) -> Result<Parsed, DropReason> {
    Err(DropReason::L2Truncated)
}
