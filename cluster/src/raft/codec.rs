//! bincode 2 (serde) encoding of Raft messages and store records: one
//! version byte, then the value, decoded with a size limit and refused
//! when bytes are left over (bincode accepts trailing bytes silently).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::transport::RPC_MAX_MESSAGE_BYTES;

/// The largest encoded value: an RPC payload. The decode limit counts
/// bytes read and pre-allocations, so a lying length prefix cannot make
/// bincode allocate more than this.
pub(crate) const CODEC_LIMIT_BYTES: usize = RPC_MAX_MESSAGE_BYTES;

/// The format version every encoding starts with.
const FORMAT_VERSION: u8 = 1;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<CODEC_LIMIT_BYTES>()
}

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// bincode refused the value (over the limit, unsupported shape).
    #[error("encoding: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// The bytes are not a value of the expected type.
    #[error("decoding: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// No version byte, or an unknown one.
    #[error("unknown format version {0:?}")]
    Version(Option<u8>),
    /// Bytes left after the value.
    #[error("{0} trailing byte(s) after the value")]
    Trailing(usize),
    /// Larger than the limit.
    #[error("{len} bytes exceed the {limit}-byte limit")]
    TooLarge {
        /// The length.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

/// Encode `value` with its version byte.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    encode_versioned(FORMAT_VERSION, value)
}

/// Encode `value` behind another version byte (a message whose shape
/// changed: see `messages::encode_call`).
pub(crate) fn encode_versioned<T: Serialize>(
    version: u8,
    value: &T,
) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![version];
    let body = bincode::serde::encode_to_vec(value, config())?;
    if body.len() + 1 > CODEC_LIMIT_BYTES {
        return Err(CodecError::TooLarge {
            len: body.len() + 1,
            limit: CODEC_LIMIT_BYTES,
        });
    }
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decode a value written by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_versioned(FORMAT_VERSION, bytes)
}

/// Decode a value written by [`encode_versioned`] with `version`.
pub(crate) fn decode_versioned<T: DeserializeOwned>(
    version: u8,
    bytes: &[u8],
) -> Result<T, CodecError> {
    if bytes.len() > CODEC_LIMIT_BYTES {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            limit: CODEC_LIMIT_BYTES,
        });
    }
    match bytes.split_first() {
        Some((&v, body)) if v == version => {
            let (value, used) = bincode::serde::decode_from_slice(body, config())?;
            if used != body.len() {
                return Err(CodecError::Trailing(body.len() - used));
            }
            Ok(value)
        }
        Some((&v, _)) => Err(CodecError::Version(Some(v))),
        None => Err(CodecError::Version(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::types::PolicyCmd;

    #[test]
    fn round_trip_and_refusals() {
        let cmd = PolicyCmd::SetConfig {
            text: "access-list A extended permit ip any any\n".into(),
        };
        let bytes = encode(&cmd).expect("encode");
        assert_eq!(decode::<PolicyCmd>(&bytes).expect("decode"), cmd);

        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            decode::<PolicyCmd>(&trailing),
            Err(CodecError::Trailing(1))
        ));
        let mut other = bytes.clone();
        other[0] = 9;
        assert!(matches!(
            decode::<PolicyCmd>(&other),
            Err(CodecError::Version(Some(9)))
        ));
        assert!(matches!(
            decode::<PolicyCmd>(&[]),
            Err(CodecError::Version(None))
        ));
        // A string whose length prefix claims 2^40 bytes: refused by the
        // limit, never allocated.
        let mut lying = vec![FORMAT_VERSION, 0];
        lying.push(253);
        lying.extend_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(decode::<PolicyCmd>(&lying).is_err());
        assert!(decode::<PolicyCmd>(&bytes[..bytes.len() - 1]).is_err());
    }
}
