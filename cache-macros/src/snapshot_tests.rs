//! What the macros write for you: the expansion of typical uses, as readable Rust.
//!
//! Each test expands one attribute on one function and compares the pretty-printed result with
//! the snapshot in `src/snapshots/`. Review changes with `cargo insta review`.

use proc_macro2::TokenStream;
use quote::quote;

use crate::expand;

/// Pretty-prints generated items; methods are shown inside their `impl` block.
fn pretty(tokens: TokenStream, in_impl: bool) -> String {
    let tokens = if in_impl {
        quote!(impl Catalog { #tokens })
    } else {
        tokens
    };
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(e) => panic!("expansion is not valid Rust ({e}):\n{tokens}"),
    }
}

fn cached(attr: TokenStream, item: TokenStream) -> String {
    let in_impl = item.to_string().contains("self");
    pretty(expand::cached(attr, item), in_impl)
}

fn invalidates(attr: TokenStream, item: TokenStream) -> String {
    let in_impl = item.to_string().contains("self");
    pretty(expand::invalidates(attr, item), in_impl)
}

#[test]
fn plain_value_with_default_key() {
    insta::assert_snapshot!(cached(
        quote!(ttl = "30s"),
        quote! {
            /// Counts the words of a document.
            pub async fn word_count(doc_id: u64, lang: &str) -> usize {
                count(doc_id, lang).await
            }
        },
    ));
}

#[test]
fn result_with_l2_and_tags() {
    insta::assert_snapshot!(cached(
        quote!(
            key = "product:<id>",
            ttl = "5m",
            l2,
            tags = ["catalog", "category:<cat.slug>"],
            codec = "msgpack"
        ),
        quote! {
            pub async fn get_product(id: u64, cat: &Category) -> Result<Product, DbError> {
                let row = db::load(id).await?;
                Ok(Product::from(row))
            }
        },
    ));
}

#[test]
fn tags_reading_an_argument_taken_by_value_are_rendered_up_front() {
    insta::assert_snapshot!(cached(
        quote!(key = "doc:<id>", tags = ["owner:<owner>", "doc:<id>"]),
        quote! {
            async fn doc(id: u64, owner: String) -> String {
                format!("{owner}/{id}")
            }
        },
    ));
}

#[test]
fn option_with_cache_none() {
    insta::assert_snapshot!(cached(
        quote!(
            key = "user:<email>",
            ttl = "10m",
            cache_none = "30s",
            jitter = "1m"
        ),
        quote! {
            async fn find_user(email: &str) -> Option<User> {
                db::find_user(email).await
            }
        },
    ));
}

#[test]
fn result_with_stale_refresh_timeout_and_lock() {
    insta::assert_snapshot!(cached(
        quote!(
            key = "rates:<currency>",
            ttl = "5m",
            l1_ttl = "30s",
            l2,
            stale = "1h",
            refresh = "4m",
            timeout = "2s",
            lock
        ),
        quote! {
            pub async fn exchange_rates(currency: String) -> Result<Rates, ApiError> {
                api::fetch_rates(&currency).await
            }
        },
    ));
}

#[test]
fn method_with_cache_from_self() {
    insta::assert_snapshot!(cached(
        quote!(
            key = "stock:<self.warehouse>:<sku>",
            ttl = "1m",
            cache = self.cache,
            condition = sku.len() < 64,
            unless = |n| *n == 0
        ),
        quote! {
            pub async fn stock(&self, sku: &str) -> Result<u32, DbError> {
                self.db.stock(self.warehouse, sku).await
            }
        },
    ));
}

#[test]
fn method_with_refresh_clones_self_and_arguments() {
    insta::assert_snapshot!(cached(
        quote!(key = "report:<day>:<region>", ttl = "1h", refresh = "50m"),
        quote! {
            async fn daily_report(&self, day: u32, region: &str) -> Report {
                self.build_report(day, region).await
            }
        },
    ));
}

#[test]
fn invalidates_function_reference_key_and_tag() {
    insta::assert_snapshot!(invalidates(
        quote!(
            get_product(id),
            key = "product-page:<p.slug>",
            tags = ["catalog"]
        ),
        quote! {
            pub async fn update_product(id: u64, p: Product) -> Result<(), DbError> {
                db::save(id, p).await?;
                Ok(())
            }
        },
    ));
}

#[test]
fn invalidates_method_before_and_after() {
    insta::assert_snapshot!(invalidates(
        quote!(self.stock(sku), before),
        quote! {
            async fn restock(&self, sku: String, n: u32) -> u32 {
                self.db.add_stock(&sku, n).await
            }
        },
    ));
}

#[test]
fn ttl_from_and_durations_from_code() {
    insta::assert_snapshot!(cached(
        quote!(
            key = "token:<user>",
            ttl = CONFIG.token_ttl,
            stale = "1h",
            ttl_from = |t| t.expires_in
        ),
        quote! {
            async fn token(user: &str) -> Result<Token, AuthError> {
                auth::issue(user).await
            }
        },
    ));
}

#[test]
fn weigh_names_the_heap_bytes_of_each_value() {
    insta::assert_snapshot!(cached(
        quote!(key = "image:<id>", weigh = |img| img.pixels.capacity()),
        quote! {
            async fn thumbnail(id: u64) -> Result<Image, IoError> {
                render(id).await
            }
        },
    ));
}

#[test]
fn cached_impl_on_a_trait_impl_moves_the_helpers_to_an_inherent_impl() {
    let tokens = expand::cached_impl(
        quote!(cache = self.cache, ttl = "5m", l2),
        quote! {
            impl ProductRepo for PgRepo {
                #[cached(key = "product:<id>")]
                async fn get(&self, id: u64) -> Result<Product, DbError> {
                    self.db.load(id).await
                }

                #[invalidates(self.get(id))]
                async fn update(&self, id: u64, p: Product) -> Result<(), DbError> {
                    self.db.save(id, p).await
                }

                fn name(&self) -> &str {
                    "pg"
                }
            }
        },
    );
    insta::assert_snapshot!(pretty(tokens, false));
}

#[test]
fn cached_impl_on_an_inherent_impl_calls_helpers_of_associated_fns_through_self() {
    let tokens = expand::cached_impl(
        quote!(ttl = "1m"),
        quote! {
            impl Catalog {
                #[cached(key = "category:<id>")]
                pub async fn category(id: u64) -> Category {
                    db::category(id).await
                }
            }
        },
    );
    insta::assert_snapshot!(pretty(tokens, false));
}

#[test]
fn plain_fn_blocks_on_the_shared_single_flight() {
    insta::assert_snapshot!(cached(
        quote!(key = "config:<name>", ttl = "1m", tags = ["config"]),
        quote! {
            pub fn config(name: &str) -> Result<Config, ConfigError> {
                Config::read(name)
            }
        },
    ));
}

#[test]
fn invalidates_on_a_plain_fn_runs_the_body_in_a_closure() {
    insta::assert_snapshot!(invalidates(
        quote!(config(name), tags = ["config"]),
        quote! {
            pub fn write_config(name: &str, value: Config) -> Result<(), ConfigError> {
                value.write(name)?;
                Ok(())
            }
        },
    ));
}
