use layercache::cached;

#[cached(key = "n:<self.tenant>:<n>")]
async fn get(n: u32) -> u32 {
    n
}

fn main() {}
