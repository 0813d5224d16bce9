//! `copy /pcap capture:NAME`: a capture as a libpcap file (the classic
//! format, not pcapng): the 24-byte file header (magic `0xa1b2c3d4`
//! written little-endian, version 2.4, microsecond timestamps, the
//! capture's packet length as snap length, link type 1, Ethernet), then
//! per frame a 16-byte record header (seconds, microseconds, bytes kept,
//! length on the wire) and the bytes kept.

/// libpcap's link type for Ethernet.
const LINKTYPE_ETHERNET: u32 = 1;

/// One frame of a pcap file.
#[derive(Debug, Clone, Copy)]
pub struct PcapRecord<'a> {
    /// When it was seen, in nanoseconds since the Unix epoch.
    pub unix_ns: u64,
    /// Its length on the wire.
    pub wire_len: u32,
    /// The bytes kept.
    pub data: &'a [u8],
}

/// The pcap file of `records`, taken with snap length `snaplen`.
pub fn write<'a>(snaplen: u32, records: impl IntoIterator<Item = PcapRecord<'a>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone: UTC
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&snaplen.to_le_bytes());
    out.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    for r in records {
        let secs = u32::try_from(r.unix_ns / 1_000_000_000).unwrap_or(u32::MAX);
        let micros = (r.unix_ns % 1_000_000_000 / 1_000) as u32;
        let kept = u32::try_from(r.data.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&secs.to_le_bytes());
        out.extend_from_slice(&micros.to_le_bytes());
        out.extend_from_slice(&kept.to_le_bytes());
        out.extend_from_slice(&r.wire_len.max(kept).to_le_bytes());
        out.extend_from_slice(r.data);
    }
    out
}
