//! Codecs: how a value becomes the payload of an L2 envelope.

use serde::{de::DeserializeOwned, Serialize};

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The serializer refused the value.
    #[error("encode failed: {0}")]
    Encode(String),
    /// The payload is not a valid value of the expected type.
    #[error("decode failed: {0}")]
    Decode(String),
    /// The payload is larger than the configured value-size limit.
    #[error("payload of {len} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// Payload length.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

/// A user-supplied codec, plugged in with [`Codec::Custom`].
///
/// It works on type-erased serde values (`erased_serde`), so one codec object serves every value
/// type. Its [`id`](CustomCodec::id) is written into each envelope; use a value of 128 or more so it
/// never clashes with a built-in codec.
pub trait CustomCodec: Send + Sync + std::fmt::Debug {
    /// Stable identifier stored in envelopes (128..=255).
    fn id(&self) -> u8;
    /// Serializes `value` into `out`.
    fn encode(
        &self,
        value: &dyn erased_serde::Serialize,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError>;
    /// Builds a deserializer over `bytes` and hands it to `visit`.
    fn decode(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(
            &mut dyn erased_serde::Deserializer<'_>,
        ) -> Result<(), erased_serde::Error>,
    ) -> Result<(), CodecError>;
}

/// How values are encoded for L2.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Codec {
    /// JSON (serde_json): readable, larger.
    #[cfg(feature = "json")]
    Json,
    /// bincode 2 (serde mode, standard config): compact and fast; not self-describing.
    #[cfg(feature = "bincode")]
    Bincode,
    /// MessagePack (rmp-serde, structs as maps): compact and self-describing.
    #[cfg(feature = "msgpack")]
    MessagePack,
    /// A codec of your own.
    Custom(&'static dyn CustomCodec),
}

/// The codec of L2 values when neither their options nor the cache name one: bincode, whatever
/// other codec features any crate in the build enables. Without the `bincode` feature there is no
/// default: a cache with an L2 must be given a codec ([`CacheBuilder::codec`](crate::CacheBuilder::codec)),
/// or building it fails.
#[cfg(feature = "bincode")]
impl Default for Codec {
    fn default() -> Self {
        Codec::Bincode
    }
}

/// [`Codec::default`] when its feature is compiled in.
pub(crate) fn default_codec() -> Option<Codec> {
    #[cfg(feature = "bincode")]
    return Some(Codec::Bincode);
    #[cfg(not(feature = "bincode"))]
    return None;
}

/// The codec of an L1-only cache built without any codec: never called (no L2 to write to).
#[derive(Debug)]
pub(crate) struct Unused;

impl CustomCodec for Unused {
    fn id(&self) -> u8 {
        0
    }
    fn encode(&self, _: &dyn erased_serde::Serialize, _: &mut Vec<u8>) -> Result<(), CodecError> {
        Err(CodecError::Encode("this cache has no codec".into()))
    }
    fn decode(
        &self,
        _: &[u8],
        _: &mut dyn FnMut(
            &mut dyn erased_serde::Deserializer<'_>,
        ) -> Result<(), erased_serde::Error>,
    ) -> Result<(), CodecError> {
        Err(CodecError::Decode("this cache has no codec".into()))
    }
}

/// bincode's own allocation guard: decoding may claim at most this many bytes, whatever the
/// length fields inside the payload say.
#[cfg(feature = "bincode")]
const BINCODE_LIMIT: usize = 64 * 1024 * 1024;

impl Codec {
    /// The identifier written into envelopes.
    pub fn id(&self) -> u8 {
        match self {
            #[cfg(feature = "json")]
            Codec::Json => 1,
            #[cfg(feature = "bincode")]
            Codec::Bincode => 2,
            #[cfg(feature = "msgpack")]
            Codec::MessagePack => 3,
            Codec::Custom(c) => c.id(),
        }
    }

    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            #[cfg(feature = "json")]
            Codec::Json => "json",
            #[cfg(feature = "bincode")]
            Codec::Bincode => "bincode",
            #[cfg(feature = "msgpack")]
            Codec::MessagePack => "msgpack",
            Codec::Custom(_) => "custom",
        }
    }

    /// Appends the encoding of `value` to `out`.
    pub fn encode_into<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        match self {
            #[cfg(feature = "json")]
            Codec::Json => {
                serde_json::to_writer(out, value).map_err(|e| CodecError::Encode(e.to_string()))
            }
            #[cfg(feature = "bincode")]
            Codec::Bincode => {
                bincode::serde::encode_into_std_write(value, out, bincode::config::standard())
                    .map(|_| ())
                    .map_err(|e| CodecError::Encode(e.to_string()))
            }
            #[cfg(feature = "msgpack")]
            Codec::MessagePack => rmp_serde::encode::write_named(out, value)
                .map_err(|e| CodecError::Encode(e.to_string())),
            Codec::Custom(c) => c.encode(&value, out),
        }
    }

    /// Encodes `value` into a new buffer.
    pub fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        self.encode_into(value, &mut out)?;
        Ok(out)
    }

    /// Decodes a value of type `T`; trailing bytes are an error.
    pub fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        match self {
            #[cfg(feature = "json")]
            Codec::Json => {
                serde_json::from_slice(bytes).map_err(|e| CodecError::Decode(e.to_string()))
            }
            #[cfg(feature = "bincode")]
            Codec::Bincode => {
                let config = bincode::config::standard().with_limit::<BINCODE_LIMIT>();
                let (v, used) = bincode::serde::decode_from_slice(bytes, config)
                    .map_err(|e| CodecError::Decode(e.to_string()))?;
                if used != bytes.len() {
                    return Err(CodecError::Decode(format!(
                        "{} trailing bytes",
                        bytes.len() - used
                    )));
                }
                Ok(v)
            }
            #[cfg(feature = "msgpack")]
            Codec::MessagePack => {
                let mut rest = bytes;
                let mut de = rmp_serde::Deserializer::new(&mut rest);
                let v = T::deserialize(&mut de).map_err(|e| CodecError::Decode(e.to_string()))?;
                if !rest.is_empty() {
                    return Err(CodecError::Decode("trailing bytes".into()));
                }
                Ok(v)
            }
            Codec::Custom(c) => {
                let mut slot: Option<T> = None;
                c.decode(bytes, &mut |de| {
                    slot = Some(erased_serde::deserialize::<T>(de)?);
                    Ok(())
                })?;
                slot.ok_or_else(|| CodecError::Decode("custom codec produced no value".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Product {
        id: u64,
        name: String,
        tags: Vec<String>,
        price: Option<f64>,
    }

    fn sample() -> Product {
        Product {
            id: 7,
            name: "lamp".into(),
            tags: vec!["home".into(), "light".into()],
            price: Some(19.5),
        }
    }

    fn all() -> Vec<Codec> {
        vec![
            #[cfg(feature = "json")]
            Codec::Json,
            #[cfg(feature = "bincode")]
            Codec::Bincode,
            #[cfg(feature = "msgpack")]
            Codec::MessagePack,
            Codec::Custom(&JsonViaErased),
        ]
    }

    /// A custom codec built on serde_json through erased_serde, to prove the plug-in path works.
    #[derive(Debug)]
    struct JsonViaErased;
    impl CustomCodec for JsonViaErased {
        fn id(&self) -> u8 {
            200
        }
        fn encode(
            &self,
            value: &dyn erased_serde::Serialize,
            out: &mut Vec<u8>,
        ) -> Result<(), CodecError> {
            let mut ser = serde_json::Serializer::new(out);
            value
                .erased_serialize(&mut <dyn erased_serde::Serializer>::erase(&mut ser))
                .map_err(|e| CodecError::Encode(e.to_string()))
        }
        fn decode(
            &self,
            bytes: &[u8],
            visit: &mut dyn FnMut(
                &mut dyn erased_serde::Deserializer<'_>,
            ) -> Result<(), erased_serde::Error>,
        ) -> Result<(), CodecError> {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            visit(&mut <dyn erased_serde::Deserializer>::erase(&mut de))
                .map_err(|e| CodecError::Decode(e.to_string()))
        }
    }

    #[test]
    fn every_codec_round_trips() {
        for c in all() {
            let bytes = c.encode(&sample()).unwrap();
            let back: Product = c.decode(&bytes).unwrap();
            assert_eq!(back, sample(), "codec {}", c.name());
        }
    }

    #[test]
    fn ids_are_distinct() {
        let ids: std::collections::HashSet<u8> = all().iter().map(|c| c.id()).collect();
        assert_eq!(ids.len(), all().len());
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        for c in all() {
            for bytes in [&b""[..], b"\xff\xff\xff\xff", b"{\"id\":", &[0x9f; 32]] {
                assert!(c.decode::<Product>(bytes).is_err(), "codec {}", c.name());
            }
        }
    }

    #[cfg(feature = "bincode")]
    #[test]
    fn bincode_refuses_huge_length_prefix() {
        // A Vec<u64> claiming 2^60 elements in 10 bytes must fail fast, not allocate.
        let mut bytes = vec![0xFF];
        bytes.extend_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(Codec::Bincode.decode::<Vec<u64>>(&bytes).is_err());
    }
}
