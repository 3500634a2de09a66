use layercache::cached;
use std::borrow::Cow;

#[cached(key = "n:<n>", refresh = "1m", ttl = "5m")]
async fn bump(n: &mut u32, label: Cow<'_, str>) -> u32 {
    let _ = label;
    *n
}

fn main() {}
