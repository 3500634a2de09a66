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
    /// The user may not run a command the layer needs, or not on this namespace's keys or
    /// channel (see the ACL in cache-redis's README). Checked at connect by running each kind of
    /// command once on probe keys.
    #[error("the Redis user at `{url}` may not {what}: {reason}")]
    Permission {
        /// The URL, password redacted.
        url: String,
        /// The command, and the key pattern or channel it was refused on, if any.
        what: String,
        /// The server's answer.
        reason: String,
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
    if e.code() == Some("NOPERM") {
        // The only command sent while connecting.
        return RedisL2Error::Permission {
            url,
            what: "run `PING`".into(),
            reason: e.to_string(),
        };
    }
    if is_auth_error(&e) {
        RedisL2Error::Auth {
            url,
            reason: e.to_string(),
        }
    } else {
        RedisL2Error::Connect { url, source: e }
    }
}

/// A Redis error as the cache sees it: [`L2Error::Refused`] when the server answered and refused
/// only this operation, [`L2Error::Backend`] when the server or the link is unwell. The message
/// carries no value (Redis never echoes one).
pub(crate) fn classify(e: RedisError) -> L2Error {
    if refuses_only_this_operation(&e) {
        L2Error::Refused(e.to_string())
    } else {
        L2Error::Backend(e.to_string())
    }
}

/// A reply that could not be read as what the operation expects (a record someone else wrote):
/// the server is fine, this key is not.
pub(crate) fn unreadable_reply(e: impl std::fmt::Display) -> L2Error {
    L2Error::Refused(format!("unexpected reply: {e}"))
}

/// Whether the server answered `e` for this one command while staying healthy: the key holds the
/// wrong type or a value that does not parse (`WRONGTYPE`, `ERR value is not an integer`, a
/// script error), the user may not run it on this key (`NOPERM`), or a write does not fit
/// (`OOM`). Everything else (I/O, timeouts, a server that is loading, read-only, busy or in a
/// failing cluster) says the server or the link is unwell, which is what the breaker is for.
fn refuses_only_this_operation(e: &RedisError) -> bool {
    use redis::ServerErrorKind as S;
    match e.kind() {
        ErrorKind::Server(S::ResponseError | S::ExecAbort | S::NoPerm | S::CrossSlot) => {
            !is_server_wide_response(e)
        }
        // Loading, read-only, cluster down, redirections, busy scripts: the server's state.
        ErrorKind::Server(_) => false,
        // A code redis-rs does not know by name: the per-key ones are refusals.
        ErrorKind::Extension => {
            matches!(e.code(), Some("WRONGTYPE" | "OOM" | "NOPERM" | "EXECABORT"))
        }
        _ => false,
    }
}

/// `ERR …` replies that are about the server, not the command.
fn is_server_wide_response(e: &RedisError) -> bool {
    e.detail()
        .is_some_and(|detail| detail.starts_with("max number of clients"))
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
