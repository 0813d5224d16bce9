//! The index of a class slot: a leaf type, so that conntrack entries can
//! name the slot they were given without the conntrack module depending on
//! the engine that owns the slots (`engine::classes`).

/// Index of a class slot, stored in every entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SlotId(pub u16);

/// The slot of connections no class with connection settings matched.
pub const DEFAULT_SLOT: SlotId = SlotId(0);
