use layercache::cached;

#[cached(unless = |v, w| v == w)]
async fn get(n: u32) -> u32 {
    n
}

fn main() {}
