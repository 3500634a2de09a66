//! One value's L2 payload: how it is written (codec, then compression above a threshold, under
//! the type's fingerprint) and what a reader checks before decoding it.

use crate::cache::Cache;
use crate::codec::{Codec, CodecError};
use crate::compression::{self, Compression, CompressionError};
use crate::envelope::Envelope;
use crate::fingerprint::Fingerprint;
use crate::load_plan::ValueIo;
use crate::options::EntryOptions;

/// What the writer and the reader of one entry's payload agree on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PayloadFormat {
    pub(crate) codec: Codec,
    /// Compression for payloads of at least `compress_threshold` bytes (`None`: never).
    pub(crate) compression: Option<Compression>,
    pub(crate) compress_threshold: usize,
    pub(crate) fingerprint: Fingerprint,
}

/// An encoded payload and the envelope fields that describe it.
pub(crate) struct EncodedPayload {
    pub(crate) bytes: Vec<u8>,
    pub(crate) compression_id: u8,
    /// Length before compression (what L1 weighs).
    pub(crate) raw_len: usize,
}

/// Why an L2 value is not usable as this reader's type: each is a miss.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PayloadError {
    #[error("written with codec {found}, this entry reads codec {expected}")]
    OtherCodec { found: u8, expected: u8 },
    #[error("written by a build whose value type has another structure")]
    OtherStructure,
    #[error(transparent)]
    Compression(#[from] CompressionError),
    #[error(transparent)]
    Codec(#[from] CodecError),
}

impl PayloadFormat {
    /// Encodes `value`, compressed when that is on, the payload is long enough and it shrinks.
    pub(crate) fn encode<V>(
        &self,
        io: ValueIo<V>,
        value: &V,
    ) -> Result<EncodedPayload, CodecError> {
        let raw = (io.encode)(&self.codec, value)?;
        let raw_len = raw.len();
        let compressed = self
            .compression
            .filter(|_| raw_len >= self.compress_threshold)
            .and_then(|c| Some((c.id(), c.compress(&raw)?)));
        Ok(match compressed {
            Some((compression_id, bytes)) => EncodedPayload {
                bytes,
                compression_id,
                raw_len,
            },
            None => EncodedPayload {
                bytes: raw,
                compression_id: compression::NONE_ID,
                raw_len,
            },
        })
    }

    /// Whether an envelope was written in this entry's codec and for this type's structure:
    /// two integer compares, done before anything is decompressed or decoded.
    pub(crate) fn check(&self, envelope: &Envelope) -> Result<(), PayloadError> {
        if envelope.codec_id != self.codec.id() {
            return Err(PayloadError::OtherCodec {
                found: envelope.codec_id,
                expected: self.codec.id(),
            });
        }
        if envelope.fingerprint != self.fingerprint {
            return Err(PayloadError::OtherStructure);
        }
        Ok(())
    }

    /// Decompresses (never past `limit` bytes) and decodes a payload that passed
    /// [`check`](Self::check); also gives the payload's length before compression.
    pub(crate) fn decode<V>(
        &self,
        io: ValueIo<V>,
        envelope: &Envelope,
        limit: usize,
    ) -> Result<(V, usize), PayloadError> {
        let raw = compression::decompress(envelope.compression_id, &envelope.payload, limit)?;
        Ok(((io.decode)(&self.codec, &raw)?, raw.len()))
    }
}

impl Cache {
    /// The payload format of an entry with these options and value type.
    pub(crate) fn payload_format<V>(&self, opts: &EntryOptions, io: ValueIo<V>) -> PayloadFormat {
        let defaults = &self.inner.payload;
        let compress = opts.compress.unwrap_or(defaults.compress);
        PayloadFormat {
            codec: opts.codec.unwrap_or(defaults.codec),
            compression: defaults.compression.filter(|_| compress),
            compress_threshold: defaults.compress_threshold,
            fingerprint: (io.fingerprint)(defaults.version, opts.version),
        }
    }
}

/// The cache-wide payload settings (`CacheBuilder::codec`, `compress`, `compression`,
/// `compress_threshold`, `version`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PayloadDefaults {
    pub(crate) codec: Codec,
    pub(crate) compress: bool,
    pub(crate) compression: Option<Compression>,
    pub(crate) compress_threshold: usize,
    pub(crate) version: u32,
}
