//! Type parameters, `impl Trait` arguments and lifetimes are fine when the value does not depend on them.
use layercache::cached;

pub trait Repo: Sync {
    fn name(&self) -> String;
}

#[cached(key = "by-repo:<id>")]
pub async fn by_repo<R: Repo>(repo: &R, id: u32) -> String {
    format!("{}:{id}", repo.name())
}

#[cached(key = "by-impl:<id>")]
pub async fn by_impl(repo: &impl Repo, id: u32) -> String {
    format!("{}:{id}", repo.name())
}

#[cached]
pub async fn with_lifetime<'a>(name: &'a str, mut count: u32) -> String
where
    'a: 'a,
{
    count += 1;
    format!("{name}{count}")
}

#[cached(key = "const:<n>")]
pub async fn sized<const N: usize>(n: u32) -> u32 {
    n + N as u32
}

fn main() {}
