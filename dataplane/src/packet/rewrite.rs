//! In-place header rewrites with incremental checksum update (RFC 1624).
//!
//! The normalizer and sequence randomization change a few header fields of
//! frames that otherwise pass untouched; recomputing whole checksums would
//! read every payload byte, so the checksum is adjusted for the changed
//! 16-bit words only.

/// Adjust a one's-complement checksum for a 16-bit word changing from `old`
/// to `new` (RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`).
pub fn adjust16(checksum: u16, old: u16, new: u16) -> u16 {
    let mut sum = u32::from(!checksum) + u32::from(!old) + u32::from(new);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Adjust a checksum for a 32-bit field changing from `old` to `new`.
pub fn adjust32(checksum: u16, old: u32, new: u32) -> u16 {
    let c = adjust16(checksum, (old >> 16) as u16, (new >> 16) as u16);
    adjust16(c, old as u16, new as u16)
}

/// Read a big-endian u16 at `at`, if the frame holds it.
pub fn get16(frame: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(frame.get(at..at + 2)?.try_into().ok()?))
}

/// Read a big-endian u32 at `at`, if the frame holds it.
pub fn get32(frame: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(frame.get(at..at + 4)?.try_into().ok()?))
}

/// Write a big-endian u16 at `at`; false if out of bounds (nothing written).
pub fn set16(frame: &mut [u8], at: usize, v: u16) -> bool {
    match frame.get_mut(at..at + 2) {
        Some(b) => {
            b.copy_from_slice(&v.to_be_bytes());
            true
        }
        None => false,
    }
}

/// Write a big-endian u32 at `at`; false if out of bounds.
pub fn set32(frame: &mut [u8], at: usize, v: u32) -> bool {
    match frame.get_mut(at..at + 4) {
        Some(b) => {
            b.copy_from_slice(&v.to_be_bytes());
            true
        }
        None => false,
    }
}

/// Replace the 32-bit field at `field` and fix the checksum at `checksum`
/// (unless `fix_checksum` is false: with a partial checksum the NIC or
/// kernel computes it later over the new bytes). Returns false, changing
/// nothing, if either offset is out of bounds.
pub fn rewrite32(
    frame: &mut [u8],
    field: usize,
    checksum: usize,
    new: u32,
    fix_checksum: bool,
) -> bool {
    let (Some(old), Some(sum)) = (get32(frame, field), get16(frame, checksum)) else {
        return false;
    };
    set32(frame, field, new);
    if fix_checksum {
        set16(frame, checksum, adjust32(sum, old, new));
    }
    true
}

/// Replace the 32-bit field at `field`, which may start at an odd offset
/// from `origin` (where the checksummed words begin, e.g. a TCP option
/// after a single NOP), and fix the checksum at `checksum`. The Internet
/// checksum sums 16-bit words aligned on `origin` (RFC 1071 §1): a field
/// off that alignment straddles three words, and each is adjusted whole.
pub fn rewrite32_at(
    frame: &mut [u8],
    origin: usize,
    field: usize,
    checksum: usize,
    new: u32,
    fix_checksum: bool,
) -> bool {
    let Some(rel) = field.checked_sub(origin) else {
        return false;
    };
    if rel % 2 == 0 {
        return rewrite32(frame, field, checksum, new, fix_checksum);
    }
    let first = field - 1;
    let (Some(sum), Some(words)) = (get16(frame, checksum), frame.get(first..first + 6)) else {
        return false;
    };
    let mut old = [0u8; 6];
    old.copy_from_slice(words);
    let mut fresh = old;
    fresh[1..5].copy_from_slice(&new.to_be_bytes());
    frame[first..first + 6].copy_from_slice(&fresh);
    if fix_checksum {
        let sum = (0..3).fold(sum, |sum, w| {
            let word = |b: &[u8; 6]| u16::from_be_bytes([b[2 * w], b[2 * w + 1]]);
            adjust16(sum, word(&old), word(&fresh))
        });
        set16(frame, checksum, sum);
    }
    true
}

/// Replace the 16-bit field at `field` and fix the checksum at `checksum`.
pub fn rewrite16(
    frame: &mut [u8],
    field: usize,
    checksum: usize,
    new: u16,
    fix_checksum: bool,
) -> bool {
    let (Some(old), Some(sum)) = (get16(frame, field), get16(frame, checksum)) else {
        return false;
    };
    set16(frame, field, new);
    if fix_checksum {
        set16(frame, checksum, adjust16(sum, old, new));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Full one's-complement checksum of a byte string (even length).
    fn full(bytes: &[u8]) -> u16 {
        let mut sum: u32 = bytes
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn incremental_update_equals_recomputation() {
        let mut data: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37)).collect();
        data[10] = 0;
        data[11] = 0;
        let c = full(&data);
        data[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(full(&data), 0);
        for (old_at, new) in [(20usize, 0xdead_beefu32), (40, 0), (0, 0xffff_ffff)] {
            assert!(rewrite32(&mut data, old_at, 10, new, true));
            assert_eq!(full(&data), 0, "after writing {new:#x} at {old_at}");
        }
        assert!(rewrite16(&mut data, 30, 10, 0x1234, true));
        assert_eq!(full(&data), 0);
        assert!(!rewrite32(&mut data, 62, 10, 1, true), "out of bounds");
    }

    /// A 32-bit field at an odd offset (a SACK edge after a single NOP):
    /// the checksum stays right. `rewrite32` alone gets it wrong there.
    #[test]
    fn a_field_at_an_odd_offset_keeps_the_checksum_right() {
        let mut data: Vec<u8> = (0..64u8)
            .map(|i| i.wrapping_mul(91).wrapping_add(3))
            .collect();
        data[10] = 0;
        data[11] = 0;
        let c = full(&data);
        data[10..12].copy_from_slice(&c.to_be_bytes());
        for (at, new) in [
            (21usize, 0xdead_beefu32),
            (23, 0),
            (45, 0x0102_0304),
            (20, 7),
        ] {
            assert!(rewrite32_at(&mut data, 0, at, 10, new, true));
            assert_eq!(get32(&data, at), Some(new));
            assert_eq!(full(&data), 0, "after writing {new:#x} at {at}");
        }
        let mut naive = data.clone();
        assert!(rewrite32(&mut naive, 21, 10, 0x1234_5678, true));
        assert_ne!(
            full(&naive),
            0,
            "the aligned update is wrong at an odd offset"
        );
        assert!(
            !rewrite32_at(&mut data, 0, 61, 10, 1, true),
            "out of bounds"
        );
        assert!(
            !rewrite32_at(&mut data, 30, 21, 10, 1, true),
            "before the origin"
        );
    }
}
