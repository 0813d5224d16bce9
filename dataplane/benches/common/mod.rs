//! What the dataplane benches share: a fixed-seed PRNG for shuffles and
//! the hosts of flow `i`. Included by each bench with `mod common;`.

use std::net::Ipv4Addr;

use rampart_dataplane::IfaceId;
use rampart_dataplane::trace::Host;

/// A tiny fixed-seed PRNG (xorshift64*) for the shuffles.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, (self.next() % (i as u64 + 1)) as usize);
        }
    }
}

/// The hosts of flow `i` (client inside, server outside): distinct
/// addresses and ports for `i < 2^24`.
pub fn hosts(i: u32) -> (Host, Host) {
    let client = Host {
        mac: [2, 0, 0, 0, 0, 1],
        ip: Ipv4Addr::new(198, 18, (i >> 16) as u8, (i >> 8) as u8).into(),
        port: 1024 + (i & 0xff) as u16 * 200,
        iface: IfaceId(0),
    };
    let server = Host {
        mac: [2, 0, 0, 0, 0, 2],
        ip: Ipv4Addr::new(198, 19, (i >> 8) as u8, i as u8).into(),
        port: 443,
        iface: IfaceId(1),
    };
    (client, server)
}
