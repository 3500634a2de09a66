//! Errors of building a [`RedisL2`](crate::RedisL2), and the mapping of Redis errors to
//! [`L2Error`].

use cache_core::L2Error;
use redis::{ErrorKind, RedisError};

/// Why a [`RedisL2`](crate::RedisL2) could not be built.
///
/// URLs in these messages have their password replaced by `***`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisL2Error {
    /// The URL could not be parsed, or names an unsupported scheme.
    #[error("invalid Redis URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `rediss://` URL was given but the crate was built without its `tls` feature.
    #[error("`{url}` needs TLS: enable the `tls` feature of cache-redis")]
    TlsNotEnabled {
        /// The URL, password redacted.
        url: String,
    },
    /// The server refused the credentials (wrong user or password, or none given).
    #[error("Redis at `{url}` refused the credentials: {reason}")]
    Auth {
        /// The URL, password redacted.
        url: String,
        /// The server's answer.
        reason: String,
    },
    /// The server could not be reached or did not answer in time.
    #[error("could not connect to Redis at `{url}`: {source}")]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// The underlying error.
        #[source]
        source: RedisError,
    },
    /// The layer's background runtime thread could not be started.
    #[error("could not start the RedisL2 runtime thread: {0}")]
    Runtime(#[source] std::io::Error),
    /// A builder setting is out of range.
    #[error("invalid RedisL2 configuration: {0}")]
    Config(String),
}

/// Replaces the password of a `redis://user:password@host` URL by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let after = &url[scheme_end + 3..];
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = &after[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    let user = &userinfo[..colon];
    format!("{}{}:***{}", &url[..scheme_end + 3], user, &after[at..])
}

/// Whether `e` says the credentials were refused.
pub(crate) fn is_auth_error(e: &RedisError) -> bool {
    if e.kind() == ErrorKind::AuthenticationFailed {
        return true;
    }
    matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
}

/// Classifies a failure at connect time.
pub(crate) fn connect_error(url: &str, e: RedisError) -> RedisL2Error {
    let url = redact_url(url);
    if is_auth_error(&e) {
        RedisL2Error::Auth {
            url,
            reason: e.to_string(),
        }
    } else {
        RedisL2Error::Connect { url, source: e }
    }
}

/// A Redis error as the cache sees it. The message carries no value (Redis never echoes one).
pub(crate) fn backend(e: RedisError) -> L2Error {
    L2Error::Backend(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_only_the_password() {
        assert_eq!(
            redact_url("redis://app:s3cret@127.0.0.1:6380/0"),
            "redis://app:***@127.0.0.1:6380/0"
        );
        assert_eq!(redact_url("rediss://:pw@host:1"), "rediss://:***@host:1");
        assert_eq!(redact_url("redis://host:1/?a=b"), "redis://host:1/?a=b");
        assert_eq!(redact_url("redis://app@host:1"), "redis://app@host:1");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
