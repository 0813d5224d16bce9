//! A capture's buffer: one block of bytes allocated once, of exactly
//! the bytes the capture may hold, its frames laid end to end, each after
//! a header of [`HEADER_BYTES`], wrapping from the end to the start (the
//! ASA keeps a capture the same way, one buffer of packets and headers;
//! docs/asa-behaviour.md §2.11). Nothing grows as frames come: the
//! memory held is the block, whatever the frames.

/// Bytes of a frame's header: its time (8), its length on the wire (4),
/// the bytes kept (2), its interface (1) and where it was seen with its
/// drop reason (1).
pub const HEADER_BYTES: usize = 16;

/// A frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub at_ns: u64,
    pub wire_len: u32,
    pub len: u16,
    pub iface: u8,
    pub tag: u8,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut h = [0; HEADER_BYTES];
        h[..8].copy_from_slice(&self.at_ns.to_le_bytes());
        h[8..12].copy_from_slice(&self.wire_len.to_le_bytes());
        h[12..14].copy_from_slice(&self.len.to_le_bytes());
        h[14] = self.iface;
        h[15] = self.tag;
        h
    }

    fn decode(h: &[u8; HEADER_BYTES]) -> Header {
        Header {
            at_ns: u64::from_le_bytes(h[..8].try_into().expect("8 bytes")),
            wire_len: u32::from_le_bytes(h[8..12].try_into().expect("4 bytes")),
            len: u16::from_le_bytes([h[12], h[13]]),
            iface: h[14],
            tag: h[15],
        }
    }
}

/// The frames of one capture, oldest first.
#[derive(Debug, Clone)]
pub(super) struct Ring {
    buf: Box<[u8]>,
    /// Where the oldest frame's header starts.
    head: usize,
    /// Bytes in use, headers included.
    used: usize,
    /// Frames held.
    count: usize,
    /// Frame bytes held, headers not included.
    data: usize,
    /// Sequence number of the oldest frame (frames are numbered as they
    /// come, from 0; a clear skips those it let go).
    first: u64,
}

impl Ring {
    /// A buffer of exactly `bytes`.
    pub fn new(bytes: usize) -> Ring {
        Ring {
            buf: vec![0; bytes].into_boxed_slice(),
            head: 0,
            used: 0,
            count: 0,
            data: 0,
            first: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.buf.len()
    }
    pub fn used(&self) -> usize {
        self.used
    }
    pub fn count(&self) -> usize {
        self.count
    }
    pub fn data(&self) -> usize {
        self.data
    }
    /// The oldest frame's sequence number and offset.
    pub fn start(&self) -> (u64, usize) {
        (self.first, self.head)
    }
    /// The sequence number the next frame will take.
    pub fn end_seq(&self) -> u64 {
        self.first + self.count as u64
    }

    fn put(&mut self, at: usize, bytes: &[u8]) {
        let first = bytes.len().min(self.buf.len() - at);
        self.buf[at..at + first].copy_from_slice(&bytes[..first]);
        self.buf[..bytes.len() - first].copy_from_slice(&bytes[first..]);
    }

    fn get(&self, at: usize, out: &mut [u8]) {
        let first = out.len().min(self.buf.len() - at);
        out[..first].copy_from_slice(&self.buf[at..at + first]);
        let rest = out.len() - first;
        out[first..].copy_from_slice(&self.buf[..rest]);
    }

    /// Add a frame; the caller made room (`used + HEADER_BYTES + len <=
    /// capacity`).
    pub fn push(&mut self, header: Header, data: &[u8]) {
        debug_assert!(self.used + HEADER_BYTES + data.len() <= self.buf.len());
        let at = (self.head + self.used) % self.buf.len();
        self.put(at, &header.encode());
        self.put((at + HEADER_BYTES) % self.buf.len(), data);
        self.used += HEADER_BYTES + data.len();
        self.count += 1;
        self.data += data.len();
    }

    /// Let the oldest frame go; whether there was one.
    pub fn pop(&mut self) -> bool {
        if self.count == 0 {
            return false;
        }
        let (h, _, _) = self.read(self.head, false);
        let n = usize::from(h.len);
        self.head = (self.head + HEADER_BYTES + n) % self.buf.len();
        self.used -= HEADER_BYTES + n;
        self.count -= 1;
        self.data -= n;
        self.first += 1;
        true
    }

    /// Forget every frame.
    pub fn clear(&mut self) {
        self.first = self.end_seq();
        (self.head, self.used, self.count, self.data) = (0, 0, 0, 0);
    }

    /// The frame whose header starts at `at` (with its bytes if `bytes`),
    /// and where the next one starts.
    pub fn read(&self, at: usize, bytes: bool) -> (Header, Option<Box<[u8]>>, usize) {
        let mut h = [0; HEADER_BYTES];
        self.get(at, &mut h);
        let h = Header::decode(&h);
        let from = (at + HEADER_BYTES) % self.buf.len();
        let data = bytes.then(|| {
            let mut d = vec![0; usize::from(h.len)].into_boxed_slice();
            self.get(from, &mut d);
            d
        });
        let next = (from + usize::from(h.len)) % self.buf.len();
        (h, data, next)
    }
}
