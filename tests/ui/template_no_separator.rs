use layercache::cached;

#[cached(key = "pair:<a><b>")]
async fn pair(a: String, b: String) -> String {
    a + &b
}

#[cached(key = "pair:<a>-<b>")]
async fn pair_dash(a: String, b: String) -> String {
    a + &b
}

fn main() {}
