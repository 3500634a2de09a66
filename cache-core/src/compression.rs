//! Payload compression: large L2 payloads are compressed, and the envelope records how, so a
//! reader needs no configuration to read them.
//!
//! A compressed payload is `raw length u32 (big-endian)` · the compressed block. Decompression
//! refuses a raw length over the caller's limit before it allocates anything, allocates exactly
//! that length, and fails when the block would write more or fewer bytes: a compression bomb or a
//! truncated block is an error (an L2 miss), never an allocation past the limit.

use std::borrow::Cow;

/// Envelope id of an uncompressed payload.
pub(crate) const NONE_ID: u8 = 0;
const LZ4_ID: u8 = 1;
const ZSTD_ID: u8 = 2;
/// zstd level: 3 is the library's default and, on the codec bench, within a few percent of
/// level 9's ratio at a fraction of its time.
#[cfg(feature = "zstd")]
const ZSTD_LEVEL: i32 = 3;
/// Payloads shorter than this are stored as they are (default of
/// `CacheBuilder::compress_threshold`).
pub const DEFAULT_THRESHOLD: usize = 1024;

/// A compression algorithm for L2 payloads.
///
/// Each variant exists only with its feature (`lz4`, `zstd`). Readers decompress whatever the
/// envelope says, whatever their own settings, as long as the algorithm's feature is compiled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// LZ4 block format (lz4_flex, pure Rust): the fastest, a smaller ratio.
    #[cfg(feature = "lz4")]
    Lz4,
    /// Zstandard level 3 (the `zstd` crate, libzstd): a better ratio, slower to compress.
    #[cfg(feature = "zstd")]
    Zstd,
}

#[cfg(any(feature = "lz4", feature = "zstd"))]
impl Default for Compression {
    /// LZ4 when its feature is on (the cheaper of the two on the codec bench), else zstd.
    fn default() -> Self {
        #[cfg(feature = "lz4")]
        return Compression::Lz4;
        #[cfg(not(feature = "lz4"))]
        return Compression::Zstd;
    }
}

/// Why a compressed payload could not be read (or a payload not compressed).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompressionError {
    /// The envelope names an algorithm this build does not have.
    #[error("compression id {0} is not supported by this build")]
    Unsupported(u8),
    /// The payload claims to expand past the value-size limit.
    #[error("payload expands to {len} bytes, over the limit of {limit}")]
    TooLarge {
        /// The claimed length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The compressed block is damaged, truncated, or does not expand to its claimed length.
    #[error("compressed payload is corrupt: {0}")]
    Corrupt(String),
}

impl Compression {
    /// The identifier written into envelopes.
    pub fn id(self) -> u8 {
        match self {
            #[cfg(feature = "lz4")]
            Compression::Lz4 => LZ4_ID,
            #[cfg(feature = "zstd")]
            Compression::Zstd => ZSTD_ID,
        }
    }

    /// A short name for logs and benches.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "lz4")]
            Compression::Lz4 => "lz4",
            #[cfg(feature = "zstd")]
            Compression::Zstd => "zstd",
        }
    }

    /// Compresses `raw` (length prefix included). `None` when it does not get smaller or is
    /// longer than the length prefix can say: then the payload is stored as it is.
    #[cfg(any(feature = "lz4", feature = "zstd"))]
    pub fn compress(self, raw: &[u8]) -> Option<Vec<u8>> {
        let stored = match self {
            #[cfg(feature = "lz4")]
            Compression::Lz4 => with_length_prefix(raw, |out| {
                let start = out.len();
                out.resize(
                    start + lz4_flex::block::get_maximum_output_size(raw.len()),
                    0,
                );
                let written = lz4_flex::block::compress_into(raw, &mut out[start..]).ok()?;
                out.truncate(start + written);
                Some(())
            }),
            #[cfg(feature = "zstd")]
            Compression::Zstd => with_length_prefix(raw, |out| {
                out.extend_from_slice(&zstd::bulk::compress(raw, ZSTD_LEVEL).ok()?);
                Some(())
            }),
        }?;
        (stored.len() < raw.len()).then_some(stored)
    }

    /// Compresses `raw`: with no compression feature there is no algorithm to call this on.
    #[cfg(not(any(feature = "lz4", feature = "zstd")))]
    pub fn compress(self, _raw: &[u8]) -> Option<Vec<u8>> {
        match self {}
    }
}

/// `raw`'s length as a `u32` prefix, then what `block` appends.
#[cfg(any(feature = "lz4", feature = "zstd"))]
fn with_length_prefix(
    raw: &[u8],
    block: impl FnOnce(&mut Vec<u8>) -> Option<()>,
) -> Option<Vec<u8>> {
    let len = u32::try_from(raw.len()).ok()?;
    let mut out = Vec::with_capacity(4 + raw.len() / 2);
    out.extend_from_slice(&len.to_be_bytes());
    block(&mut out)?;
    Some(out)
}

/// The payload as the codec wrote it: `stored` itself when `id` is `NONE_ID`, else its
/// decompression, bounded by `limit`.
pub fn decompress(id: u8, stored: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, CompressionError> {
    if id == NONE_ID {
        return Ok(Cow::Borrowed(stored));
    }
    if id != LZ4_ID && id != ZSTD_ID {
        return Err(CompressionError::Unsupported(id));
    }
    let (prefix, block) = stored
        .split_first_chunk::<4>()
        .ok_or_else(|| CompressionError::Corrupt("no length prefix".into()))?;
    let len = u32::from_be_bytes(*prefix) as usize;
    if len > limit {
        return Err(CompressionError::TooLarge { len, limit });
    }
    let raw = match id {
        LZ4_ID => lz4_block(block, len)?,
        _ => zstd_block(block, len)?,
    };
    Ok(Cow::Owned(raw))
}

#[cfg(feature = "lz4")]
fn lz4_block(block: &[u8], len: usize) -> Result<Vec<u8>, CompressionError> {
    let mut raw = vec![0; len];
    // Writes only inside `raw`: output that would run past it is an error.
    let written = lz4_flex::block::decompress_into(block, &mut raw)
        .map_err(|e| CompressionError::Corrupt(e.to_string()))?;
    exact(raw, written, len)
}

#[cfg(not(feature = "lz4"))]
fn lz4_block(_: &[u8], _: usize) -> Result<Vec<u8>, CompressionError> {
    Err(CompressionError::Unsupported(LZ4_ID))
}

#[cfg(feature = "zstd")]
fn zstd_block(block: &[u8], len: usize) -> Result<Vec<u8>, CompressionError> {
    let mut raw = Vec::with_capacity(len);
    // Fills the spare capacity only; a frame that expands further is an error.
    let written = zstd::bulk::Decompressor::new()
        .and_then(|mut d| d.decompress_to_buffer(block, &mut raw))
        .map_err(|e| CompressionError::Corrupt(e.to_string()))?;
    exact(raw, written, len)
}

#[cfg(not(feature = "zstd"))]
fn zstd_block(_: &[u8], _: usize) -> Result<Vec<u8>, CompressionError> {
    Err(CompressionError::Unsupported(ZSTD_ID))
}

#[cfg(any(feature = "lz4", feature = "zstd"))]
fn exact(mut raw: Vec<u8>, written: usize, len: usize) -> Result<Vec<u8>, CompressionError> {
    if written != len {
        return Err(CompressionError::Corrupt(format!(
            "expanded to {written} bytes, not the {len} it claims"
        )));
    }
    raw.truncate(written);
    Ok(raw)
}

#[cfg(all(test, any(feature = "lz4", feature = "zstd")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all() -> Vec<Compression> {
        vec![
            #[cfg(feature = "lz4")]
            Compression::Lz4,
            #[cfg(feature = "zstd")]
            Compression::Zstd,
        ]
    }

    fn compressible(n: usize) -> Vec<u8> {
        b"lamp, brushed steel; "
            .iter()
            .copied()
            .cycle()
            .take(n)
            .collect()
    }

    #[test]
    fn round_trips_and_shrinks() {
        let raw = compressible(10_000);
        for c in all() {
            let stored = c.compress(&raw).expect("repetitive input shrinks");
            assert!(
                stored.len() < raw.len() / 4,
                "{}: {}",
                c.name(),
                stored.len()
            );
            assert_eq!(decompress(c.id(), &stored, 1 << 20).unwrap(), &raw[..]);
        }
    }

    #[test]
    fn incompressible_input_is_left_alone() {
        let raw: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for c in all() {
            assert_eq!(c.compress(&raw[..16]), None, "{}", c.name());
        }
    }

    #[test]
    fn a_bomb_over_the_limit_is_refused_before_allocating() {
        // 64 MiB of zeros compresses to a few KiB; with a 1 MiB limit it must be refused.
        let raw = vec![0u8; 64 << 20];
        for c in all() {
            let stored = c.compress(&raw).unwrap();
            assert!(stored.len() < 1 << 20);
            assert_eq!(
                decompress(c.id(), &stored, 1 << 20),
                Err(CompressionError::TooLarge {
                    len: 64 << 20,
                    limit: 1 << 20
                })
            );
        }
    }

    #[test]
    fn a_lying_length_prefix_is_corrupt_not_an_overrun() {
        let raw = compressible(100_000);
        for c in all() {
            let mut stored = c.compress(&raw).unwrap();
            // Claims 1,000 bytes but expands to 100,000: decompression stops at the claim.
            stored[..4].copy_from_slice(&1_000u32.to_be_bytes());
            assert!(matches!(
                decompress(c.id(), &stored, 1 << 20),
                Err(CompressionError::Corrupt(_))
            ));
            // Claims more than it holds.
            stored[..4].copy_from_slice(&200_000u32.to_be_bytes());
            assert!(matches!(
                decompress(c.id(), &stored, 1 << 20),
                Err(CompressionError::Corrupt(_))
            ));
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let raw = compressible(5_000);
        for c in all() {
            let stored = c.compress(&raw).unwrap();
            for n in 0..stored.len() {
                assert!(
                    decompress(c.id(), &stored[..n], 1 << 20).is_err(),
                    "{} len {n}",
                    c.name()
                );
            }
        }
    }

    #[test]
    fn unknown_ids_are_unsupported() {
        assert_eq!(
            decompress(9, b"\0\0\0\x01x", 1 << 20),
            Err(CompressionError::Unsupported(9))
        );
        assert_eq!(decompress(NONE_ID, b"abc", 1).unwrap(), &b"abc"[..]);
    }

    proptest! {
        #[test]
        fn random_blocks_never_panic_nor_exceed_the_limit(
            id in 1u8..3,
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            if let Ok(raw) = decompress(id, &bytes, 4096) {
                prop_assert!(raw.len() <= 4096);
            }
        }

        #[test]
        fn round_trip_any_input(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
            for c in all() {
                if let Some(stored) = c.compress(&raw) {
                    prop_assert_eq!(decompress(c.id(), &stored, 1 << 20).unwrap(), &raw[..]);
                }
            }
        }
    }
}
