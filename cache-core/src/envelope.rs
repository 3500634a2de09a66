//! The L2 envelope: what is stored in the shared layer around each encoded value.
//!
//! Layout (all integers big-endian):
//! `"LC"` · format version `u8` · codec id `u8` · compression id `u8` (0: none) ·
//! fingerprint `u64` (the value type's structure, see `fingerprint.rs`) ·
//! created `u64` · fresh-until `u64` · stale-until `u64` (Unix milliseconds) ·
//! tag count `u16` · per tag: length `u16`, UTF-8 bytes, version `u64` · payload (the rest,
//! compressed as the compression id says).
//!
//! Version 1 had no fingerprint; its values are misses for this build (and this build's values
//! for a version-1 reader), then overwritten.
//!
//! Decoding reads only within the given slice: no length field is trusted to size an allocation.

use crate::clock::UnixMillis;
use crate::fingerprint::Fingerprint;

/// The envelope format this build writes and accepts.
pub const FORMAT_VERSION: u8 = 2;
const MAGIC: &[u8; 2] = b"LC";
const HEADER_LEN: usize = 2 + 1 + 1 + 1 + 8 + 8 * 3 + 2;

/// A tag and the version it had when the value was loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagStamp {
    /// The rendered tag.
    pub tag: String,
    /// The tag's version at load time; a newer version means the value was invalidated.
    pub version: u64,
}

/// The metadata and payload of one L2 value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Codec that encoded `payload`.
    pub codec_id: u8,
    /// How `payload` is compressed (0: not compressed).
    pub compression_id: u8,
    /// The structure of the value's type in the build that wrote it.
    pub fingerprint: Fingerprint,
    /// When the value was loaded.
    pub created: UnixMillis,
    /// Fresh until this instant.
    pub fresh_until: UnixMillis,
    /// Servable as stale (fail-safe) until this instant.
    pub stale_until: UnixMillis,
    /// Tags and their versions.
    pub tags: Vec<TagStamp>,
    /// The encoded value.
    pub payload: Vec<u8>,
}

/// Why bytes read from L2 are not a usable envelope.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Shorter than a header, or a field runs past the end.
    #[error("truncated envelope")]
    Truncated,
    /// Not written by layercache.
    #[error("bad magic")]
    BadMagic,
    /// Written by another format version.
    #[error("format version {0} is not {FORMAT_VERSION}")]
    Version(u8),
    /// A tag is not UTF-8.
    #[error("tag is not UTF-8")]
    BadTag,
    /// Over the value-size limit.
    #[error("envelope of {0} bytes is over the size limit")]
    TooLarge(usize),
    /// A tag longer than 65535 bytes or more than 65535 tags cannot be written.
    #[error("too many or too long tags")]
    TagsTooLarge,
}

impl Envelope {
    /// Serializes the envelope.
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        let tags_len: usize = self.tags.iter().map(|t| 2 + t.tag.len() + 8).sum();
        let mut out = Vec::with_capacity(HEADER_LEN + tags_len + self.payload.len());
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.push(self.codec_id);
        out.push(self.compression_id);
        out.extend_from_slice(&self.fingerprint.0.to_be_bytes());
        out.extend_from_slice(&self.created.0.to_be_bytes());
        out.extend_from_slice(&self.fresh_until.0.to_be_bytes());
        out.extend_from_slice(&self.stale_until.0.to_be_bytes());
        let count = u16::try_from(self.tags.len()).map_err(|_| EnvelopeError::TagsTooLarge)?;
        out.extend_from_slice(&count.to_be_bytes());
        for t in &self.tags {
            let len = u16::try_from(t.tag.len()).map_err(|_| EnvelopeError::TagsTooLarge)?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(t.tag.as_bytes());
            out.extend_from_slice(&t.version.to_be_bytes());
        }
        out.extend_from_slice(&self.payload);
        Ok(out)
    }

    /// Parses an envelope, refusing anything over `max_len` bytes.
    pub fn decode(bytes: &[u8], max_len: usize) -> Result<Envelope, EnvelopeError> {
        let (mut envelope, payload_at) = Envelope::decode_head(bytes, max_len)?;
        envelope.payload = bytes[payload_at..].to_vec();
        Ok(envelope)
    }

    /// [`decode`](Self::decode) of bytes the caller owns: the payload keeps their allocation
    /// (its bytes move to the front of it), so no second buffer is allocated.
    pub fn decode_owned(mut bytes: Vec<u8>, max_len: usize) -> Result<Envelope, EnvelopeError> {
        let (mut envelope, payload_at) = Envelope::decode_head(&bytes, max_len)?;
        bytes.drain(..payload_at);
        envelope.payload = bytes;
        Ok(envelope)
    }

    /// The header of an envelope (its payload left empty) and where the payload starts.
    fn decode_head(bytes: &[u8], max_len: usize) -> Result<(Envelope, usize), EnvelopeError> {
        if bytes.len() > max_len {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        let mut r = Reader(bytes);
        if r.take(2)? != MAGIC {
            return Err(EnvelopeError::BadMagic);
        }
        let version = r.u8()?;
        if version != FORMAT_VERSION {
            return Err(EnvelopeError::Version(version));
        }
        let codec_id = r.u8()?;
        let compression_id = r.u8()?;
        let fingerprint = Fingerprint(r.u64()?);
        let created = UnixMillis(r.u64()?);
        let fresh_until = UnixMillis(r.u64()?);
        let stale_until = UnixMillis(r.u64()?);
        let count = r.u16()? as usize;
        // Each tag needs at least 10 bytes, so a lying count cannot reserve more than the input.
        let mut tags = Vec::with_capacity(count.min(r.0.len() / 10));
        for _ in 0..count {
            let len = r.u16()? as usize;
            let tag = std::str::from_utf8(r.take(len)?)
                .map_err(|_| EnvelopeError::BadTag)?
                .to_owned();
            let version = r.u64()?;
            tags.push(TagStamp { tag, version });
        }
        let envelope = Envelope {
            codec_id,
            compression_id,
            fingerprint,
            created,
            fresh_until,
            stale_until,
            tags,
            payload: Vec::new(),
        };
        Ok((envelope, bytes.len() - r.0.len()))
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EnvelopeError> {
        if self.0.len() < n {
            return Err(EnvelopeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, EnvelopeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, EnvelopeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u64(&mut self) -> Result<u64, EnvelopeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Envelope {
        Envelope {
            codec_id: 2,
            compression_id: 1,
            fingerprint: Fingerprint(0x0123_4567_89ab_cdef),
            created: UnixMillis(1_000),
            fresh_until: UnixMillis(2_000),
            stale_until: UnixMillis(3_000),
            tags: vec![TagStamp {
                tag: "catalog".into(),
                version: 4,
            }],
            payload: b"payload".to_vec(),
        }
    }

    #[test]
    fn decoding_owned_bytes_gives_the_same_envelope_and_errors() {
        let bytes = sample().encode().unwrap();
        assert_eq!(Envelope::decode_owned(bytes.clone(), 1 << 20), Ok(sample()));
        assert_eq!(
            Envelope::decode_owned(bytes.clone(), bytes.len() - 1),
            Envelope::decode(&bytes, bytes.len() - 1)
        );
        for cut in [0, 3, bytes.len() - sample().payload.len() - 1] {
            assert_eq!(
                Envelope::decode_owned(bytes[..cut].to_vec(), 1 << 20),
                Envelope::decode(&bytes[..cut], 1 << 20)
            );
        }
    }

    #[test]
    fn round_trips() {
        let bytes = sample().encode().unwrap();
        assert_eq!(Envelope::decode(&bytes, 1 << 20).unwrap(), sample());
    }

    #[test]
    fn rejects_future_version_wrong_magic_and_size() {
        let mut bytes = sample().encode().unwrap();
        bytes[2] = FORMAT_VERSION + 1;
        assert_eq!(
            Envelope::decode(&bytes, 1 << 20),
            Err(EnvelopeError::Version(FORMAT_VERSION + 1))
        );
        bytes[0] = b'X';
        assert_eq!(
            Envelope::decode(&bytes, 1 << 20),
            Err(EnvelopeError::BadMagic)
        );
        let ok = sample().encode().unwrap();
        assert!(matches!(
            Envelope::decode(&ok, 10),
            Err(EnvelopeError::TooLarge(_))
        ));
    }

    #[test]
    fn the_header_is_header_len_bytes_and_encode_allocates_exactly_once() {
        let bare = Envelope {
            tags: vec![],
            payload: vec![],
            ..sample()
        };
        let bytes = bare.encode().unwrap();
        assert_eq!(bytes.len(), HEADER_LEN);
        // The buffer is sized up front: tags and payload never make it grow or waste space.
        let bytes = sample().encode().unwrap();
        assert_eq!(bytes.capacity(), bytes.len());
        assert_eq!(
            bytes.len(),
            HEADER_LEN + 2 + "catalog".len() + 8 + "payload".len()
        );
    }

    #[test]
    fn an_empty_payload_round_trips() {
        // bincode encodes `()` as zero bytes: the payload is the empty rest of the envelope.
        for tags in [vec![], sample().tags] {
            let empty = Envelope {
                tags,
                payload: vec![],
                ..sample()
            };
            let bytes = empty.encode().unwrap();
            assert_eq!(Envelope::decode(&bytes, 1 << 20), Ok(empty));
        }
    }

    #[test]
    fn an_envelope_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not() {
        let bytes = sample().encode().unwrap();
        assert_eq!(Envelope::decode(&bytes, bytes.len()), Ok(sample()));
        assert_eq!(
            Envelope::decode(&bytes, bytes.len() - 1),
            Err(EnvelopeError::TooLarge(bytes.len()))
        );
    }

    #[test]
    fn an_empty_tag_round_trips() {
        let env = Envelope {
            tags: vec![TagStamp {
                tag: String::new(),
                version: u64::MAX,
            }],
            ..sample()
        };
        assert_eq!(Envelope::decode(&env.encode().unwrap(), 1 << 20), Ok(env));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample().encode().unwrap();
        let header_and_tags = bytes.len() - b"payload".len();
        for n in 0..header_and_tags {
            assert!(Envelope::decode(&bytes[..n], 1 << 20).is_err(), "len {n}");
        }
    }

    #[test]
    fn huge_tag_count_does_not_allocate() {
        let mut bytes = Envelope {
            tags: vec![],
            ..sample()
        }
        .encode()
        .unwrap();
        let at = HEADER_LEN - 2;
        bytes[at] = 0xFF;
        bytes[at + 1] = 0xFF;
        assert!(Envelope::decode(&bytes, 1 << 20).is_err());
    }

    fn any_envelope() -> impl Strategy<Value = Envelope> {
        let tag = ("[a-z:<>0-9é]{0,40}", any::<u64>())
            .prop_map(|(tag, version)| TagStamp { tag, version });
        (
            (any::<u8>(), any::<u8>(), any::<u64>()),
            (any::<u64>(), any::<u64>(), any::<u64>()),
            proptest::collection::vec(tag, 0..6),
            proptest::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(
                |((codec_id, compression_id, fp), (created, fresh, stale), tags, payload)| {
                    Envelope {
                        codec_id,
                        compression_id,
                        fingerprint: Fingerprint(fp),
                        created: UnixMillis(created),
                        fresh_until: UnixMillis(fresh),
                        stale_until: UnixMillis(stale),
                        tags,
                        payload,
                    }
                },
            )
    }

    #[test]
    fn fingerprint_and_compression_sit_after_the_codec_id() {
        let bytes = sample().encode().unwrap();
        assert_eq!(bytes[3], 2, "codec id");
        assert_eq!(bytes[4], 1, "compression id");
        assert_eq!(bytes[5..13], 0x0123_4567_89ab_cdef_u64.to_be_bytes());
    }

    #[test]
    fn a_version_1_envelope_is_refused() {
        // What the previous build wrote: no fingerprint. Read as a miss, never as a value.
        let mut bytes = sample().encode().unwrap();
        bytes[2] = 1;
        assert_eq!(
            Envelope::decode(&bytes, 1 << 20),
            Err(EnvelopeError::Version(1))
        );
    }

    proptest! {
        #[test]
        fn every_envelope_round_trips(envelope in any_envelope()) {
            let bytes = envelope.encode().unwrap();
            prop_assert_eq!(Envelope::decode(&bytes, 1 << 20).unwrap(), envelope.clone());
            // Any shorter cut of the header and tags is refused, never misread.
            let fixed = bytes.len() - envelope.payload.len();
            for n in 0..fixed {
                prop_assert!(Envelope::decode(&bytes[..n], 1 << 20).is_err());
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Envelope::decode(&bytes, 1 << 20);
        }

        #[test]
        fn valid_prefix_with_random_tail_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut bytes = sample().encode().unwrap();
            bytes.truncate(HEADER_LEN - 2);
            bytes.extend_from_slice(&tail);
            let _ = Envelope::decode(&bytes, 1 << 20);
        }
    }
}
