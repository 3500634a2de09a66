//! Procedural macros of layercache: `#[cached]` and `#[invalidates]`.
//!
//! Use them through the `layercache` crate, which re-exports both; the code they generate calls
//! only `::layercache::__private`. The stages, one file each: `args` parses the attribute,
//! `template` parses key and tag templates, `signature` reads the function, `validate` checks
//! them against each other, `expand` writes the code. Every mistake is collected and reported in
//! one compile, each at the token it is about.
#![warn(missing_docs)]

use proc_macro::TokenStream;

mod args;
mod errors;
mod expand;
mod signature;
mod template;
mod validate;

#[cfg(test)]
mod snapshot_tests;

/// Caches a function (`async fn` or plain `fn`): the first call with some arguments runs the body and stores the value;
/// later calls with the same arguments return the stored value without running it.
///
/// ```rust,ignore
/// use layercache::cached;
///
/// #[cached(key = "product:<id>", ttl = "5m", l2, tags = ["catalog"])]
/// async fn get_product(id: u64) -> Result<Product, DbError> {
///     db::load_product(id).await
/// }
/// ```
///
/// # Arguments (all optional)
///
/// | argument | meaning | default |
/// |---|---|---|
/// | `key = "t"` | key template: `<name>` is a parameter, `<name.field>` a field of it, `<self.field>` a field of the receiver, `<<` a literal `<` | module path + fn name + every parameter |
/// | `ttl = "5m"` | how long a value is fresh (humantime syntax, checked at compile time; not zero) | the cache's default TTL |
/// | `l1_ttl = "30s"` | shorter freshness for the in-process copy (at most `ttl`) | `ttl` |
/// | `l2` | also store in the shared L2; the value must be `Serialize + DeserializeOwned` | L1 only |
/// | `stale = "1h"` | fail-safe: keep values this long past `ttl`, served when the loader fails or times out | none |
/// | `refresh = "4m"` | refresh-ahead: a hit older than this returns at once and reloads in the background (shorter than `ttl`) | none |
/// | `timeout = "2s"` | stop waiting on the loader when a stale value can be served (needs `stale`) | none |
/// | `tags = ["catalog", "category:<cat>"]` | tags for bulk invalidation; templates like `key` | none |
/// | `codec = "json" \| "bincode" \| "msgpack"` | L2 encoding (needs `l2`) | the cache's |
/// | `lock` | distributed single-flight across instances (needs `l2`) | in-process only |
/// | `cache_none = "30s"` | also cache `None` for this long (`Option<T>` or `Result<Option<T>, E>` only) | not cached |
/// | `jitter = "30s"` | a random extra of up to this on each entry's TTL | none |
/// | `condition = expr` | `bool` over the parameters; `false` runs the body without the cache | always cache |
/// | `unless = \|v\| expr` | over `&V`, the value to be stored; `true` returns it without storing it | store every value |
/// | `ttl_from = \|v\| expr` | over `&V`: the `Duration` this value stays fresh | `ttl` |
/// | `weigh = \|v\| expr` | over `&V`: the bytes this value owns on the heap (`usize`), for an L1 with a byte budget; a closure that captures nothing, or a `fn` | `V`'s `layercache::Weigh` impl when it has one, else the encoded size (with `l2`) or 0 |
/// | `cache = expr` | the cache: a `Cache`, `&Cache` or `Arc<Cache>` (e.g. `self.cache`) | `layercache::global()` |
///
/// Every duration argument also takes an expression of type `Duration` (`ttl = CONFIG.ttl`, a
/// `const`), evaluated on each miss; only literals are checked against each other.
///
/// # Return types
///
/// `T` is cached; `Option<T>` caches `Some`, and `None` only with `cache_none`; `Result<T, E>`
/// caches `Ok`, never `Err` (one-argument aliases such as `io::Result<T>` work too). `unless`
/// receives `&T` for `Result<T, E>` and the whole value otherwise. Values need
/// `Clone + Send + Sync + 'static`, and with `l2` also `Serialize + DeserializeOwned` (reported at
/// the return type). Callers that waited on a failed load get its error: a clone when `E: Clone`,
/// else `E::from(SharedError)` when `E: From<layercache::SharedError>`; with neither, they retry
/// one at a time.
///
/// # Keys
///
/// Each interpolated value implements `KeyPart`; rendering escapes values that contain separator
/// characters, so different arguments never share a key. Neighbouring placeholders must be
/// separated by literal text with a separator such as `:` or `/`, or the macro refuses the
/// template. The default key includes every parameter (not `self`; a method's default key starts
/// with `Self`'s type name instead of the module path).
///
/// # What is generated
///
/// Next to `get_product`, the macro writes `__layercache_key_get_product`, the key builder: same
/// parameters, each by reference, returning the cache and the key. `#[invalidates(get_product(id))]`
/// calls it, so reader and writer always agree on the key and on the cache. The body moves, unchanged,
/// into `__layercache_load_get_product`, which the loader, refresh-ahead and `condition = false`
/// call. The snapshots in `cache-macros/src/snapshots/` show the full expansion of typical uses.
///
/// Tags and the `refresh` reloader are closures that the runtime calls only when it stores a value
/// or a refresh is due, so an L1 hit renders no tag and copies no argument. They read the
/// parameters by reference while the load runs, which has two consequences:
/// - a value a tag reads through a reference (`&T`, `self`) must be `Sync`;
/// - the body takes the parameters passed by value, so tags reading one of those (other than an
///   integer, `bool` or `char`, which are copied) are rendered on every call, before the body runs.
///   Take the parameter as `&T` to render them only when needed. With `refresh`, the body gets a
///   clone of each argument taken by value instead (made on a miss), and tags wait as well.
///
/// # Methods, generics and limits
///
/// - Methods take `&self`. In a trait `impl`, and for associated functions without `self`, put
///   `#[cached_impl]` on the block: a lone `#[cached]` cannot see the `impl` around it, and rustc
///   then reports the generated helpers as missing or not members of the trait.
/// - A plain `fn` is cached in L1 with the same single-flight (other threads block while one
///   loads); `l2`, `lock`, `timeout` and `refresh` need an `async fn` and are refused.
/// - Parameters need plain names (`id: u64`, `mut n: u32`), not patterns.
/// - Lifetime and type parameters (and `impl Trait` arguments) are supported as long as the value
///   type does not depend on them: one key must always hold one type. A value type that mentions
///   a type or const parameter is a compile error.
/// - `refresh` builds a `'static` reloader when a refresh is due: every argument is copied
///   (`Clone`; `ToOwned` for `&str`, `&[T]`, `&Path`), and for a method `Self: Clone`; `&mut`
///   parameters and types that borrow (such as `Cow<'a, str>`) are refused with `refresh`.
#[proc_macro_attribute]
pub fn cached(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::cached(attr.into(), item.into()).into()
}

/// Invalidates cached entries after an `async fn` (a writer) completes; for `Result`, only on `Ok`.
///
/// ```rust,ignore
/// #[invalidates(get_product(id), key = "product-page:<p.slug>", tags = ["catalog"])]
/// async fn update_product(id: u64, p: Product) -> Result<(), DbError> { /* ... */ }
///
/// impl Catalog {
///     #[invalidates(self.get(id))]               // or Self::get(self, id)
///     async fn rename(&self, id: u64, name: String) -> Result<(), DbError> { /* ... */ }
/// }
/// ```
///
/// Takes any mix of:
/// - calls of `#[cached]` functions: `get_product(id)`, `crate::db::get_product(id)`,
///   `self.get(id)` or `Self::get(self, id)`. The arguments are expressions over the writer's
///   parameters, passed to the reader's key builder by reference; wrong arity or types are type
///   errors at the attribute. The entry is invalidated in the cache the reader uses (its `cache = …`).
/// - `key = "t"` or `key = ["t1", "t2"]`: key templates over the writer's parameters.
/// - `tags = ["catalog", "category:<p.cat>"]`: tag templates.
/// - `cache = expr`: the cache for `key` and `tags` (default `layercache::global()`).
/// - `before`: invalidate before the body runs as well as after (for a read-modify-write that
///   must not see its own old value).
///
/// Keys and tags are rendered before the body runs (the body may consume the parameters).
#[proc_macro_attribute]
pub fn invalidates(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::invalidates(attr.into(), item.into()).into()
}

/// Renders a key or tag exactly as `#[cached]` and `#[invalidates]` do: same template syntax, same
/// escaping, same compile-time checks. Returns a `String` for `Cache::invalidate`,
/// `invalidate_tag`, `peek` and `set` (which add the cache's namespace to keys).
///
/// ```rust,ignore
/// let tag = layercache::key!("category:<c>", c = name); // "category:Home%20%26%20Garden"
/// cache.invalidate_tag(&tag).await;
/// let key = layercache::key!("product:<id>"); // a placeholder without a value reads `id`
/// ```
#[proc_macro]
pub fn key(input: TokenStream) -> TokenStream {
    expand::key(input.into()).into()
}

/// Puts `#[cached]` and `#[invalidates]` to work in an `impl` block, inherent or
/// `impl Trait for Type`, with shared defaults: any `#[cached]` argument that makes sense for
/// every method (`cache`, `ttl`, `l1_ttl`, `l2`, `codec`, `stale`, `refresh`, `timeout`,
/// `cache_none`, `jitter`, `lock`, `tags`) applies to each `#[cached]` method inside, and `cache`
/// also to the `key = ...` and `tags = ...` of each `#[invalidates]` method. A method's own
/// arguments win.
///
/// ```rust,ignore
/// #[cached_impl(cache = self.cache, ttl = "5m", l2)]
/// impl ProductRepo for PgRepo {
///     #[cached(key = "product:<id>")]
///     async fn get(&self, id: u64) -> Result<Product, DbError> { /* ... */ }
///     #[invalidates(self.get(id))]
///     async fn update(&self, id: u64, p: Product) -> Result<(), DbError> { /* ... */ }
/// }
/// ```
///
/// In a trait impl, the helpers that `#[cached]` generates (key builder, body) go to an inherent
/// `impl` of the same type, since a trait impl accepts only the trait's items; that is why a
/// `#[cached]` method of a trait impl needs `#[cached_impl]` on the block. Associated functions
/// without `self` work here too. `key`, `condition`, `unless`, `ttl_from` and `weigh` are per method and
/// refused as defaults.
#[proc_macro_attribute]
pub fn cached_impl(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::cached_impl(attr.into(), item.into()).into()
}
