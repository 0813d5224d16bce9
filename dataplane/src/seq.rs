//! TCP sequence numbers with serial arithmetic (RFC 1982, RFC 9293 §3.4).

use std::fmt;
use std::ops::{Add, Sub};

/// A 32-bit TCP sequence or acknowledgement number. Comparisons wrap: `a < b`
/// means `b` lies in the half of the number space after `a`, so tracking works
/// across the 2^32 wrap-around.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// Signed distance from `other` to `self`.
    pub fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
    /// `self` strictly after `other` in serial order.
    pub fn after(self, other: SeqNumber) -> bool {
        self.diff(other) > 0
    }
    /// `self` strictly before `other` in serial order.
    pub fn before(self, other: SeqNumber) -> bool {
        self.diff(other) < 0
    }
    /// The later of the two in serial order.
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self.after(other) { self } else { other }
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    fn sub(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(n))
    }
}

impl fmt::Debug for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seq({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_around_two_to_the_32() {
        let near_end = SeqNumber(u32::MAX - 10);
        let wrapped = near_end + 20;
        assert_eq!(wrapped, SeqNumber(9));
        assert!(wrapped.after(near_end));
        assert!(near_end.before(wrapped));
        assert_eq!(wrapped.diff(near_end), 20);
        assert_eq!(near_end.max(wrapped), wrapped);
        assert_eq!(wrapped - 20, near_end);
    }
}
