//! [`SharedError`]: the leader's error, as the callers that waited on it receive it.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// The error of a load that other callers of the same key waited on.
///
/// When a load fails, only its leader owns the error value; callers that waited on it get a
/// `SharedError` carrying the error's message and its `source()` chain (as messages), wrapped in
/// their own error type through `From<SharedError>`. One `#[from]` variant makes an error type
/// eligible, and then concurrent callers of a failing key share one loader call:
///
/// ```
/// #[derive(Debug, thiserror::Error)]
/// enum DbError {
///     #[error("row {0} not found")]
///     NotFound(u64),
///     #[error(transparent)]
///     Shared(#[from] cache_core::SharedError),
/// }
/// let leader = DbError::NotFound(7);
/// let waiter = DbError::from(cache_core::SharedError::new(&leader));
/// assert_eq!(waiter.to_string(), "row 7 not found");
/// ```
#[derive(Clone)]
pub struct SharedError {
    message: Arc<str>,
    source: Option<Arc<SharedError>>,
}

impl SharedError {
    /// Captures `error`'s message and the messages of its `source()` chain.
    pub fn new(error: &(dyn Error + 'static)) -> Self {
        SharedError {
            message: error.to_string().into(),
            source: error.source().map(|s| Arc::new(SharedError::new(s))),
        }
    }

    /// The leader's error message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SharedError");
        d.field("message", &self.message);
        if let Some(s) = &self.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl Error for SharedError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn Error + 'static))
    }
}

/// Shares `error` with a waiter as `E::from(SharedError)`: the `share_errors` function of a
/// `LoadPlan` whose error type is not `Clone`.
pub fn share_through_from<E>(error: &E) -> E
where
    E: Error + From<SharedError> + 'static,
{
    E::from(SharedError::new(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Io;
    impl fmt::Display for Io {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connection reset")
        }
    }
    impl Error for Io {}

    #[derive(Debug)]
    struct Query(Io);
    impl fmt::Display for Query {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("query failed")
        }
    }
    impl Error for Query {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn keeps_the_message_and_the_source_chain() {
        let shared = SharedError::new(&Query(Io));
        assert_eq!(shared.to_string(), "query failed");
        let source = shared.source().map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("connection reset"));
        assert!(shared.source().and_then(Error::source).is_none());
        assert!(format!("{shared:?}").contains("connection reset"));
    }
}
